import { randomBytes } from 'node:crypto';
import {
  type AuditEvent,
  type AuditEventBody,
  type AuditFilter,
  AuditFilterSchema,
  type AuditStore,
  ConfigError,
  chainHash,
  createRedactor,
  eventBody,
  frameworkSpellings,
  GENESIS_HASH,
  MeshGuardError,
  type ParsedAuditFilter,
  parseWithSchema,
  redactBody,
  ValidationError,
} from '@meshguard/core';
import Database from 'better-sqlite3';
import createDebug from 'debug';
import { type AuditJournal, commitJournalLines, openAuditJournal } from './audit-journal';
import { recoverJournals } from './journal-files';
import { PARALLEL_THRESHOLD } from './parallel-verify';
import { preparePrivateSqliteFile } from './sqlite-open';
import { verifySqlite } from './sqlite-verify';
import { rowToEvent } from './stored-row';
import { assertTrailTables } from './trail-missing';
import { createCheckpointer } from './wal-checkpointer';

const debug = createDebug('meshguard:store');

/** Bumped when the schema changes; a newer file is refused rather than misread. */
export const SQLITE_SCHEMA_VERSION = 2;

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
}

export interface SqliteAuditStore extends AuditStore {
  readonly kind: 'sqlite';
  readonly path: string;
  readonly stream: string;
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
  /** @internal Appends events whose contexts the journal has redacted already. */
  appendRedacted(bodies: readonly AuditEventBody[]): Promise<AuditEvent[]>;
}

export interface StoreStats {
  total: number;
  byEffect: Array<{ key: string; count: number }>;
  byAction: Array<{ key: string; count: number }>;
  byAgent: Array<{ key: string; count: number }>;
  byType: Array<{ key: string; count: number }>;
}

/**
 * The agent index is by (bucket, agent id), a bucket being 4,096 consecutive positions, not by
 * agent id alone. Appends then land in the last bucket's few index pages, where an index by agent
 * id alone sends every event to its own agent's place: with many agents active, one index page per
 * event, each written to the WAL again at every commit. With 1,000 agents that index took half of
 * SQLite's time per append (7 of 16 us at 200,000 events, 14 of 24 us at 1,000,000); by bucket it
 * takes about 2 us at any size. A query by agent looks the agent up in each bucket, newest first:
 * a few microseconds per bucket, under a millisecond for 1,000,000 events.
 */
const BUCKET_BITS = 12;
const AGENT_INDEX = 'CREATE INDEX IF NOT EXISTS audit_events_agent ON audit_events (bucket, agent_id);';

// The hashed body is the one source of truth: every value a query filters on is computed from it,
// so no UPDATE can make a filter disagree with what the chain covers (SQLite refuses writes to
// generated columns). The indexed values are VIRTUAL generated columns (they cost nothing in the
// table; their indexes hold the values), and so are seq and effect, which plain SQL looks events
// up by; the queries read the others from the body themselves (FIELDS below). SQLite computes
// every generated column of a row on each insert, indexed or not, each a JSON lookup: schema 1's
// seven other columns cost about 2 us per event.
const DDL = `
CREATE TABLE IF NOT EXISTS meshguard_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS audit_streams (
  stream TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS audit_events (
  pos INTEGER PRIMARY KEY,
  stream TEXT NOT NULL,
  body TEXT NOT NULL,
  hash TEXT NOT NULL,
  id TEXT GENERATED ALWAYS AS (body ->> '$.id') VIRTUAL,
  seq INTEGER GENERATED ALWAYS AS (body ->> '$.seq') VIRTUAL,
  trace_id TEXT GENERATED ALWAYS AS (body ->> '$.traceId') VIRTUAL,
  agent_id TEXT GENERATED ALWAYS AS (body ->> '$.agent.id') VIRTUAL,
  effect TEXT GENERATED ALWAYS AS (body ->> '$.effect') VIRTUAL,
  bucket INTEGER GENERATED ALWAYS AS (pos >> ${BUCKET_BITS}) VIRTUAL
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS audit_events_id ON audit_events (id);
${AGENT_INDEX}
CREATE INDEX IF NOT EXISTS audit_events_trace ON audit_events (trace_id);
CREATE TABLE IF NOT EXISTS audit_agents (name TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (name, id)) WITHOUT ROWID, STRICT;
`;
// Each index costs as much to maintain as the row itself, so there are three: the event id
// (idempotency), the agent and the trace id (the queries that must answer in milliseconds).
// Events are listed in the order they were recorded (pos, the table's own key), which needs no
// index; agent names resolve to ids through the small audit_agents table.

const PAGE_SIZE = 8192;
const WAL_CHECKPOINT_BYTES = 40 * 1024 * 1024;
const CACHE_KIB = 16 * 1024;

/** How long journaled events gather on the worker before one commit takes them all. */
const JOURNAL_WINDOW_MS = 5;

/** Rows per multi-row INSERT, largest first (see `insertRows`). */
const ROWS_PER_INSERT = [64, 16, 4];

/** Thrown inside `appendNew` when an event turns out to be stored already. */
const SEEN = new Error('an event of this append is stored already');

/** Schema 1's generated columns that schema 2 reads from the body instead. */
const SCHEMA_1_COLUMNS = ['ts', 'type', 'decision_id', 'agent_name', 'framework', 'kind', 'action'];

/**
 * The values filters and stats use that have no column, read from the body. Cast to TEXT as
 * schema 1's TEXT columns were, so comparisons behave the same on files of either schema.
 */
const FIELDS = {
  ts: "CAST(body ->> '$.ts' AS TEXT)",
  type: "CAST(body ->> '$.type' AS TEXT)",
  decisionId: "CAST(body ->> '$.decisionId' AS TEXT)",
  agentName: "CAST(body ->> '$.agent.name' AS TEXT)",
  framework: "CAST(body ->> '$.framework' AS TEXT)",
  kind: "CAST(body ->> '$.kind' AS TEXT)",
  action: "CAST(body ->> '$.action' AS TEXT)",
  mode: "body ->> '$.mode'",
} as const;

/** Bodies from a journal line: their contexts were redacted before they were written to disk. */
const preRedacted = new WeakSet<object>();

interface Pending {
  bodies: readonly AuditEventBody[];
  resolve: (events: AuditEvent[]) => void;
  reject: (error: unknown) => void;
}

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
  // Created 0600 in a 0700 folder (a ConfigError names a file others can read and we cannot tighten).
  if (!readonly) preparePrivateSqliteFile(path);
  let db: Database.Database;
  try {
    db = new Database(path, { readonly, fileMustExist: readonly });
  } catch (error) {
    throw new ConfigError(
      readonly
        ? `cannot open the audit database "${path}": ${(error as Error).message}`
        : `cannot create the audit database "${path}": ${(error as Error).message}`,
      { code: 'store_unavailable', cause: error },
    );
  }
  let salt: string;
  try {
    db.pragma('busy_timeout = 5000');
    salt = prepareSchema(db, path, readonly);
    if (!readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
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
    // (see writeOne), and SQLite keeps a copy of every page it changes there. On disk that copy was
    // a second write of each page (a tenth of an append); it is only ever needed to roll back.
    db.pragma('temp_store = MEMORY');
  } catch (error) {
    db.close();
    if (MeshGuardError.isInstance(error)) throw error;
    throw new ConfigError(`"${path}" is not a MeshGuard audit database: ${(error as Error).message}`, {
      code: 'store_not_meshguard',
      cause: error,
    });
  }
  const redact = createRedactor({ keys: options.redactKeys, salt });

  const getHead = db.prepare<[string], { seq: number; hash: string }>(
    'SELECT seq, hash FROM audit_streams WHERE stream = ?',
  );
  const putHead = readonly
    ? undefined
    : db.prepare(
        'INSERT INTO audit_streams (stream, seq, hash) VALUES (?, ?, ?) ON CONFLICT(stream) DO UPDATE SET seq = excluded.seq, hash = excluded.hash',
      );
  const findById = db.prepare<[string], { body: string; hash: string }>(
    'SELECT body, hash FROM audit_events WHERE id = ?',
  );
  const insert = readonly
    ? undefined
    : db.prepare('INSERT INTO audit_events (stream, body, hash) VALUES (?, ?, ?) ON CONFLICT DO NOTHING');
  // One INSERT of many rows costs less than as many one-row INSERTs (about 1 us per event): events
  // known to be new go in statements of 64, 16 and 4 rows, prepared once.
  const insertRows = new Map(
    readonly
      ? []
      : ROWS_PER_INSERT.map((n) => [
          n,
          db.prepare(
            `INSERT INTO audit_events (stream, body, hash) VALUES ${'(?, ?, ?), '.repeat(n - 1)}(?, ?, ?) ON CONFLICT DO NOTHING`,
          ),
        ]),
  );
  const rememberAgent = readonly
    ? undefined
    : db.prepare('INSERT OR IGNORE INTO audit_agents (name, id) VALUES (?, ?)');
  const knownAgents = new Set<string>();

  interface Chain {
    seq: number;
    hash: string;
    /** Agents first seen in this transaction (marked known once it commits). */
    agents: Set<string>;
  }

  /** The next link of the chain: the body redacted, numbered, linked and hashed, and its canonical JSON. */
  const link = (input: AuditEventBody, seq: number, prevHash: string) => {
    const event = copyBody(preRedacted.has(input) ? input : redactBody(input, redact));
    event.stream = stream;
    event.seq = seq;
    event.prevHash = prevHash;
    const body = eventBody(event);
    // Read once, so V8 lays the string out flat here rather than twice (the hash and the insert
    // each read it): about 0.5 us per event.
    body.charCodeAt(0);
    event.hash = chainHash(prevHash, body);
    return { event, body };
  };

  /** Records the agents of new events under their names (queries by agent name). */
  const rememberAgents = (events: readonly AuditEvent[], agents: Set<string>) => {
    for (const event of events) {
      const agentKey = `${event.agent.name}\u0000${event.agent.id}`;
      if (!knownAgents.has(agentKey) && !agents.has(agentKey)) {
        rememberAgent!.run(event.agent.name, event.agent.id);
        agents.add(agentKey);
      }
    }
  };

  /**
   * Events none of which has been stored before (the usual case), several rows per INSERT. Any
   * event already stored makes one of those INSERTs add fewer rows than it was given: SEEN is
   * thrown, and the caller's savepoint rolls the work back. Nothing outside the database changes
   * until every row is in.
   */
  const insertNew = (
    bodies: readonly AuditEventBody[],
    chain: Chain,
    inBatch: Map<string, AuditEvent>,
  ): AuditEvent[] => {
    let { seq, hash } = chain;
    const out: AuditEvent[] = [];
    const params: string[] = [];
    for (let i = 0; i < bodies.length; ) {
      const left = bodies.length - i;
      const rows = ROWS_PER_INSERT.find((n) => n <= left) ?? 1;
      for (let j = i; j < i + rows; j++) {
        const input = bodies[j]!;
        if (inBatch.has(input.id)) throw SEEN;
        const { event, body } = link(input, ++seq, hash);
        hash = event.hash;
        params.push(stream, body, hash);
        out.push(event);
      }
      const statement = rows === 1 ? insert! : insertRows.get(rows)!;
      if (statement.run(params).changes !== rows) throw SEEN;
      params.length = 0;
      i += rows;
    }
    rememberAgents(out, chain.agents);
    for (const event of out) inBatch.set(event.id, event);
    chain.seq = seq;
    chain.hash = hash;
    return out;
  };

  /** One caller's new events, in a savepoint of their own. */
  const appendNew = readonly
    ? undefined
    : db.transaction((pending: Pending, chain: Chain, inBatch: Map<string, AuditEvent>) =>
        insertNew(pending.bodies, chain, inBatch),
      );

  /**
   * Every caller's events of a batch in one savepoint and as few INSERTs as possible: when many
   * callers append an event each (concurrent checks, a batched guard), a savepoint and an INSERT
   * per caller cost more than the rows. Anything unusual (an event stored before, one that cannot
   * be stored) rolls it back and the batch is written caller by caller instead.
   */
  const appendAll = readonly
    ? undefined
    : db.transaction((batch: Pending[], chain: Chain, inBatch: Map<string, AuditEvent>): AuditEvent[][] => {
        const stored = insertNew(
          batch.flatMap((pending) => pending.bodies),
          chain,
          inBatch,
        );
        let at = 0;
        return batch.map((pending) => {
          const start = at;
          at += pending.bodies.length;
          return stored.slice(start, at);
        });
      });

  /** One caller's events one by one: an event stored before is answered with the stored one. */
  const appendEach = readonly
    ? undefined
    : db.transaction((pending: Pending, chain: Chain, inBatch: Map<string, AuditEvent>): AuditEvent[] => {
        let { seq, hash } = chain;
        const out: AuditEvent[] = [];
        const added: AuditEvent[] = [];
        for (const input of pending.bodies) {
          const known = inBatch.get(input.id);
          if (known) {
            out.push(known);
            continue;
          }
          const { event, body } = link(input, seq + 1, hash);
          // The unique index on the event id answers "seen before?" as part of the insert.
          if (insert!.run(stream, body, event.hash).changes === 0) {
            out.push(existing(input.id)!);
            continue;
          }
          out.push(event);
          added.push(event);
          seq += 1;
          hash = event.hash;
        }
        rememberAgents(added, chain.agents);
        for (const event of out) inBatch.set(event.id, event);
        chain.seq = seq;
        chain.hash = hash;
        return out;
      });

  /** One caller's events, in a savepoint: an event that cannot be stored fails only its caller. */
  const writeOne = (pending: Pending, chain: Chain, inBatch: Map<string, AuditEvent>): AuditEvent[] => {
    try {
      return appendNew!(pending, chain, inBatch);
    } catch (error) {
      if (error !== SEEN) throw error;
      return appendEach!(pending, chain, inBatch);
    }
  };

  const write = readonly
    ? undefined
    : db.transaction((batch: Pending[]): Array<AuditEvent[] | Error> => {
        const head = getHead.get(stream) ?? { seq: 0, hash: GENESIS_HASH };
        const chain: Chain = { seq: head.seq, hash: head.hash, agents: new Set() };
        const inBatch = new Map<string, AuditEvent>();
        let results: Array<AuditEvent[] | Error> | undefined;
        if (batch.length > 1) {
          try {
            results = appendAll!(batch, chain, inBatch);
          } catch (error) {
            if (isStoreFailure(error)) throw error;
            // Rolled back, chain untouched: write caller by caller below.
          }
        }
        results ??= batch.map((pending) => {
          try {
            return writeOne!(pending, chain, inBatch);
          } catch (error) {
            if (isStoreFailure(error)) throw error; // the store itself failed
            return error instanceof Error ? error : new Error(String(error));
          }
        });
        if (chain.seq !== head.seq) putHead!.run(stream, chain.seq, chain.hash);
        return Object.assign(results, { agents: chain.agents });
      });

  function isStoreFailure(error: unknown): boolean {
    return Boolean((error as { code?: string } | undefined)?.code?.startsWith('SQLITE_'));
  }

  function existing(id: string): AuditEvent | undefined {
    const row = findById.get(id);
    return row ? rowToEvent(row.body, row.hash) : undefined;
  }

  const checkpointer =
    readonly || options.backgroundCheckpoints === false
      ? undefined
      : createCheckpointer({ path, synchronous: options.synchronous === 'full' ? 'FULL' : 'NORMAL' });
  let queue: Pending[] = [];
  let scheduled = false;
  let closed = false;
  const flush = () => {
    scheduled = false;
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    try {
      const results = write!.immediate(batch) as Array<AuditEvent[] | Error> & { agents: Set<string> };
      checkpointer?.committed(batch.reduce((n, p) => n + p.bodies.length, 0));
      // Only once committed: a rolled-back batch must not leave agents marked as recorded.
      for (const agent of results.agents) if (knownAgents.size < 100_000) knownAgents.add(agent);
      batch.forEach((p, i) => {
        const result = results[i]!;
        if (result instanceof Error) {
          p.reject(
            new MeshGuardError(`the audit store could not record an event: ${result.message}`, {
              code: 'store_event_invalid',
              cause: result,
            }),
          );
        } else {
          p.resolve(result);
        }
      });
    } catch (error) {
      debug('append failed: %O', error);
      const wrapped = new MeshGuardError(`the audit store could not append: ${(error as Error).message}`, {
        code: 'store_write_failed',
        cause: error,
      });
      for (const p of batch) p.reject(wrapped);
    }
  };

  const agentIds = db.prepare<[string], { id: string }>('SELECT id FROM audit_agents WHERE name = ?');
  const buckets = hasBuckets(db);
  const where = (filter: ParsedAuditFilter) =>
    buildWhere(filter, buckets, (agent) => [...new Set([agent, ...agentIds.all(agent).map((r) => r.id)])]);

  function enqueue(bodies: readonly AuditEventBody[]): Promise<AuditEvent[]> {
    if (closed)
      return Promise.reject(new MeshGuardError('the audit store is closed', { code: 'store_closed' }));
    if (readonly) {
      return Promise.reject(
        new MeshGuardError('the audit store is open read-only', { code: 'store_readonly' }),
      );
    }
    if (bodies.length === 0) return Promise.resolve([]);
    return new Promise<AuditEvent[]>((resolve, reject) => {
      queue.push({ bodies, resolve, reject });
      if (!scheduled) {
        scheduled = true;
        // Appends made in the same turn of the event loop share one transaction (group commit).
        setImmediate(flush);
      }
    });
  }

  const journalOn = !readonly && path !== ':memory:' && options.journal !== false;
  let journal: AuditJournal | undefined;
  if (journalOn) {
    // Journals a crashed writer left: their events go in before anything new.
    const replayed = recoverJournals(path, (lines) => {
      for (const bodies of lines) for (const body of bodies) preRedacted.add(body);
      const results = write!.immediate(
        lines.map((bodies) => ({ bodies, resolve: () => {}, reject: () => {} })),
      ) as Array<AuditEvent[] | Error>;
      for (const result of results)
        if (result instanceof Error) debug('a replayed journal line was refused: %O', result);
    });
    if (replayed > 0) debug('replayed %d event(s) from journals left behind', replayed);
  }

  const store: SqliteAuditStore = {
    kind: 'sqlite',
    path,
    stream,
    append: enqueue,
    appendRedacted(bodies) {
      for (const body of bodies) preRedacted.add(body);
      return enqueue(bodies);
    },
    // Plain members, not spread in: a spread would copy the getter's value once, not the getter.
    journal: journalOn
      ? (bodies: readonly AuditEventBody[]) => {
          if (closed) throw new MeshGuardError('the audit store is closed', { code: 'store_closed' });
          journal ??= openAuditJournal(
            {
              path,
              stream,
              synchronous: options.synchronous ?? 'normal',
              redactKeys: options.redactKeys,
              windowMs: JOURNAL_WINDOW_MS,
            },
            redact,
            commitJournalLines({ appendRedacted: (b) => store.appendRedacted(b) }),
          );
          return journal.write(bodies);
        }
      : undefined,
    drain() {
      return journal ? journal.drain() : Promise.resolve();
    },
    get journalFailure() {
      return journal?.failure;
    },
    async query(input) {
      const filter = parseFilter(input);
      const { sql, params } = where(filter);
      const desc = filter.order === 'desc';
      let cursorSql = '';
      if (filter.cursor) {
        cursorSql = `${sql ? ' AND' : ' WHERE'} pos ${desc ? '<' : '>'} ?`;
        params.push(decodePosCursor(filter.cursor));
      }
      const rows = db
        .prepare<unknown[], { body: string; hash: string; pos: number }>(
          `SELECT body, hash, pos FROM audit_events${sql}${cursorSql} ${orderBy(filter, buckets)} LIMIT ?`,
        )
        .all(...params, filter.limit + 1);
      const page = rows.slice(0, filter.limit);
      const events = page.map((r) => rowToEvent(r.body, r.hash));
      const last = page[page.length - 1];
      return rows.length > filter.limit && last
        ? { events, nextCursor: encodePosCursor(last.pos) }
        : { events };
    },
    *iterate(input = {}) {
      const filter = parseFilter({ ...input, limit: 1 });
      const { sql, params } = where(filter);
      const statement = db.prepare<unknown[], { body: string; hash: string }>(
        `SELECT body, hash FROM audit_events${sql} ${orderBy(filter, buckets)}`,
      );
      for (const row of statement.iterate(...params)) yield rowToEvent(row.body, row.hash);
    },
    after(cursor, limit = 1000) {
      if (cursor === undefined) {
        const end = db.prepare('SELECT coalesce(max(pos), 0) AS pos FROM audit_events').get() as {
          pos: number;
        };
        return { events: [], cursor: encodePosCursor(end.pos) };
      }
      const from = decodePosCursor(cursor);
      const rows = db
        .prepare<[number, number], { body: string; hash: string; pos: number }>(
          'SELECT body, hash, pos FROM audit_events WHERE pos > ? ORDER BY pos LIMIT ?',
        )
        .all(from, limit);
      const last = rows[rows.length - 1];
      return {
        events: rows.map((r) => rowToEvent(r.body, r.hash)),
        cursor: encodePosCursor(last ? last.pos : from),
      };
    },
    latest(n) {
      const rows = db
        .prepare<[number], { body: string; hash: string; pos: number }>(
          'SELECT body, hash, pos FROM audit_events ORDER BY pos DESC LIMIT ?',
        )
        .all(n)
        .reverse();
      const last = rows[rows.length - 1];
      return {
        events: rows.map((r) => rowToEvent(r.body, r.hash)),
        cursor: encodePosCursor(last ? last.pos : 0),
      };
    },
    count(input = {}) {
      const { sql, params } = where(parseFilter({ ...input, limit: 1 }));
      return db
        .prepare<unknown[], { n: number }>(`SELECT count(*) AS n FROM audit_events${sql}`)
        .get(...params)!.n;
    },
    stats(input = {}) {
      const { sql, params } = where(parseFilter({ ...input, limit: 1 }));
      const group = (column: string, limit: number) =>
        db
          .prepare<unknown[], { key: string; count: number }>(
            `SELECT ${column} AS key, count(*) AS count FROM audit_events${sql} GROUP BY key ORDER BY count DESC, key LIMIT ${limit}`,
          )
          .all(...params);
      const decisions = `${sql ? `${sql} AND` : ' WHERE'} ${FIELDS.type} = 'decision' AND ${FIELDS.mode} = 'enforce'`;
      return {
        total: db
          .prepare<unknown[], { n: number }>(`SELECT count(*) AS n FROM audit_events${sql}`)
          .get(...params)!.n,
        byEffect: db
          .prepare<unknown[], { key: string; count: number }>(
            `SELECT effect AS key, count(*) AS count FROM audit_events${decisions} GROUP BY effect ORDER BY count DESC, key`,
          )
          .all(...params),
        byAction: group(FIELDS.action, 20),
        byAgent: group(FIELDS.agentName, 20),
        byType: group(FIELDS.type, 10),
      };
    },
    async verify() {
      return verifySqlite(db, path, options.parallelVerifyFrom ?? PARALLEL_THRESHOLD);
    },
    async close() {
      if (closed) return;
      await journal?.close();
      closed = true;
      if (scheduled) flush();
      await checkpointer?.close();
      db.close();
    },
  };
  return store;
}

/**
 * A copy of a body to chain: `{ ...body }` with the chain fields to add. Object.assign makes the
 * same object as the spread (own enumerable members, in order) about 15x faster once members are
 * added to it; only an own `__proto__` member, which assignment would not copy as a member, takes
 * the spread.
 */
function copyBody(body: AuditEventBody): AuditEvent {
  return (Object.hasOwn(body, '__proto__') ? { ...body } : Object.assign({}, body)) as AuditEvent;
}

function parseFilter(input: AuditFilter): ParsedAuditFilter {
  return parseWithSchema(AuditFilterSchema, input, 'filter');
}

/** Cursors are opaque to callers: here, base64url of the last event's stored position. */
function encodePosCursor(pos: number): string {
  return Buffer.from(`pos:${pos}`).toString('base64url');
}

function decodePosCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^pos:(\d+)$/.exec(text);
  if (!match) throw new ValidationError('cursor', 'not a cursor returned by a previous query');
  return Number(match[1]);
}

/** Whether the file has schema 2's agent index by bucket (a read-only schema 1 file has not). */
function hasBuckets(db: Database.Database): boolean {
  return (db.prepare('PRAGMA table_xinfo(audit_events)').all() as Array<{ name: string }>).some(
    (c) => c.name === 'bucket',
  );
}

// Every bucket from the first to the last, for the agent index's (bucket, agent_id) lookups.
const ALL_BUCKETS = `bucket IN (WITH RECURSIVE b(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM b WHERE n < (SELECT max(pos) >> ${BUCKET_BITS} FROM audit_events)) SELECT n FROM b)`;

/**
 * Stored order, oldest or newest first. With an agent filter, by bucket then position (the same
 * order, as a bucket is a range of positions): the agent index yields it as it is, bucket by
 * bucket, with no sort.
 */
function orderBy(filter: ParsedAuditFilter, buckets: boolean): string {
  const direction = filter.order === 'desc' ? 'DESC' : 'ASC';
  return buckets && filter.agent !== undefined
    ? `ORDER BY bucket ${direction}, pos ${direction}`
    : `ORDER BY pos ${direction}`;
}

/** SQL for the filter fields; the action glob becomes a GLOB with its metacharacters escaped. */
function buildWhere(
  filter: ParsedAuditFilter,
  buckets: boolean,
  agentIdsFor: (agent: string) => string[],
): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (filter.agent !== undefined) {
    // An agent is asked for by id or by name: names resolve to the ids recorded under them.
    const ids = agentIdsFor(filter.agent);
    if (buckets) clauses.push(ALL_BUCKETS);
    clauses.push(`agent_id IN (${ids.map(() => '?').join(', ')})`);
    params.push(...ids);
  }
  if (filter.action !== undefined) {
    if (filter.action.includes('*')) {
      clauses.push(`${FIELDS.action} GLOB ?`);
      params.push(filter.action.replace(/[[?]/g, (c) => `[${c}]`));
    } else {
      clauses.push(`${FIELDS.action} = ?`);
      params.push(filter.action);
    }
  }
  if (filter.framework !== undefined) {
    // Either spelling of a renamed framework finds its events, old and new (core's alias table).
    const spellings = frameworkSpellings(filter.framework);
    clauses.push(`${FIELDS.framework} IN (${spellings.map(() => '?').join(', ')})`);
    params.push(...spellings);
  }
  const equal: Array<[keyof ParsedAuditFilter, string]> = [
    ['effect', 'effect'],
    ['kind', FIELDS.kind],
    ['type', FIELDS.type],
    ['traceId', 'trace_id'],
    ['decisionId', FIELDS.decisionId],
  ];
  for (const [key, column] of equal) {
    const value = filter[key];
    if (value !== undefined) {
      clauses.push(`${column} = ?`);
      params.push(value);
    }
  }
  if (filter.since !== undefined) {
    clauses.push(`${FIELDS.ts} >= ?`);
    params.push(isoBound('since', filter.since));
  }
  if (filter.until !== undefined) {
    clauses.push(`${FIELDS.ts} < ?`);
    params.push(isoBound('until', filter.until));
  }
  return { sql: clauses.length > 0 ? ` WHERE ${clauses.join(' AND ')}` : '', params };
}

function isoBound(field: string, text: string): string {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new ValidationError(field, `"${text}" is not an ISO time`);
  return new Date(ms).toISOString();
}

function prepareSchema(db: Database.Database, path: string, readonly: boolean): string {
  const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
  const hasMeta = () =>
    count("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'meshguard_meta'") > 0;
  const notOurs = () =>
    new ConfigError(`"${path}" is not a MeshGuard audit database (it has no meshguard_meta table)`, {
      code: 'store_not_meshguard',
    });
  if (!hasMeta()) {
    if (readonly) throw notOurs();
    // 8 KiB pages rather than 4: an append's commit writes half as many WAL frames (about 1 us per
    // event). It applies when the file is first written (set outside the transaction, which fixes
    // it); an existing file keeps its page size.
    db.pragma(`page_size = ${PAGE_SIZE}`);
    // Checked again inside the write lock: several processes may open a new file at once.
    db.transaction(() => {
      if (hasMeta()) return;
      if (count("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'") > 0) throw notOurs();
      db.exec(DDL);
      const insert = db.prepare('INSERT INTO meshguard_meta (key, value) VALUES (?, ?)');
      insert.run('format', 'meshguard-audit');
      insert.run('schema_version', String(SQLITE_SCHEMA_VERSION));
      insert.run('redaction_salt', randomBytes(32).toString('hex'));
      insert.run('created_at', new Date().toISOString());
    }).immediate();
  }
  const meta = new Map(
    (db.prepare('SELECT key, value FROM meshguard_meta').all() as Array<{ key: string; value: string }>).map(
      (r) => [r.key, r.value],
    ),
  );
  if (meta.get('format') !== 'meshguard-audit') {
    throw new ConfigError(`"${path}" is not a MeshGuard audit database`, { code: 'store_not_meshguard' });
  }
  const version = Number(meta.get('schema_version'));
  if (version > SQLITE_SCHEMA_VERSION) {
    throw new ConfigError(
      `"${path}" was written by a newer MeshGuard (schema ${version}; this one reads up to ${SQLITE_SCHEMA_VERSION}): upgrade @meshguard/store`,
      { code: 'store_too_new' },
    );
  }
  assertTrailTables(db, path);
  if (version < SQLITE_SCHEMA_VERSION && !readonly) migrate(db);
  const salt = meta.get('redaction_salt');
  if (!salt)
    throw new ConfigError(`"${path}" has no redaction salt: the file is damaged`, { code: 'store_damaged' });
  return salt;
}

/**
 * Brings a file of an older schema up to this one, under the write lock (another writer may be
 * doing the same). Schema 1 -> 2 drops seven unindexed generated columns (the table's definition
 * only: VIRTUAL columns are not stored in the rows) and rebuilds the agent index by bucket, which
 * reads every event once (a few seconds for a million). A read-only store opens a schema 1 file as
 * it is (see `hasBuckets`).
 */
function migrate(db: Database.Database): void {
  db.transaction(() => {
    const row = db.prepare("SELECT value FROM meshguard_meta WHERE key = 'schema_version'").get() as
      | { value: string }
      | undefined;
    if (Number(row?.value) !== 1) return;
    db.exec('DROP INDEX IF EXISTS audit_events_agent');
    for (const column of SCHEMA_1_COLUMNS) db.exec(`ALTER TABLE audit_events DROP COLUMN ${column}`);
    db.exec(
      `ALTER TABLE audit_events ADD COLUMN bucket INTEGER GENERATED ALWAYS AS (pos >> ${BUCKET_BITS}) VIRTUAL`,
    );
    db.exec(AGENT_INDEX);
    db.prepare("UPDATE meshguard_meta SET value = ? WHERE key = 'schema_version'").run(
      String(SQLITE_SCHEMA_VERSION),
    );
    debug('migrated %s from schema 1 to %d', db.name, SQLITE_SCHEMA_VERSION);
  }).immediate();
}
