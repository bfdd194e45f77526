import { readdirSync, readFileSync, renameSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateFile, makePrivateDir } from '@meshguard/core/internal';
import createDebug from 'debug';
import { type JournalEntry, parseJournalLine } from './journal-line';
import { openSqlite, type SqliteDatabase, type SqliteDriverName } from './sqlite-driver';

const debug = createDebug('meshguard:store');

/**
 * The files of the SQLite store's journals, which several processes share: each may open its own
 * journal, replay the journals of writers that are gone, and remove the folder once it is empty,
 * at any moment. The folder holds, per journal, `<id>.<n>.jsonl` and the lock `<id>.lock`; a
 * journal being opened has `<id>.claim` for the instant before its lock is taken.
 */

/** Lines replayed per transaction. */
const REPLAY_LINES = 256;
/** A claim older than this is a leftover of a process that died while opening its journal. */
const STALE_CLAIM_MS = 60_000;
/** How many times a journal is begun again when another process removes the empty folder under it. */
const FOLDER_RETRIES = 20;

export function journalDir(databasePath: string): string {
  return `${databasePath}.pending`;
}

/** The segment number of a journal file `<id>.<n>.jsonl`. */
export function segmentNumber(file: string): number {
  const parts = file.split('.');
  return Number(parts[parts.length - 2]);
}

const missing = (error: unknown): boolean => {
  for (let e = error as { code?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.code === 'ENOENT') return true;
  }
  return false;
};

/** Unlinks `path`; one already gone is fine (its owner or a replay removed it meanwhile). */
export function unlinkIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if (!missing(error)) throw error;
  }
}

/** Removes the journals' folder if it is empty: other writers' journals keep it. */
export function removeFolderIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Another writer's journal is still there (or the folder is gone already).
  }
}

/**
 * Takes the lock of a new journal `id`: its SQLite file, held in an exclusive transaction until the
 * journal closes or the process dies. The file is made and locked as `<id>.claim` and only then
 * renamed `<id>.lock` (the lock stays with the file): a replay, which looks for `.lock` files and
 * takes every one it can lock, never finds the lock of a live journal unlocked. When another
 * process removes the folder as it empties, the folder is made again.
 */
export function claimJournalLock(
  dir: string,
  id: string,
  driver: SqliteDriverName,
): { lock: SqliteDatabase; lockPath: string } {
  const claimPath = join(dir, `${id}.claim`);
  const lockPath = join(dir, `${id}.lock`);
  for (let attempt = 1; ; attempt++) {
    try {
      // The journals hold what the database does (redacted events, and approval requests with their
      // arguments as they are): 0600 files in a 0700 folder.
      makePrivateDir(dir);
      ensurePrivateFile(claimPath, { create: true });
      break;
    } catch (error) {
      if (attempt < FOLDER_RETRIES && missing(error)) continue;
      throw error;
    }
  }
  const lock = openSqlite(claimPath, {}, driver);
  try {
    lock.pragma('journal_mode = MEMORY'); // the lock is all it is for: no file of its own beside it
    lock.exec('BEGIN EXCLUSIVE');
    renameSync(claimPath, lockPath);
  } catch (error) {
    lock.close();
    unlinkIfThere(claimPath);
    throw error;
  }
  return { lock, lockPath };
}

/**
 * Replays the journals whose owners are gone (their lock is free) into the store, then deletes
 * them; returns how many events and approval requests it replayed. `commit` commits lines
 * synchronously, in one transaction (events redacted already, approval requests as they were
 * created). A torn or unreadable line, which a crash can leave at the end of a file, is skipped.
 *
 * A writer closing meanwhile deletes its files (all committed) before it releases its lock, so the
 * segments are listed only once the lock is ours, and a file gone by then was committed.
 */
export function recoverJournals(
  databasePath: string,
  driver: SqliteDriverName,
  commit: (lines: JournalEntry[]) => void,
): number {
  const dir = journalDir(databasePath);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if (missing(error)) return 0;
    throw error;
  }
  let replayed = 0;
  for (const name of names) {
    if (name.endsWith('.claim')) removeStaleClaim(join(dir, name));
    if (!name.endsWith('.lock')) continue;
    const id = name.slice(0, -'.lock'.length);
    const lockPath = join(dir, name);
    let lock: SqliteDatabase | undefined;
    try {
      lock = openSqlite(lockPath, { timeout: 0, fileMustExist: true }, driver);
      lock.pragma('journal_mode = MEMORY');
      lock.exec('BEGIN EXCLUSIVE');
    } catch {
      lock?.close();
      continue; // its owner lives, or closed and removed it meanwhile: not ours to replay
    }
    try {
      const files = readdirSync(dir)
        .filter((f) => f.startsWith(`${id}.`) && f.endsWith('.jsonl'))
        .sort((a, b) => segmentNumber(a) - segmentNumber(b));
      let chunk: JournalEntry[] = [];
      const commitChunk = () => {
        commit(chunk);
        replayed += chunk.reduce(
          (n, entry) => n + entry.events.length + entry.approvals.length * (entry.opened ? 2 : 1),
          0,
        );
        chunk = [];
      };
      for (const file of files) {
        let text: string;
        try {
          text = readFileSync(join(dir, file), 'utf8');
        } catch (error) {
          if (missing(error)) continue; // committed and removed by its writer as it closed
          throw error;
        }
        for (const line of text.split('\n')) {
          if (!line) continue;
          try {
            chunk.push(parseJournalLine(line));
          } catch {
            debug('skipping a torn line in %s', file);
            continue;
          }
          if (chunk.length === REPLAY_LINES) commitChunk();
        }
      }
      if (chunk.length > 0) commitChunk();
      for (const file of files) unlinkIfThere(join(dir, file));
      lock.close();
      unlinkIfThere(lockPath);
    } catch (error) {
      lock.close();
      throw error;
    }
  }
  removeFolderIfEmpty(dir);
  return replayed;
}

/** A claim left by a process that died between making its lock file and taking the lock. */
function removeStaleClaim(path: string): void {
  try {
    if (Date.now() - statSync(path).mtimeMs > STALE_CLAIM_MS) unlinkIfThere(path);
  } catch (error) {
    if (!missing(error)) debug('cannot remove the stale claim %s: %O', path, error);
  }
}
