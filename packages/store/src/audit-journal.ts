import { randomUUID } from 'node:crypto';
import { closeSync, fdatasyncSync, ftruncateSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type ApprovalRequest, type AuditEventBody, MeshGuardError, type Redactor } from '@meshguard/core';
import { ensurePrivateFile, redactBody } from '@meshguard/core/internal';
import createDebug from 'debug';
import { addExitHook, deleteExitHook } from './exit-hooks';
import type { CommitLines, JournalReport } from './journal-commit-queue';
import { type JournalTask, openJournalCommitter } from './journal-committer';
import { claimJournalLock, journalDir, removeFolderIfEmpty, unlinkIfThere } from './journal-files';
import { journalLine } from './journal-line';

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
 * An approval request is journaled the same way, in the line of the events that open it (see
 * journal-line.ts): committed into the approval table in their transaction, replayed likewise
 * (idempotent by request id). Its arguments are written as they are, unredacted, as the table
 * keeps them: the journal's files are private like the database (0600 in a 0700 folder).
 *
 * A journal lives in `<database>.pending/` (see journal-files.ts): its files `<id>.<n>.jsonl` and a lock, `<id>.lock`, a
 * small SQLite file the owner holds an exclusive transaction on. The operating system releases
 * that lock when the owner dies, whatever its pid was (a container restarted under the same pid
 * does not keep its predecessor's journal from being replayed).
 */
export interface AuditJournal {
  /**
   * Writes the events, and approval requests, to the journal in one line (see journal-line.ts:
   * `opened`, the events open the requests, whose `approval_requested` events are recorded with
   * them); throws if they could not be written (nothing to run on). Returns a promise when commits
   * are falling behind (over 10,000 events, or lines, waiting): the caller awaits it before
   * writing more, so a writer faster than the disk is held back, not buffered.
   */
  write(
    bodies: readonly AuditEventBody[],
    approvals?: readonly ApprovalRequest[],
    opened?: boolean,
  ): Promise<void> | undefined;
  /**
   * Resolves once every approval request written so far is committed (at once when none waits);
   * rejects if they cannot be, as `drain` does.
   */
  settleApprovals(): Promise<void>;
  /** The last background commit's failure, until one succeeds. */
  readonly failure: Error | undefined;
  /** How many events are written and not yet committed. */
  readonly waiting: number;
  /** Resolves once everything written before the call is committed (rejects if it cannot be). */
  drain(): Promise<void>;
  /** Drains, stops the worker and removes the journal's files (kept if anything is uncommitted). */
  close(): Promise<void>;
}

/** A journal file is closed and a new one begun past this size; a committed one is deleted. */
const SEGMENT_BYTES = 8 * 1024 * 1024;
/** How long a close waits for the journal's commits, retried meanwhile if they fail (two busy timeouts). */
const CLOSE_WAIT_MS = 10_000;
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
 * Opens a journal for one store. `commitHere` commits on the caller's thread: used when there is no
 * compiled worker (running from sources) and if the worker dies.
 */
export function openAuditJournal(task: JournalTask, redact: Redactor, commitHere: CommitLines): AuditJournal {
  const dir = journalDir(task.path);
  const id = randomUUID();
  const { lock, lockPath } = claimJournalLock(dir, id, task.driver);

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
  // The line of the last approval request written (committed once `committed` reaches it).
  let approvalsUpTo = 0;
  // Events per line written and not yet committed, oldest first, and their sum.
  const lineEvents: number[] = [];
  let waitingEvents = 0;
  let failure: Error | undefined;
  let closed = false;
  // `patient`: a closing journal's waiter, which waits through failing commits (they are retried).
  const waiters: Array<{
    line: number;
    patient: boolean;
    resolve: () => void;
    reject: (error: Error) => void;
  }> = [];

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
    }
    failure = report.error
      ? new MeshGuardError(`the audit store could not commit its journal: ${report.error}`, {
          code: 'store_write_failed',
        })
      : undefined;
    release();
    // Nobody waits on commits that keep failing (the journal keeps the lines and they are retried),
    // except a close, which gives them until its deadline.
    if (failure) {
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (!waiters[i]!.patient) waiters.splice(i, 1)[0]!.reject(failure);
      }
    }
  };

  const committer = openJournalCommitter(task, commitHere, onReport);

  /**
   * Waits for the lines written so far (up to `line`); the worker keeps the process alive meanwhile.
   * Rejects at the first failing commit, unless `patient` (a close, which waits through retries
   * until its deadline).
   */
  function drain(patient = false, line = written): Promise<void> {
    if (committed >= line) return Promise.resolve();
    committer.post(true);
    committer.ref();
    const done = new Promise<void>((resolve, reject) => waiters.push({ line, patient, resolve, reject }));
    const unref = () => {
      if (waiters.length === 0) committer.unref();
    };
    done.then(unref, unref);
    return done;
  }

  // A process that ends without closing its guard (a script's last line) still commits what it
  // journaled before it exits: nothing is lost either way, but the trail is complete at once.
  const beforeExit = () => {
    if (!closed && committed < written) drain().catch(() => {});
  };
  addExitHook(beforeExit, 'beforeExit');
  // Exiting with everything committed: the journal's files go (otherwise they stay to be replayed).
  const onExit = () => {
    if (!closed && committed === written) removeFiles();
  };
  addExitHook(onExit, 'exit');

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

  /** Appends one line (its text with the newline) holding `events` events; throws if it could not. */
  function writeLine(line: string, events: number): void {
    if (closed) throw new MeshGuardError('the audit store is closed', { code: 'store_closed' });
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
    lineEvents.push(events);
    waitingEvents += events;
    current.bytes += bytes;
    current.lastLine = written;
    committer.send(line.slice(0, -1));
    if (current.bytes >= SEGMENT_BYTES) {
      // The line is written and handed on: a new file that cannot be begun now is no failure of
      // this write (the current file goes on, and the next write tries again).
      try {
        const next = openSegment();
        older.push(current);
        current = next;
      } catch (error) {
        debug('could not begin a new journal file, the current one goes on: %O', error);
      }
    }
  }

  return {
    write(bodies, approvals = [], opened = false) {
      if (closed) throw new MeshGuardError('the audit store is closed', { code: 'store_closed' });
      const events = bodies.length + (opened ? approvals.length : 0);
      writeLine(`${journalLine(bodies.map(prepare), approvals, opened)}\n`, events);
      if (approvals.length > 0) approvalsUpTo = written;
      // Lines bound a caller creating requests alone (no events), who never yields.
      return waitingEvents > MAX_WAITING_EVENTS || written - committed > MAX_WAITING_EVENTS
        ? drain()
        : undefined;
    },
    settleApprovals() {
      return drain(false, approvalsUpTo);
    },
    get failure() {
      return failure;
    },
    get waiting() {
      return waitingEvents;
    },
    drain: () => drain(),
    async close() {
      if (closed) return;
      let drained = true;
      deleteExitHook(beforeExit, 'beforeExit');
      let giveUp: ReturnType<typeof setTimeout> | undefined;
      try {
        // A commit can fail for a moment (another process held the write lock past the busy
        // timeout): the commit is retried, and the close waits for it, up to CLOSE_WAIT_MS.
        await Promise.race([
          drain(true),
          // Commits that keep failing: give up waiting; the journal keeps the lines for a replay.
          new Promise((_, reject) => {
            giveUp = setTimeout(() => reject(failure ?? new Error('timeout')), CLOSE_WAIT_MS);
          }),
        ]);
      } catch (error) {
        drained = false;
        debug('closing with uncommitted journal lines (replayed at the next open): %O', error);
      } finally {
        clearTimeout(giveUp);
      }
      closed = true;
      deleteExitHook(onExit, 'exit');
      await committer.close();
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
