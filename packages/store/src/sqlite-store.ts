import {
  type ApprovalStore,
  type AuditEvent,
  type AuditEventBody,
  type AuditFilter,
  type AuditStore,
  ConfigError,
  createRedactor,
  type FollowingStore,
  type JournalingStore,
  MeshGuardError,
  type StatsStore,
  type StoreStats,
} from '@meshguard/core';
import createDebug from 'debug';
import { enqueueAppend } from './append-batch';
import { assertApprovalRow } from './approval-table';
import { type AuditJournal, openAuditJournal } from './audit-journal';
import { commitJournalLines } from './journal-commit-queue';
import { recoverJournals } from './journal-files';
import type { JournalEntry } from './journal-line';
import { PARALLEL_THRESHOLD } from './parallel-verify';
import { openSqliteAppender } from './sqlite-append';
import { type ApprovalJournal, sqliteApprovals } from './sqlite-approvals';
import { openSqlite, resolveSqliteDriver, type SqliteDatabase, type SqliteDriverName } from './sqlite-driver';
import { preparePrivateSqliteFile } from './sqlite-open';
import { sqliteQueries } from './sqlite-query';
import { prepareSqliteSchema } from './sqlite-schema';
import { verifySqlite } from './sqlite-verify';
import { createCheckpointer } from './wal-checkpointer';

export { SQLITE_SCHEMA_VERSION } from './sqlite-schema';

const debug = createDebug('meshguard:store');

export interface SqliteStoreOptions {
  /** The writer stream's name (default `main`). Writers sharing a stream serialize on it. */
  stream?: string;
  /** Open without writing: queries and verification only (the CLI's read commands). */
  readonly?: boolean;
  /** `normal` (default; durable across process crashes in WAL mode) or `full` (also across power loss). */
  synchronous?: 'normal' | 'full';
  /** Key words to redact (see core's `createRedactor`); default: core's list. */
  redactKeys?: readonly string[];
  /** From how many events `verify()` spreads the work over worker threads (default 200,000). */
  parallelVerifyFrom?: number;
  /**
   * Checkpoint the WAL on a worker thread once a few thousand events were appended (default
   * true), rather than only on the writer's own thread after each append that fills it.
   */
  backgroundCheckpoints?: boolean;
  /**
   * Offer `journal()` (default true for a writable file): the guard's durable decisions are
   * written to a journal beside the database and committed behind on a worker thread (see
   * audit-journal.ts). Journals left by a crashed writer are replayed when the store opens.
   */
  journal?: boolean;
  /**
   * The SQLite driver: `node:sqlite` (Node 22.13+, the default there) or `better-sqlite3` (an
   * optional peer: the default on Node 20). Default: `MESHGUARD_SQLITE_DRIVER`, else as said.
   */
  driver?: SqliteDriverName;
}

/**
 * The SQLite store; it journals (see core's `canJournal`) unless read-only, in memory or
 * `journal: false`, and keeps approval requests (core's `ApprovalStore`) when open for writing.
 */
export interface SqliteAuditStore extends FollowingStore, StatsStore, ApprovalStore {
  readonly kind: 'sqlite';
  readonly path: string;
  readonly stream: string;
  /** The SQLite driver serving it. */
  readonly driver: SqliteDriverName;
  /** Streams events in stored order, oldest first, without loading them all (export). */
  iterate(filter?: AuditFilter): IterableIterator<AuditEvent>;
  /**
   * Events recorded after a position (oldest first), and the position to ask from next time:
   * `audit tail -f` follows the trail with it, whatever the events' own timestamps say.
   * Without a cursor, starts after the newest event.
   */
  after(cursor: string | undefined, limit?: number): { events: AuditEvent[]; cursor: string };
  /** The newest `n` events (oldest first) and the cursor to follow from with `after`. */
  latest(n: number): { events: AuditEvent[]; cursor: string };
  /** How many events match (progress bars, stats). */
  count(filter?: AuditFilter): number;
  /** Counts by decision, action and agent (`meshguard audit stats`). */
  stats(filter?: AuditFilter): StoreStats;
  /**
   * @internal Commits a journal line's entry: its approval requests (an id the table holds is left
   * as it is) and its events, whose contexts the journal has redacted already, in one transaction.
   */
  appendJournaled(entry: JournalEntry): Promise<unknown>;
}

const WAL_CHECKPOINT_BYTES = 40 * 1024 * 1024;
const CACHE_KIB = 16 * 1024;

/** How long journaled events gather on the worker before one commit takes them all. */
const JOURNAL_WINDOW_MS = 5;

/**
 * The embedded audit store: one SQLite file (WAL), appends batched into transactions, a hash chain
 * per writer stream, idempotent by event id, redaction with a salt kept in the file.
 *
 * @example
 * const store = openSqliteStore('.meshguard/meshguard.db');
 * const guard = await createGuard({ policies: 'policies/', store });
 */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): SqliteAuditStore {
  const readonly = options.readonly ?? false;
  const stream = options.stream ?? 'main';
  const { db, salt } = openDatabase(path, readonly, options.synchronous, resolveSqliteDriver(options.driver));
  const { driver } = db;
  const redact = createRedactor({ keys: options.redactKeys, salt });
  const checkpointer =
    readonly || options.backgroundCheckpoints === false
      ? undefined
      : createCheckpointer({ path, driver, synchronous: options.synchronous === 'full' ? 'FULL' : 'NORMAL' });
  const appender = readonly ? undefined : openSqliteAppender(db, { stream, redact, checkpointer });
  let closed = false;
  const enqueue = (bodies: readonly AuditEventBody[]): Promise<AuditEvent[]> =>
    enqueueAppend(bodies, { closed, readonly }, (pending) => appender!.add(pending));

  const journalOn = !readonly && path !== ':memory:' && options.journal !== false;
  let journal: AuditJournal | undefined;
  if (journalOn) {
    // Journals a crashed writer left: their events and approval requests go in before anything new.
    const replayed = recoverJournals(path, driver, (lines) => appender!.replay(lines));
    if (replayed > 0)
      debug('replayed %d event(s) and approval request(s) from journals left behind', replayed);
  }
  // Opened with the first line to journal (a store that only reads never makes one).
  const openJournal = (): AuditJournal => {
    if (closed) throw new MeshGuardError('the audit store is closed', { code: 'store_closed' });
    journal ??= openAuditJournal(
      {
        path,
        stream,
        driver,
        synchronous: options.synchronous ?? 'normal',
        redactKeys: options.redactKeys,
        windowMs: JOURNAL_WINDOW_MS,
      },
      redact,
      commitJournalLines({ appendJournaled: (entry) => store.appendJournaled(entry) }),
    );
    return journal;
  };
  // A journaling store's new approval requests go through its journal, as its events do.
  const approvalJournal: ApprovalJournal | undefined = journalOn
    ? {
        write(request) {
          const opened = openJournal();
          // Fail closed, as the guard does for events: nothing is journaled while commits fail.
          if (opened.failure) throw opened.failure;
          return opened.write([], [request], false);
        },
        settle: () => (journal ? journal.settleApprovals() : Promise.resolve()),
      }
    : undefined;

  const store: SqliteAuditStore = {
    kind: 'sqlite',
    path,
    stream,
    driver,
    append: enqueue,
    appendJournaled(entry) {
      if (closed || !appender) {
        const refused = closed
          ? new MeshGuardError('the audit store is closed', { code: 'store_closed' })
          : new MeshGuardError('the audit store is open read-only', { code: 'store_readonly' });
        return Promise.reject(refused);
      }
      // Queued with the appends of this turn: one transaction, the requests before the events.
      return new Promise((resolve, reject) => appender.addJournaled(entry, resolve, reject));
    },
    ...sqliteQueries(db),
    ...sqliteApprovals(db, () => ({ closed, readonly }), approvalJournal),
    async verify() {
      return verifySqlite(db, path, options.parallelVerifyFrom ?? PARALLEL_THRESHOLD);
    },
    async close() {
      if (closed) return;
      await journal?.close();
      closed = true;
      appender?.flush();
      await checkpointer?.close();
      db.close();
    },
  };
  // Only a store that journals has the capability (core's JournalingStore): a read-only or
  // in-memory store, or one opened with `journal: false`, is appended to instead.
  if (journalOn) {
    const journaling: Omit<JournalingStore, keyof AuditStore> = {
      journal(bodies, approvals) {
        // Refused before anything is written, as createApproval refuses: its commit, later, could
        // not tell the caller, and the events would name a request that is not there.
        for (const request of approvals ?? []) assertApprovalRow(request);
        return openJournal().write(bodies, approvals, true);
      },
      drain() {
        return journal ? journal.drain() : Promise.resolve();
      },
      get journalFailure() {
        return journal?.failure;
      },
      get journalBacklog() {
        return journal?.waiting ?? 0;
      },
    };
    // Described, not spread in: a spread would copy each getter's value once, not the getter.
    Object.defineProperties(store, Object.getOwnPropertyDescriptors(journaling));
  }
  return store;
}

/** Opens the file, tuned for appends when writable, and returns it with its redaction salt. */
function openDatabase(
  path: string,
  readonly: boolean,
  synchronous: SqliteStoreOptions['synchronous'],
  driver: SqliteDriverName,
): { db: SqliteDatabase; salt: string } {
  // Created 0600 in a 0700 folder (a ConfigError names a file others can read and we cannot tighten).
  if (!readonly) preparePrivateSqliteFile(path);
  let db: SqliteDatabase;
  try {
    db = openSqlite(path, { readonly }, driver);
  } catch (error) {
    throw new ConfigError(
      readonly
        ? `cannot open the audit database "${path}": ${(error as Error).message}`
        : `cannot create the audit database "${path}": ${(error as Error).message}`,
      { code: 'store_unavailable', cause: error },
    );
  }
  try {
    db.pragma('busy_timeout = 5000');
    const salt = prepareSqliteSchema(db, path, readonly);
    if (!readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      // Checkpoint every ~40 MiB of WAL rather than 4 MiB: index pages rewritten many times
      // between checkpoints are copied back once (about 10% faster ingest). Past a few thousand
      // events a worker thread checkpoints more often than that (wal-checkpointer.ts), and this
      // one finds little left to copy: it bounds the WAL's size.
      const pageSize = db.pragma('page_size', { simple: true }) as number;
      db.pragma(`wal_autocheckpoint = ${Math.round(WAL_CHECKPOINT_BYTES / pageSize)}`);
    }
    // 16 MiB of page cache holds what appends touch (the end of the table and of each index).
    // Not more: rebalancing B-tree pages, SQLite swaps page numbers through a spare one past 1 GiB,
    // and the commit then sweeps the whole cache to drop it, a cost that grows with the cache
    // (64 MiB: about 1 us per event).
    db.pragma(`cache_size = -${CACHE_KIB}`);
    // Statement and savepoint journals in memory: each caller's events are written in a savepoint
    // (see sqlite-append.ts), and SQLite keeps a copy of every page it changes there. On disk that
    // copy was a second write of each page (a tenth of an append); it is only ever needed to roll back.
    db.pragma('temp_store = MEMORY');
    return { db, salt };
  } catch (error) {
    db.close();
    if (MeshGuardError.isInstance(error)) throw error;
    throw new ConfigError(`"${path}" is not a MeshGuard audit database: ${(error as Error).message}`, {
      code: 'store_not_meshguard',
      cause: error,
    });
  }
}
