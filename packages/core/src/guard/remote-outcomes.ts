import createDebug from 'debug';
import type { GatewayClient } from '../client/gateway-client';
import { MeshGuardError } from '../errors/meshguard-error';
import type { Spool, SpooledEvent } from './remote-spool';

const debug = createDebug('meshguard:remote');

interface QueuedEvent {
  event: SpooledEvent;
  acknowledged: () => void;
  failed: (error: unknown) => void;
}

export interface OutcomeSender {
  /** Queues an event; resolves once it is at the gateway or in the spool. */
  enqueue(event: SpooledEvent, waited: boolean): Promise<void>;
  /** Sends the spool, then the queue, now. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Delivers outcome events. An event counts as delivered only when a 2xx answer names its id in
 * `recorded`; one the answer names in `rejected` (it breaks the schema, or is not this agent's to
 * record) is set aside beside the spool; anything else (another status, 401 and 403 included, a
 * timeout, an answer that names neither or breaks its schema) leaves it for later, in the spool.
 */
export function createOutcomeSender(options: {
  /** The agent's client (its token is the agent's own: outcomes are never sent delegated). */
  client: GatewayClient;
  spool: Spool;
  flushMs: number;
}): OutcomeSender {
  const { client, spool } = options;
  const queue: QueuedEvent[] = [];
  let sending: Promise<void> | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let waiting = 0;

  const send = async (
    events: SpooledEvent[],
  ): Promise<{ rejected: SpooledEvent[]; left: SpooledEvent[] }> => {
    let answer: Awaited<ReturnType<GatewayClient['recordOutcomes']>>;
    try {
      answer = await client.recordOutcomes({ events });
    } catch (error) {
      const why = MeshGuardError.isInstance(error) ? error.message : (error as Error).name;
      debug('could not deliver %d outcome events (%s): kept for later', events.length, why);
      return { rejected: [], left: events };
    }
    const recorded = new Set(answer.recorded);
    const refused = new Set(answer.rejected.map((r) => r.id));
    const rejected: SpooledEvent[] = [];
    const left: SpooledEvent[] = [];
    for (const event of events) {
      if (recorded.has(event.id)) continue;
      if (refused.has(event.id)) rejected.push(event);
      else left.push(event);
    }
    if (rejected.length > 0) debug('the gateway rejected %d outcome events: set aside', rejected.length);
    return { rejected, left };
  };

  /** Sends events oldest first; returns those not delivered (the gateway is away, or did not say). */
  const deliver = async (events: SpooledEvent[]): Promise<SpooledEvent[]> => {
    const parts = batches(events);
    for (let i = 0; i < parts.length; i++) {
      const { rejected, left } = await send(parts[i]!);
      await spool.reject(rejected);
      if (left.length > 0) return [...left, ...parts.slice(i + 1).flat()];
    }
    return [];
  };

  const replay = async (): Promise<boolean> => {
    const claimed = await spool.claim();
    if (!claimed) return true;
    const left = await deliver(claimed.events);
    await spool.append(left); // still away: back in the spool
    await claimed.done();
    return left.length === 0;
  };

  const drain = async () => {
    // The spool first (also when nothing is queued), then the queue, in order.
    let away = !(await replay());
    while (queue.length > 0) {
      const batch = queue.splice(0, 500);
      const events = batch.map((q) => q.event);
      try {
        const left = away ? events : await deliver(events);
        if (left.length > 0) {
          away = true;
          await spool.append(left);
        }
        for (const q of batch) q.acknowledged();
      } catch (error) {
        // Neither at the gateway nor on disk (the spool cannot be written): say so to each caller.
        for (const q of batch) q.failed(error);
      }
    }
  };

  const flush = (): Promise<void> => {
    sending ??= drain()
      .catch((error: unknown) => debug('outcome delivery failed: %O', error))
      .finally(() => {
        sending = undefined;
      });
    return sending;
  };

  const schedule = () => {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      void flush().then(() => {
        if (queue.length > 0) schedule();
      });
    }, options.flushMs);
    // Keep the process alive while a record() is waiting; internal events alone do not.
    if (waiting === 0) timer.unref();
  };

  return {
    enqueue(event, waited) {
      return new Promise<void>((resolve, reject) => {
        if (waited) waiting++;
        const settle = () => {
          if (waited) waiting--;
        };
        queue.push({
          event,
          acknowledged: () => {
            settle();
            resolve();
          },
          failed: (error) => {
            settle();
            reject(
              new MeshGuardError(
                `the outcome could be neither sent to the gateway nor spooled to ${spool.dir} (${(error as Error).message})`,
                { code: 'spool_failed', cause: error },
              ),
            );
          },
        });
        if (timer && waited && waiting === 1) timer.ref();
        schedule();
      });
    },
    flush,
    async close() {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      await flush();
    },
  };
}

/** Batches of at most 500 events and about 256 KB, well under the gateway's 1 MiB body limit. */
function batches(events: SpooledEvent[]): SpooledEvent[][] {
  const out: SpooledEvent[][] = [];
  let current: SpooledEvent[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = JSON.stringify(event).length;
    if (current.length > 0 && (current.length >= 500 || bytes + size > 256 * 1024)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(event);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}
