import createDebug from 'debug';
import type { AuditStore } from '../audit/audit-store';
import { MeshGuardError } from '../errors/meshguard-error';
import type { AuditEventBody } from '../protocol/audit-event';

const debug = createDebug('meshguard:guard');

/** How many times a group of events is offered to the store before it is given up (and logged). */
const MAX_ATTEMPTS = 3;
/** Past this many queued events a caller waits for the next commit (the store is falling behind). */
const MAX_QUEUED_EVENTS = 10_000;

/** How many of the events given up a batcher keeps to hand back at close (all are counted). */
const KEPT_LOST_EVENTS = 10_000;

/**
 * What a batched guard's `close()` rejects with when events it queued were never stored (the
 * store refused them three times: a full disk, a database gone): how many, the events themselves
 * (the first 10,000) to record elsewhere, and the store's last error as the cause. The guard and
 * its store are closed all the same.
 *
 * @example
 * try { await guard.close(); }
 * catch (error) { if (error instanceof AuditNotRecordedError) fallbackLog(error.events); else throw error; }
 */
export class AuditNotRecordedError extends MeshGuardError {
  constructor(
    /** How many events were not stored. */
    readonly count: number,
    /** The events not stored (their contexts not yet redacted), at most the first 10,000. */
    readonly events: readonly AuditEventBody[],
    cause: Error | undefined,
  ) {
    super(
      `${count} audit event${count === 1 ? ' was' : 's were'} not recorded: the store refused ${count === 1 ? 'it' : 'them'}${cause ? ` (${cause.message})` : ''}`,
      { code: 'audit_not_recorded', cause },
    );
    this.name = 'AuditNotRecordedError';
  }
}

interface Queued {
  bodies: AuditEventBody[];
  attempts: number;
}

export interface AppendBatcher {
  /**
   * Queues one caller's events; they are committed with everything else queued within `batchMs`.
   * Resolves at once, or, when the queue is over its bound, once the queue has been committed.
   */
  add(bodies: AuditEventBody[]): Promise<void> | undefined;
  /** The last commit's failure, until a later commit succeeds: while set, checks are denied. */
  readonly failure: Error | undefined;
  /** Commits everything queued now and waits for every commit begun so far. */
  settle(): Promise<void>;
  /**
   * Settles, gives events still refused one last try, and stops the timer. Rejects with an
   * `AuditNotRecordedError` counting every event that was never stored (given up along the way,
   * or still refused now).
   */
  close(): Promise<void>;
}

/**
 * The audit queue of a guard in `batched` durability: appends wait up to `batchMs` and then go to
 * the store together, so the store commits many decisions in one transaction instead of one each.
 * Each caller's events stay a separate append (one bad event cannot fail another caller's). A
 * group the store refuses is offered again on the next round, up to three times, and the failure
 * is kept until a commit succeeds, so the guard can fail closed meanwhile. Events given up are
 * logged (`meshguard:guard`) and counted, and `close()` rejects with them.
 */
export function createAppendBatcher(store: AuditStore, batchMs: number): AppendBatcher {
  let queue: Queued[] = [];
  let queuedEvents = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failure: Error | undefined;
  const inflight = new Set<Promise<void>>();
  // Events given up: counted, the first ones kept, reported by close().
  let lostCount = 0;
  const lost: AuditEventBody[] = [];
  let lostCause: Error | undefined;
  const giveUp = (bodies: readonly AuditEventBody[], error: Error | undefined) => {
    lostCount += bodies.length;
    for (const body of bodies) if (lost.length < KEPT_LOST_EVENTS) lost.push(body);
    lostCause = error ?? lostCause;
    debug(
      'AUDIT EVENTS LOST: gave up recording %d event(s) (%d in all so far); close() will report them: %O',
      bodies.length,
      lostCount,
      error,
    );
  };

  const schedule = () => {
    // Not unref'd: a process that has nothing else to do still lives long enough to commit.
    timer ??= setTimeout(flush, batchMs);
  };

  async function settle(): Promise<void> {
    await flush();
    if (inflight.size > 0) await Promise.allSettled([...inflight]);
  }

  function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const batch = queue;
    queue = [];
    queuedEvents = 0;
    if (batch.length === 0) return Promise.resolve();
    const done = Promise.allSettled(batch.map((item) => store.append(item.bodies))).then((results) => {
      let firstError: Error | undefined;
      results.forEach((result, i) => {
        if (result.status === 'fulfilled') return;
        const error = result.reason instanceof Error ? result.reason : new Error(String(result.reason));
        firstError ??= error;
        const item = batch[i]!;
        if (item.attempts + 1 < MAX_ATTEMPTS) {
          queue.push({ bodies: item.bodies, attempts: item.attempts + 1 });
          queuedEvents += item.bodies.length;
        } else {
          giveUp(item.bodies, error);
        }
      });
      failure = firstError;
      if (firstError) {
        debug('audit commit failed, checks are denied until one succeeds: %O', firstError);
        if (queue.length > 0) schedule();
      }
    });
    inflight.add(done);
    void done.finally(() => inflight.delete(done));
    return done;
  }

  return {
    add(bodies) {
      queue.push({ bodies, attempts: 0 });
      queuedEvents += bodies.length;
      if (queuedEvents >= MAX_QUEUED_EVENTS) return flush();
      schedule();
      return undefined;
    },
    get failure() {
      return failure;
    },
    settle,
    async close() {
      await settle();
      if (queue.length > 0) await settle(); // refused groups: their last chance before the store closes
      if (timer) clearTimeout(timer);
      timer = undefined;
      for (const item of queue.splice(0)) giveUp(item.bodies, failure);
      queuedEvents = 0;
      if (lostCount > 0) throw new AuditNotRecordedError(lostCount, lost, lostCause);
    },
  };
}
