import { randomBytes } from 'node:crypto';
import {
  type ApprovalRequest,
  type AuditEventBody,
  ConfigError,
  createRedactor,
  type Redactor,
  uuidv7,
} from '@meshguard/core';
import createDebug from 'debug';
import { type ClaimedMessage, createNotifySpool, newMessageId, type SpooledMessage } from './notify-spool';
import {
  type NotifyEvent,
  type ResolvedChannel,
  resolveChannels,
  type WebhookChannel,
} from './webhook-channels';
import {
  type AttemptResult,
  type RetryPolicy,
  resolveRetryPolicy,
  retryDelay,
  sendWebhook,
} from './webhook-delivery';
import { approvalRequestedBody, decisionDeniedBody, type PayloadOptions } from './webhook-payloads';

const debug = createDebug('meshguard:notify');

export interface ApprovalNotifierOptions {
  /** The webhooks; checked at once (a `ConfigError` names the channel at fault). */
  channels: readonly WebhookChannel[];
  /** Where messages wait until delivered (created 0700); one notifier or several may share it. */
  spoolDir: string;
  /** The console's base URL: payloads then link to `${consoleUrl}/approvals/${id}`. */
  consoleUrl?: string | undefined;
  /** The `fetch` to POST with; default the global one. */
  fetch?: typeof globalThis.fetch | undefined;
  /** Epoch milliseconds now: each attempt's `webhook-timestamp` and the retry schedule. Default `Date.now`. */
  clock?: (() => number) | undefined;
  retry?: RetryPolicy | undefined;
  /**
   * Redacts argument summaries. Default: core's redactor under a random salt (hashes that join
   * nothing); pass the trail's redactor for hashes that match the trail's.
   */
  redact?: Redactor | undefined;
  /** The longest argument summary, in characters; default 1000. */
  summaryMaxChars?: number | undefined;
  /** How many deliveries may be under way at once; default 4. */
  concurrency?: number | undefined;
  /**
   * How often the folder is looked at again for messages this notifier did not write (another
   * notifier's, one that died) and claims left by a crash; default 30 s.
   */
  scanIntervalMs?: number | undefined;
  /** After how long a claim is taken for abandoned; default the attempt timeout plus a minute. */
  staleClaimMs?: number | undefined;
  /** Told of every attempt's end (for logs and metrics); never given a URL or a secret. */
  onReport?: ((report: DeliveryReport) => void) | undefined;
}

/** What became of a message's attempt. */
export interface DeliveryReport {
  /** The `webhook-id`. */
  id: string;
  channel: string;
  event: NotifyEvent;
  /** The approval request's id, or the denied decision's event id. */
  subject: string;
  outcome: 'delivered' | 'retrying' | 'dead';
  /** Attempts made so far, this one included. */
  attempts: number;
  status?: number;
  error?: string;
  /** For `retrying`: when the next attempt is due (epoch ms). */
  nextAttemptAt?: number;
}

/** A message spooled for one channel. */
export interface QueuedNotification {
  /** The `webhook-id` it is sent under. */
  id: string;
  channel: string;
}

/**
 * Tells people of approval requests (and, for channels that ask, of denied calls) through
 * webhooks: Standard Webhooks (signed) or Slack. Each message is spooled durably first, then
 * delivered in the background with retries, across restarts.
 */
export interface ApprovalNotifier {
  readonly spoolDir: string;
  /** The channel names configured. */
  readonly channels: readonly string[];
  /**
   * Spools the request's notification for each channel it names (`approval.notify`), or for
   * every channel subscribed to `approval_requested` when it names none. Resolves once the
   * messages are on disk, not once delivered. Unknown channel names are logged and skipped.
   */
  approvalRequested(approval: ApprovalRequest): Promise<QueuedNotification[]>;
  /** Spools a denied decision's notification for every channel subscribed to `deny`. */
  denied(event: AuditEventBody): Promise<QueuedNotification[]>;
  /** Starts delivering: what the spool holds (from before a restart) and anything new. */
  start(): void;
  /**
   * Stops delivering; an attempt under way is cut short and its message put back as it was.
   * What is spooled later waits for the next notifier on the folder.
   */
  close(): Promise<void>;
}

/**
 * Creates the notifier. Messages are spooled whether or not it is started; `start()` delivers.
 *
 * @example
 * const notifier = createApprovalNotifier({
 *   channels: [{ name: 'ops', url: 'https://hooks.example.com/mg', format: 'standard', secret: process.env.OPS_WEBHOOK_SECRET }],
 *   spoolDir: '.meshguard/notify',
 *   consoleUrl: 'https://meshguard.example.com',
 * });
 * notifier.start();
 * await notifier.approvalRequested(approval); // spooled; delivered in the background
 */
export function createApprovalNotifier(options: ApprovalNotifierOptions): ApprovalNotifier {
  const channels = resolveChannels(options.channels);
  if (typeof options.spoolDir !== 'string' || options.spoolDir === '') {
    throw new ConfigError('the notification spool folder (spoolDir) is required');
  }
  const consoleUrl = checkConsoleUrl(options.consoleUrl);
  const policy = resolveRetryPolicy(options.retry);
  const clock = options.clock ?? Date.now;
  const doFetch = options.fetch ?? globalThis.fetch;
  const concurrency = positiveInteger(options.concurrency ?? 4, 'concurrency');
  const scanIntervalMs = positiveInteger(options.scanIntervalMs ?? 30_000, 'scanIntervalMs');
  const staleClaimMs = positiveInteger(options.staleClaimMs ?? policy.timeoutMs + 60_000, 'staleClaimMs');
  const payloads: PayloadOptions = {
    redact: options.redact ?? createRedactor({ salt: randomBytes(32).toString('hex') }),
    consoleUrl,
    summaryMaxChars: options.summaryMaxChars,
  };
  const spool = createNotifySpool(options.spoolDir);

  /** Every message this notifier knows of in the folder, and when it is next due. */
  const known = new Map<string, number>();
  const running = new Set<string>();
  const inFlight = new Set<Promise<void>>();
  const closer = new AbortController();
  let started = false;
  let closed = false;
  let dueTimer: NodeJS.Timeout | undefined;
  let scanTimer: NodeJS.Timeout | undefined;
  let scanning: Promise<void> | undefined;

  const report = (r: DeliveryReport) => {
    try {
      options.onReport?.(r);
    } catch (error) {
      debug('onReport threw: %s', (error as Error).message);
    }
  };

  const spoolFor = async (
    targets: ResolvedChannel[],
    event: NotifyEvent,
    subject: string,
    body: (channel: ResolvedChannel) => string,
  ): Promise<QueuedNotification[]> => {
    const now = clock();
    const messages: SpooledMessage[] = targets.map((channel) => ({
      v: 1,
      id: newMessageId(uuidv7()),
      channel: channel.name,
      format: channel.format,
      event,
      subject,
      body: body(channel),
      createdAt: now,
      attempts: 0,
      nextAttemptAt: now,
    }));
    await Promise.all(messages.map((message) => spool.write(message)));
    for (const message of messages) known.set(message.id, message.nextAttemptAt);
    debug('%s %s: spooled for %s', event, subject, targets.map((c) => c.name).join(', ') || 'no channel');
    pump();
    return messages.map((m) => ({ id: m.id, channel: m.channel }));
  };

  const settle = async (message: SpooledMessage, claimed: ClaimedMessage, result: AttemptResult) => {
    const attempts = message.attempts + 1;
    const base = pick(message);
    if (result.outcome === 'aborted') {
      await claimed.putBack();
      return;
    }
    if (result.outcome === 'delivered') {
      await claimed.done();
      known.delete(message.id);
      debug(
        '%s to %s: delivered (HTTP %d, attempt %d)',
        message.id,
        message.channel,
        result.status,
        attempts,
      );
      report({ ...base, outcome: 'delivered', attempts, status: result.status });
      return;
    }
    const updated: SpooledMessage = {
      ...message,
      attempts,
      lastError: result.error,
      ...(result.status === undefined ? {} : { lastStatus: result.status }),
    };
    const status = result.status === undefined ? {} : { status: result.status };
    const now = clock();
    const wait = result.outcome === 'retry' ? retryDelay(attempts, policy, result.retryAfterMs) : 0;
    const giveUp =
      result.outcome === 'dead'
        ? result.error
        : attempts >= policy.maxAttempts || now + wait - message.createdAt > policy.maxAgeMs
          ? `gave up after ${attempts} attempts; the last: ${result.error}`
          : undefined;
    if (giveUp !== undefined) {
      await claimed.bury(giveUp, updated);
      known.delete(message.id);
      debug('%s to %s: dead (%s)', message.id, message.channel, giveUp);
      report({ ...base, outcome: 'dead', attempts, error: giveUp, ...status });
      return;
    }
    updated.nextAttemptAt = now + wait;
    await claimed.putBack(updated);
    known.set(message.id, updated.nextAttemptAt);
    debug(
      '%s to %s: %s; attempt %d again in %d ms',
      message.id,
      message.channel,
      result.error,
      attempts + 1,
      wait,
    );
    report({
      ...base,
      outcome: 'retrying',
      attempts,
      error: result.error,
      nextAttemptAt: updated.nextAttemptAt,
      ...status,
    });
  };

  const deliver = async (id: string) => {
    const claimed = await spool.claim(id);
    if (!claimed) {
      known.delete(id); // delivered or being delivered by another notifier on the folder
      return;
    }
    const message = claimed.message;
    if (message.nextAttemptAt > clock()) {
      // Another notifier retried it since we last looked: not due yet.
      await claimed.putBack();
      known.set(id, message.nextAttemptAt);
      return;
    }
    const channel = channels.get(message.channel);
    if (!channel || channel.format !== message.format) {
      const reason = channel
        ? `channel "${message.channel}" is now format "${channel.format}", not "${message.format}"`
        : `channel "${message.channel}" is no longer configured`;
      await claimed.bury(reason);
      known.delete(id);
      debug('%s: dead (%s)', id, reason);
      report({ ...pick(message), outcome: 'dead', attempts: message.attempts, error: reason });
      return;
    }
    const result = await sendWebhook({
      url: channel.url,
      id: message.id,
      body: message.body,
      sign: channel.sign,
      at: new Date(clock()),
      timeoutMs: policy.timeoutMs,
      fetch: doFetch,
      signal: closer.signal,
    });
    await settle(message, claimed, result);
  };

  const run = (id: string) => {
    running.add(id);
    const task: Promise<void> = deliver(id)
      .catch((error: unknown) => {
        // A spool that cannot be read or written: try again later rather than spin.
        debug('%s: delivery step failed: %s', id, (error as Error).message);
        known.set(id, clock() + Math.max(policy.initialDelayMs, 1000));
      })
      .finally(() => {
        running.delete(id);
        inFlight.delete(task);
        pump();
      });
    inFlight.add(task);
  };

  function pump(): void {
    if (!started || closed) return;
    const now = clock();
    let next = Number.POSITIVE_INFINITY;
    const due = [...known].filter(([id]) => !running.has(id)).sort((a, b) => a[1] - b[1]);
    for (const [id, at] of due) {
      if (at > now) {
        next = at;
        break;
      }
      if (running.size >= concurrency) break;
      run(id);
    }
    if (dueTimer) clearTimeout(dueTimer);
    dueTimer = undefined;
    if (next !== Number.POSITIVE_INFINITY) {
      // The periodic scan wakes us in any case; a long wait needs no timer of its own.
      const wait = Math.min(Math.max(next - now, 0), scanIntervalMs);
      dueTimer = setTimeout(pump, wait);
      dueTimer.unref();
    }
  }

  const scan = (): Promise<void> => {
    if (closed) return Promise.resolve();
    scanning ??= (async () => {
      const back = await spool.recover(staleClaimMs);
      if (back > 0) debug('put back %d abandoned claim(s)', back);
      const ids = await spool.list();
      const present = new Set(ids);
      for (const id of known.keys()) if (!present.has(id) && !running.has(id)) known.delete(id);
      for (const id of ids) {
        if (known.has(id) || running.has(id)) continue;
        const at = await spool.dueAt(id);
        if (at !== undefined) known.set(id, at);
      }
    })()
      .catch((error: unknown) => debug('scanning %s failed: %s', spool.dir, (error as Error).message))
      .finally(() => {
        scanning = undefined;
        pump();
      });
    return scanning;
  };

  return {
    spoolDir: spool.dir,
    channels: [...channels.keys()],
    approvalRequested(approval) {
      const named = [...new Set(approval.notify)];
      let targets: ResolvedChannel[];
      if (named.length === 0) {
        targets = [...channels.values()].filter((c) => c.events.has('approval_requested'));
      } else {
        targets = [];
        for (const name of named) {
          const channel = channels.get(name);
          if (channel) targets.push(channel);
          else
            debug(
              'approval %s names the notification channel %j, which is not configured',
              approval.id,
              name,
            );
        }
      }
      return spoolFor(targets, 'approval_requested', approval.id, (c) =>
        approvalRequestedBody(approval, c.format, payloads),
      );
    },
    async denied(event) {
      if (event.type !== 'decision' || event.effect !== 'deny') {
        debug('event %s is not a denied decision (%s, %s): not notified', event.id, event.type, event.effect);
        return [];
      }
      const targets = [...channels.values()].filter((c) => c.events.has('deny'));
      if (targets.length === 0) return [];
      return spoolFor(targets, 'deny', event.id, (c) => decisionDeniedBody(event, c.format, payloads));
    },
    start() {
      if (started || closed) return;
      started = true;
      scanTimer = setInterval(() => void scan(), scanIntervalMs);
      scanTimer.unref();
      void scan();
    },
    async close() {
      if (closed) return;
      closed = true;
      if (dueTimer) clearTimeout(dueTimer);
      if (scanTimer) clearInterval(scanTimer);
      closer.abort();
      await scanning;
      await Promise.allSettled([...inFlight]);
    },
  };
}

function pick(message: SpooledMessage): Pick<DeliveryReport, 'id' | 'channel' | 'event' | 'subject'> {
  return { id: message.id, channel: message.channel, event: message.event, subject: message.subject };
}

function checkConsoleUrl(url: string | undefined): string | undefined {
  if (url === undefined || url === '') return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('the console URL (consoleUrl) is not a valid URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError('the console URL (consoleUrl) must be http or https');
  }
  return parsed.href;
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new ConfigError(`notifier ${name} must be a whole number of at least 1`);
  return value;
}
