import { ConfigError } from '@meshguard/core';
import type { WebhookSigner } from './webhook-channels';

/** How deliveries are retried; every field has a default (see {@link DEFAULT_RETRY}). */
export interface RetryPolicy {
  /** The wait after the first failed attempt; it doubles after each one. Default 1 s. */
  initialDelayMs?: number;
  /** The longest wait between two attempts. Default 5 min. */
  maxDelayMs?: number;
  /** Past this age a message that still fails goes to the dead folder. Default 24 h. */
  maxAgeMs?: number;
  /** After this many failed attempts a message goes to the dead folder. Default: no limit but the age. */
  maxAttempts?: number;
  /** How much of each wait is random, 0 to 1 (0.5: between half the wait and all of it). Default 0.5. */
  jitter?: number;
  /** How long one attempt may take, connection to answer. Default 10 s. */
  timeoutMs?: number;
}

export const DEFAULT_RETRY: Required<Omit<RetryPolicy, 'maxAttempts'>> & { maxAttempts: number } = {
  initialDelayMs: 1000,
  maxDelayMs: 5 * 60_000,
  maxAgeMs: 24 * 60 * 60_000,
  maxAttempts: Number.POSITIVE_INFINITY,
  jitter: 0.5,
  timeoutMs: 10_000,
};

/** The policy with its defaults filled in; a `ConfigError` for a negative or non-numeric setting. */
export function resolveRetryPolicy(policy: RetryPolicy = {}): typeof DEFAULT_RETRY {
  const out = { ...DEFAULT_RETRY };
  for (const key of Object.keys(DEFAULT_RETRY) as Array<keyof RetryPolicy>) {
    const value = policy[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
      throw new ConfigError(`notification retry.${key} must be a number of at least 0`);
    }
    out[key] = value;
  }
  if (out.jitter > 1) throw new ConfigError('notification retry.jitter must be between 0 and 1');
  if (out.timeoutMs < 1 || !Number.isFinite(out.timeoutMs)) {
    throw new ConfigError('notification retry.timeoutMs must be a finite number of milliseconds');
  }
  if (out.maxAttempts < 1) throw new ConfigError('notification retry.maxAttempts must be at least 1');
  return out;
}

/** What became of one attempt. `error` is our own words, never a URL, a header or a body. */
export type AttemptResult =
  | { outcome: 'delivered'; status: number }
  | { outcome: 'retry'; status?: number; error: string; retryAfterMs?: number }
  | { outcome: 'dead'; status: number; error: string }
  /** The notifier closed mid-attempt: the message goes back as it was. */
  | { outcome: 'aborted'; error: string };

export interface WebhookAttempt {
  url: string;
  /** The message id: `webhook-id`, the same on every attempt, which receivers de-duplicate on. */
  id: string;
  body: string;
  /** Signs a `standard` channel's attempt; absent for `slack` (unsigned). */
  sign?: WebhookSigner | undefined;
  /** This attempt's time: `webhook-timestamp` (each attempt has its own). */
  at: Date;
  timeoutMs: number;
  fetch: typeof globalThis.fetch;
  /** Aborted when the notifier closes. */
  signal?: AbortSignal | undefined;
}

/**
 * POSTs one message once: signed per the Standard Webhooks spec when the channel has a signer
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`).
 * 2xx is delivered; 408, 429, 5xx, a timeout or a network error is retried; 410, any other 4xx
 * or a redirect (never followed) is dead.
 */
export async function sendWebhook(attempt: WebhookAttempt): Promise<AttemptResult> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'MeshGuard-Webhooks/1',
  };
  if (attempt.sign) {
    headers['webhook-id'] = attempt.id;
    headers['webhook-timestamp'] = String(Math.floor(attempt.at.getTime() / 1000));
    headers['webhook-signature'] = attempt.sign(attempt.id, attempt.at, attempt.body);
  }
  const timeout = AbortSignal.timeout(attempt.timeoutMs);
  const signal = attempt.signal ? AbortSignal.any([attempt.signal, timeout]) : timeout;
  let response: Response;
  try {
    response = await attempt.fetch(attempt.url, {
      method: 'POST',
      headers,
      body: attempt.body,
      redirect: 'manual',
      signal,
    });
  } catch (error) {
    if (attempt.signal?.aborted) return { outcome: 'aborted', error: 'the notifier closed' };
    if (timeout.aborted) return { outcome: 'retry', error: `no answer within ${attempt.timeoutMs} ms` };
    return { outcome: 'retry', error: networkError(error) };
  }
  // The answer's body is not read (nor kept: it is the receiver's), only let go of.
  await response.body?.cancel().catch(() => {});
  return classify(response);
}

function classify(response: Response): AttemptResult {
  const status = response.status;
  if (status >= 200 && status < 300) return { outcome: 'delivered', status };
  if (status >= 300 && status < 400) {
    return { outcome: 'dead', status, error: `redirected (HTTP ${status}); redirects are not followed` };
  }
  if (status === 408 || status === 429 || status >= 500 || status < 200) {
    const wait = retryAfter(response.headers.get('retry-after'));
    return {
      outcome: 'retry',
      status,
      error: `HTTP ${status}`,
      ...(wait === undefined ? {} : { retryAfterMs: wait }),
    };
  }
  return {
    outcome: 'dead',
    status,
    error: status === 410 ? 'HTTP 410: the receiver is gone' : `HTTP ${status}`,
  };
}

function networkError(error: unknown): string {
  // Only the error code: undici's messages and causes can name the URL, which may hold a token.
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  const code =
    typeof cause?.code === 'string' && /^[A-Z0-9_]{1,40}$/.test(cause.code) ? cause.code : undefined;
  return code ? `network error (${code})` : 'network error';
}

/** `Retry-After` in milliseconds: seconds or an HTTP date; undefined when absent or unreadable. */
function retryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  if (/^\d{1,10}$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/**
 * The wait before the next attempt after `failures` failed ones: `initialDelayMs` doubling up to
 * `maxDelayMs`, the last `jitter` share of it random (so receivers that come back are not hit by
 * every sender at once); a receiver's `Retry-After` is honoured up to `maxDelayMs`.
 */
export function retryDelay(
  failures: number,
  policy: typeof DEFAULT_RETRY,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 40);
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** exponent);
  const jittered = base * (1 - policy.jitter * random());
  const wait = retryAfterMs === undefined ? jittered : Math.max(jittered, retryAfterMs);
  return Math.round(Math.min(wait, policy.maxDelayMs));
}
