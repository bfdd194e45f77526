import type { GatewayUrl } from './remote-url';

/** The largest answer the remote guard reads by default (1 MiB): a decision is a few hundred bytes. */
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

/** Why a call to the gateway got no usable answer. */
export type CallFailure =
  | { kind: 'timeout'; message: string }
  | { kind: 'unreachable'; message: string }
  | { kind: 'too_large'; message: string };

/** A call that got no usable answer; `failure.message` is safe to show (credentials hidden). */
export class GatewayCallError extends Error {
  constructor(readonly failure: CallFailure) {
    super(failure.message);
    this.name = 'GatewayCallError';
  }
}

/** An answer read whole, within the size cap and the time limit. */
interface GatewayAnswer {
  status: number;
  ok: boolean;
  text: string;
}

export interface GatewayHttp {
  /**
   * Sends a request and reads its whole answer, all within `timeoutMs` (headers and body alike)
   * and at most `maxBytes` of body (default: the client's cap). Throws a {@link GatewayCallError}.
   */
  call(
    path: string,
    init: { method: string; body?: string; token: string; params?: URLSearchParams; maxBytes?: number },
  ): Promise<GatewayAnswer>;
}

export function createGatewayHttp(options: {
  url: GatewayUrl;
  fetch: typeof fetch;
  timeoutMs: number;
  maxResponseBytes: number;
}): GatewayHttp {
  const { url, timeoutMs } = options;
  const timedOut = (): CallFailure => ({
    kind: 'timeout',
    message: `at ${url.shown} did not answer within ${timeoutMs} ms`,
  });

  return {
    async call(path, init) {
      const maxBytes = init.maxBytes ?? options.maxResponseBytes;
      const controller = new AbortController();
      // One clock for the whole exchange: connecting, the headers and every byte of the body.
      let expired = false;
      let onExpiry: (() => void) | undefined;
      const timer = setTimeout(() => {
        expired = true;
        controller.abort();
        onExpiry?.();
      }, timeoutMs);
      try {
        let res: Response;
        try {
          const headers: Record<string, string> = { authorization: `Bearer ${init.token}` };
          if (init.body !== undefined) headers['content-type'] = 'application/json';
          res = await options.fetch(url.route(path, init.params), {
            method: init.method,
            headers,
            ...(init.body !== undefined ? { body: init.body } : {}),
            // Never follow a redirect: fetch would resend the body (an unredacted context) to
            // wherever it points and hand back that server's answer as the gateway's; a 3xx is
            // an answer that is not a decision (denied, and outcomes stay spooled).
            redirect: 'manual',
            signal: controller.signal,
          });
        } catch (error) {
          if (expired) throw new GatewayCallError(timedOut());
          const cause = (error as { cause?: { code?: string } }).cause?.code;
          // The cause's message may quote the URL: only its code is shown.
          throw new GatewayCallError({
            kind: 'unreachable',
            message: `at ${url.shown} was unreachable (${cause ?? (error as Error).name ?? 'fetch failed'})`,
          });
        }
        const declared = Number(res.headers.get('content-length'));
        if (Number.isFinite(declared) && declared > maxBytes) {
          controller.abort();
          throw new GatewayCallError(tooLarge(url, maxBytes));
        }
        const text = await readCapped(res, maxBytes, (stop) => {
          onExpiry = stop;
          return expired;
        }).catch((error: unknown) => {
          if (error instanceof GatewayCallError) throw error;
          if (expired) throw new GatewayCallError(timedOut());
          if (error === TOO_LARGE) {
            controller.abort();
            throw new GatewayCallError(tooLarge(url, maxBytes));
          }
          throw new GatewayCallError({
            kind: 'unreachable',
            message: `at ${url.shown} broke off its answer (${(error as Error).name})`,
          });
        });
        return { status: res.status, ok: res.ok, text };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

const TOO_LARGE = Symbol('too large');

function tooLarge(url: GatewayUrl, maxBytes: number): CallFailure {
  return { kind: 'too_large', message: `at ${url.shown} answered more than ${maxBytes} bytes` };
}

/**
 * Reads a body as UTF-8 up to `maxBytes`; rejects with TOO_LARGE past it, and as soon as the
 * deadline passes (`watch` registers what to do then), whatever the server is doing.
 */
async function readCapped(
  res: Response,
  maxBytes: number,
  watch: (stop: () => void) => boolean,
): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let stopped: ((error: unknown) => void) | undefined;
  const expiry = new Promise<never>((_, reject) => {
    stopped = reject;
  });
  expiry.catch(() => {}); // raced below; a deadline after the last read must not go unhandled
  if (watch(() => stopped?.(new Error('deadline')))) throw new Error('deadline');
  let size = 0;
  let text = '';
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), expiry]);
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) throw TOO_LARGE;
      text += decoder.decode(value, { stream: true });
    }
    return text + decoder.decode();
  } catch (error) {
    reader.cancel().catch(() => {});
    throw error;
  }
}
