import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import createDebug from 'debug';
import {
  type CommitLines,
  type CommitQueue,
  createCommitQueue,
  type JournalReport,
} from './journal-commit-queue';

const debug = createDebug('meshguard:store');

/** What the worker needs to open its own connection to the store. */
import type { SqliteDriverName } from './sqlite-driver';

export interface JournalTask {
  path: string;
  driver: SqliteDriverName;
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

/** Where a journal's lines go to be committed, in order, with a report after each commit. */
export interface JournalCommitter {
  /** Hands a line over; the lines of one turn of the event loop go over together. */
  send(line: string): void;
  /** Hands over what is waiting now; `flush`: someone waits for it, commit at once. */
  post(flush?: boolean): void;
  /** Keeps the process alive while someone waits for commits (the worker does not by itself). */
  ref(): void;
  unref(): void;
  /** Stops committing: the worker closes its connection and ends (or is stopped after 5 s). */
  close(): Promise<void>;
}

/** The compiled worker beside this module, when there is one (not when running from sources). */
function workerUrl(): URL | undefined {
  const url = new URL(`./journal-worker.${import.meta.url.endsWith('.cjs') ? 'cjs' : 'js'}`, import.meta.url);
  return url.protocol === 'file:' && existsSync(fileURLToPath(url)) ? url : undefined;
}

/**
 * Commits a journal's lines on a worker thread. `commitHere` commits on the caller's thread: used
 * when there is no compiled worker (running from sources), until the worker is up, and if it dies,
 * when every line it was handed and had not reported committed is committed again here
 * (idempotent by event id).
 */
export function openJournalCommitter(
  task: JournalTask,
  commitHere: CommitLines,
  onReport: (report: JournalReport) => void,
  url: URL | undefined = workerUrl(),
): JournalCommitter {
  let worker: Worker | undefined;
  // Commits on this thread: without a compiled worker, until it is up, or once it has died.
  let here: CommitQueue | undefined;
  // The worker has started (a fraction of a second, seconds on a busy machine); and lines go to it,
  // which they do once it is up and this thread has committed every line it took meanwhile.
  let workerUp = false;
  let viaWorker = false;
  // Lines handed over and not yet committed, oldest first (kept to hand over again if the worker dies).
  let uncommitted: string[] = [];
  let toPost: string[] = [];
  let postScheduled = false;
  // Lines held back for the worker while this thread commits the ones it took; someone waits on them.
  let heldFlush = false;

  // Lines go to the worker once it is up and this thread has committed every line it took (so they
  // are committed in order). Under a steady load this thread always has some: new lines are held
  // back meanwhile, then handed over with the next report that leaves it none.
  const handingOver = () => !viaWorker && workerUp && worker !== undefined;

  const report = (result: JournalReport) => {
    if (result.ready) {
      workerUp = true;
      return;
    }
    if (result.done > 0) uncommitted = uncommitted.slice(result.done);
    onReport(result);
    if (handingOver() && uncommitted.length === 0 && toPost.length > 0) post(heldFlush);
  };

  const startWorker = (): Worker | undefined => {
    if (!url) return undefined;
    const started = new Worker(url, { workerData: task });
    started.on('message', report);
    const lost = (why: unknown) => {
      if (worker !== started) return; // stopped on purpose, or already handled
      debug('the journal worker stopped (%O), committing on this thread', why);
      worker = undefined;
      if (!viaWorker) {
        // It held no lines: this thread goes on committing them, those held back for it included.
        if (toPost.length > 0) post(heldFlush);
        return;
      }
      // Everything handed over and not reported is committed again here (idempotent by id).
      toPost = [...uncommitted, ...toPost];
      uncommitted = [];
      post(true);
    };
    started.on('error', lost);
    started.on('exit', (code) => lost(new Error(`exit code ${code}`)));
    // Never keeps the process alive by itself (after the listeners, which would ref it again):
    // a drain refs it while it waits, and a process about to exit drains first (audit-journal.ts).
    started.unref();
    return started;
  };

  function post(flush = false) {
    postScheduled = false;
    // A drain does not wait for the worker to start: this thread commits until it is up.
    if (handingOver()) {
      if (uncommitted.length > 0) {
        // Held for the worker until this thread's lines are committed; a waiter hurries those.
        if (flush) {
          heldFlush = true;
          here?.add([], true);
        }
        return;
      }
      viaWorker = true;
      heldFlush = false;
      debug('the journal worker is up: it commits from here on');
    }
    const lines = toPost;
    toPost = [];
    if (lines.length === 0 && !flush) return;
    uncommitted.push(...lines);
    if (worker && viaWorker) {
      worker.postMessage({ lines, flush } satisfies JournalMessage);
    } else {
      here ??= createCommitQueue(commitHere, report, task.windowMs);
      here.add(lines, flush);
    }
  }

  worker = startWorker();

  return {
    send(line) {
      toPost.push(line);
      if (postScheduled) return;
      postScheduled = true;
      setImmediate(post);
    },
    post,
    ref() {
      worker?.ref();
    },
    unref() {
      worker?.unref();
    },
    async close() {
      here?.stop();
      if (!worker) return;
      // Asked to close its connection and end; stopped outright if it does not within 5 s.
      const stopping = worker;
      worker = undefined;
      const ended = new Promise((resolve) => stopping.once('exit', resolve));
      stopping.postMessage({ lines: [], flush: false, close: true } satisfies JournalMessage);
      const timer = setTimeout(() => void stopping.terminate(), 5000);
      await ended;
      clearTimeout(timer);
    },
  };
}
