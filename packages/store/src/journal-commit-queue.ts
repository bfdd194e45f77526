import createDebug from 'debug';
import { type JournalEntry, parseJournalLine } from './journal-line';

const debug = createDebug('meshguard:store');

/** The worker's report: how many more lines (in order) are committed, and the failure if any. */
export interface JournalReport {
  done: number;
  error?: string;
  /** The worker has opened its store and takes lines (its first message). */
  ready?: boolean;
}

/** Commits journal lines: the worker's store, or the caller's own when there is no worker. */
export type CommitLines = (lines: readonly string[]) => Promise<JournalReport>;

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

/**
 * A store that commits what a journal's lines hold: events whose contexts are redacted already,
 * and approval requests, each in the transaction of the events journaled with it.
 */
export interface JournalLineStore {
  appendJournaled(entry: JournalEntry): Promise<unknown>;
}

/**
 * Commits journal lines in order, all in one transaction where they can be: reports how many lines
 * from the first are done. An event or request the store refuses as invalid is logged and passed
 * over (trying it again would not help); a failure of the store itself stops there, to be tried again.
 */
export function commitJournalLines(store: JournalLineStore): CommitLines {
  return async (lines) => {
    const appends = lines.map((line) => {
      try {
        return store.appendJournaled(parseJournalLine(line));
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
