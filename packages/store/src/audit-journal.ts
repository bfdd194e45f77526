import { randomUUID } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  ftruncateSync,
  openSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  type AuditEventBody,
  ensurePrivateFile,
  MeshGuardError,
  type Redactor,
  redactBody,
} from '@meshguard/core';
import createDebug from 'debug';
import { claimJournalLock, journalDir, removeFolderIfEmpty, unlinkIfThere } from './journal-files';

const debug = createDebug('meshguard:store');

/**
 * The write-ahead journal of a SQLite store: how a decision is durable before the action runs
 * without waiting for a SQLite commit on the caller's thread.
 *
 * `write` appends the events (contexts already redacted) as one line to a file of this journal
 * with a single write, then hands the line to a worker thread that chains and commits it with
 * whatever else came meanwhile. Once `write` returns, a crash of the process loses nothing (the
 * same guarantee as a commit with `synchronous = NORMAL`; with `full`, each write is also synced):
 * the next writable open of the store replays every journal whose owner is gone. Appends are
 * idempotent by event id, so a line replayed after it was committed changes nothing.
 *
 * A journal lives in `<database>.pending/` (see journal-files.ts): its files `<id>.<n>.jsonl` and a lock, `<id>.lock`, a
 * small SQLite file the owner holds an exclusive transaction on. The operating system releases
 * that lock when the owner dies, whatever its pid was (a container restarted under the same pid
 * does not keep its predecessor's journal from being replayed).
 */
export interface AuditJournal {
  /**
   * Writes the events to the journal; throws if they could not be written (nothing to run on).
   * Returns a promise when commits are falling behind (over 10,000 events waiting): the caller
   * awaits it before writing more, so a writer faster than the disk is held back, not buffered.
   */
  write(bodies: readonly AuditEventBody[]): Promise<void> | undefined;
  /** The last background commit's failure, until one succeeds. */
  readonly failure: Error | undefined;
  /** Resolves once everything written before the call is committed (rejects if it cannot be). */
  drain(): Promise<void>;
  /** Drains, stops the worker and removes the journal's files (kept if anything is uncommitted). */
  close(): Promise<void>;
}

/** What the worker needs to open its own connection to the store. */
export interface JournalTask {
  path: string;
  stream: string;
  synchronous: 'normal' | 'full';
  redactKeys?: readonly string[] | undefined;
  /** How long the worker lets lines gather before it commits them (a drain commits at once). */
  windowMs: number;
}

/** Lines handed to the worker; `flush` when someone waits for them to be committed. */
export interface JournalMessage {
  lines: string[];
  flush: boolean;
  /** The journal closes (drained): close the connection and end. */
  close?: boolean;
}

/** The worker's report: how many more lines (in order) are committed, and the failure if any. */
export interface JournalReport {
  done: number;
  error?: string;
}

/** Commits lines of redacted events: the worker's store, or the caller's own when there is no worker. */
export type CommitLines = (lines: readonly string[]) => Promise<JournalReport>;

/** A journal file is closed and a new one begun past this size; a committed one is deleted. */
const SEGMENT_BYTES = 8 * 1024 * 1024;
/** Past this many events written and not committed, writers wait for the commits. */
const MAX_WAITING_EVENTS = 10_000;
interface Segment {
  path: string;
  fd: number;
  bytes: number;
  /** The number of the last line written to it. */
  lastLine: number;
}

/**
 * One process listener for each event, however many journals are open: a listener per journal
 * would warn past ten (MaxListenersExceededWarning) in a process that opens many stores.
 */
const exitHooks = (() => {
  const hooks = { beforeExit: new Set<() => void>(), exit: new Set<() => void>() };
  let installed = false;
  return {
    add(hook: () => void, event: 'beforeExit' | 'exit') {
      if (!installed) {
        installed = true;
        process.on('beforeExit', () => {
          for (const h of [...hooks.beforeExit]) h();
        });
        process.on('exit', () => {
          for (const h of [...hooks.exit]) h();
        });
      }
      hooks[event].add(hook);
    },
    delete(hook: () => void, event: 'beforeExit' | 'exit') {
      hooks[event].delete(hook);
    },
  };
})();

/** The compiled worker beside this module, when there is one (not when running from sources). */
function workerUrl(): URL | undefined {
  const url = new URL(`./journal-worker.${import.meta.url.endsWith('.cjs') ? 'cjs' : 'js'}`, import.meta.url);
  return url.protocol === 'file:' && existsSync(fileURLToPath(url)) ? url : undefined;
}

/**
 * Opens a journal for one store. `commitHere` commits on the caller's thread: used when there is no
 * compiled worker (running from sources) and if the worker dies.
 */
export function openAuditJournal(task: JournalTask, redact: Redactor, commitHere: CommitLines): AuditJournal {
  const dir = journalDir(task.path);
  const id = randomUUID();
  const { lock, lockPath } = claimJournalLock(dir, id);

  let segmentNo = 0;
  const openSegment = (): Segment => {
    const path = join(dir, `${id}.${segmentNo++}.jsonl`);
    ensurePrivateFile(path, { create: true });
    return { path, fd: openSync(path, 'a', 0o600), bytes: 0, lastLine: 0 };
  };
  let current = openSegment();
  const older: Segment[] = [];
  let written = 0;
  let committed = 0;
  // Events per line written and not yet committed, oldest first, and their sum.
  const lineEvents: number[] = [];
  let waitingEvents = 0;
  // Lines handed over and not yet committed, oldest first (kept to hand over again if the worker dies).
  let uncommitted: string[] = [];
  let toPost: string[] = [];
  let postScheduled = false;
  let failure: Error | undefined;
  let closed = false;
  const waiters: Array<{ line: number; resolve: () => void; reject: (error: Error) => void }> = [];

  const url = workerUrl();
  let worker: Worker | undefined;
  // Commits on this thread: without a compiled worker, or once the worker has died.
  let here: CommitQueue | undefined;

  const release = () => {
    while (older.length > 0 && older[0]!.lastLine <= committed) {
      const segment = older.shift()!;
      closeSync(segment.fd);
      unlinkSync(segment.path);
    }
    if (committed === written && current.bytes > 0) {
      ftruncateSync(current.fd, 0);
      current.bytes = 0;
    }
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.line <= committed) waiters.splice(i, 1)[0]!.resolve();
    }
  };

  const onReport = (report: JournalReport) => {
    if (report.done > 0) {
      committed += report.done;
      for (const count of lineEvents.splice(0, report.done)) waitingEvents -= count;
      uncommitted = uncommitted.slice(report.done);
    }
    failure = report.error
      ? new MeshGuardError(`the audit store could not commit its journal: ${report.error}`, {
          code: 'store_write_failed',
        })
      : undefined;
    release();
    // Nobody waits on commits that keep failing (the journal keeps the lines and they are retried).
    if (failure) for (const waiter of waiters.splice(0)) waiter.reject(failure);
  };

  const startWorker = (): Worker | undefined => {
    if (!url) return undefined;
    const started = new Worker(url, { workerData: task });
    started.on('message', onReport);
    const lost = (why: unknown) => {
      if (worker !== started) return; // stopped on purpose, or already handled
      debug('the journal worker stopped (%O), committing on this thread', why);
      worker = undefined;
      // Everything handed over and not reported is committed again here (idempotent by id).
      toPost = [...uncommitted, ...toPost];
      uncommitted = [];
      post(true);
    };
    started.on('error', lost);
    started.on('exit', (code) => lost(new Error(`exit code ${code}`)));
    // Never keeps the process alive by itself (after the listeners, which would ref it again):
    // a drain refs it while it waits, and a process about to exit drains first (below).
    started.unref();
    return started;
  };

  function post(flush = false) {
    postScheduled = false;
    const lines = toPost;
    toPost = [];
    if (lines.length === 0 && !flush) return;
    uncommitted.push(...lines);
    if (worker) {
      worker.postMessage({ lines, flush } satisfies JournalMessage);
    } else {
      here ??= createCommitQueue(commitHere, onReport, task.windowMs);
      here.add(lines, flush);
    }
  }

  function schedulePost() {
    if (postScheduled) return;
    postScheduled = true;
    // Lines written in the same turn of the event loop go over together.
    setImmediate(post);
  }

  worker = startWorker();

  /** Waits for the lines written so far; the worker keeps the process alive meanwhile. */
  function drain(): Promise<void> {
    if (committed >= written) return Promise.resolve();
    post(true);
    worker?.ref();
    const done = new Promise<void>((resolve, reject) => waiters.push({ line: written, resolve, reject }));
    const unref = () => {
      if (waiters.length === 0) worker?.unref();
    };
    done.then(unref, unref);
    return done;
  }

  // A process that ends without closing its guard (a script's last line) still commits what it
  // journaled before it exits: nothing is lost either way, but the trail is complete at once.
  const beforeExit = () => {
    if (!closed && committed < written) drain().catch(() => {});
  };
  exitHooks.add(beforeExit, 'beforeExit');
  // Exiting with everything committed: the journal's files go (otherwise they stay to be replayed).
  const onExit = () => {
    if (!closed && committed === written) removeFiles();
  };
  exitHooks.add(onExit, 'exit');

  function removeFiles() {
    for (const segment of [...older, current]) {
      closeSync(segment.fd);
      unlinkSync(segment.path);
    }
    // Unlinked before it is released: no replay can take the lock of a journal that is gone.
    unlinkIfThere(lockPath);
    lock.close();
    removeFolderIfEmpty(dir);
  }

  // Object.assign rather than a spread (inside redactBody): the same copy, several times faster.
  const prepare = (body: AuditEventBody): AuditEventBody => redactBody(body, redact);

  return {
    write(bodies) {
      if (closed) throw new MeshGuardError('the audit store is closed', { code: 'store_closed' });
      const line = `${JSON.stringify(bodies.map(prepare))}\n`;
      const bytes = Buffer.byteLength(line);
      try {
        const n = writeSync(current.fd, line);
        if (n !== bytes) throw new Error(`wrote ${n} of ${bytes} bytes`);
        if (task.synchronous === 'full') fdatasyncSync(current.fd);
      } catch (error) {
        // A line may be torn: later lines go to a new file (a replay skips a torn line).
        older.push(current);
        current = openSegment();
        throw new MeshGuardError(`the audit journal could not be written: ${(error as Error).message}`, {
          code: 'store_write_failed',
          cause: error,
        });
      }
      written += 1;
      lineEvents.push(bodies.length);
      waitingEvents += bodies.length;
      current.bytes += bytes;
      current.lastLine = written;
      toPost.push(line.slice(0, -1));
      schedulePost();
      if (current.bytes >= SEGMENT_BYTES) {
        older.push(current);
        current = openSegment();
      }
      return waitingEvents > MAX_WAITING_EVENTS ? drain() : undefined;
    },
    get failure() {
      return failure;
    },
    drain,
    async close() {
      if (closed) return;
      let drained = true;
      exitHooks.delete(beforeExit, 'beforeExit');
      let giveUp: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          drain(),
          // Commits that keep failing: give up waiting; the journal keeps the lines for a replay.
          new Promise((_, reject) => {
            giveUp = setTimeout(() => reject(failure ?? new Error('timeout')), 10_000);
          }),
        ]);
      } catch (error) {
        drained = false;
        debug('closing with uncommitted journal lines (replayed at the next open): %O', error);
      } finally {
        clearTimeout(giveUp);
      }
      closed = true;
      here?.stop();
      exitHooks.delete(onExit, 'exit');
      if (worker) {
        // Asked to close its connection and end; stopped outright if it does not within 5 s.
        const stopping = worker;
        worker = undefined;
        const ended = new Promise((resolve) => stopping.once('exit', resolve));
        stopping.postMessage({ lines: [], flush: false, close: true } satisfies JournalMessage);
        const timer = setTimeout(() => void stopping.terminate(), 5000);
        await ended;
        clearTimeout(timer);
      }
      for (const waiter of waiters.splice(0)) {
        waiter.reject(new MeshGuardError('the audit store is closed', { code: 'store_closed' }));
      }
      if (drained) {
        removeFiles();
      } else {
        for (const segment of [...older, current]) closeSync(segment.fd);
        lock.close();
      }
    },
  };
}

export interface CommitQueue {
  /** Lines to commit after the ones already queued; `flush`: someone waits, commit now. */
  add(lines: readonly string[], flush: boolean): void;
  /** Stops waiting to commit (the journal closes). */
  stop(): void;
}

/**
 * Commits lines in the order they were added, gathering them for up to `windowMs` (a commit costs
 * far more than a row), and reports each commit. After a failure of the store the rest are tried
 * again first, after a pause that grows from 100 ms to 5 s while it keeps failing. The worker runs
 * one; the journal runs one on its own thread when there is no worker.
 */
export function createCommitQueue(
  commit: CommitLines,
  report: (report: JournalReport) => void,
  windowMs: number,
): CommitQueue {
  let queue: string[] = [];
  let running = false;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const later = (ms: number, then: () => void) => {
    const t = setTimeout(then, ms);
    t.unref(); // never what keeps a process alive: a drain or a worker's port does that
    return t;
  };
  const run = async () => {
    running = true;
    let wait = 100;
    while (queue.length > 0 && !stopped) {
      const lines = queue;
      queue = [];
      const result = await commit(lines);
      report(result);
      if (result.error) {
        queue = [...lines.slice(result.done), ...queue];
        await new Promise<void>((resolve) => later(wait, resolve));
        wait = Math.min(wait * 2, 5000);
      } else {
        wait = 100;
      }
    }
    running = false;
  };
  return {
    add(lines, flush) {
      queue.push(...lines);
      if (flush) {
        if (timer) clearTimeout(timer);
        timer = undefined;
        if (!running) void run();
      } else {
        timer ??= later(windowMs, () => {
          timer = undefined;
          if (!running) void run();
        });
      }
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** A store that can commit events whose contexts are redacted already (the journal's lines). */
export interface RedactedAppender {
  appendRedacted(bodies: readonly AuditEventBody[]): Promise<unknown>;
}

/**
 * Commits journal lines in order, all in one transaction where they can be: reports how many lines
 * from the first are done. An event the store refuses as invalid is logged and passed over (trying
 * it again would not help); a failure of the store itself stops there, to be tried again.
 */
export function commitJournalLines(store: RedactedAppender): CommitLines {
  return async (lines) => {
    const appends = lines.map((line) => {
      try {
        return store.appendRedacted(JSON.parse(line) as AuditEventBody[]);
      } catch (error) {
        return Promise.reject(error);
      }
    });
    const results = await Promise.allSettled(appends);
    for (let i = 0; i < results.length; i++) {
      const result = results[i]!;
      if (result.status === 'fulfilled') continue;
      const error = result.reason as { code?: string; message?: string } | undefined;
      if (error?.code === 'store_write_failed' || error?.code === 'store_closed') {
        return { done: i, error: error.message ?? String(error) };
      }
      debug('a journal line could not be recorded and is passed over: %O', result.reason);
    }
    return { done: lines.length };
  };
}
