import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  type AuditEvent,
  type AuditEventBody,
  type AuditFilter,
  AuditFilterSchema,
  type AuditStore,
  type ChainProblem,
  ConfigError,
  chainHash,
  createRedactor,
  eventBody,
  GENESIS_HASH,
  MeshGuardError,
  type ParsedAuditFilter,
  type StreamReport,
  StreamVerifier,
  ValidationError,
  type VerifyReport,
} from '@meshguard/core';
import Database from 'better-sqlite3';
import createDebug from 'debug';
import { type ChainScan, PARALLEL_THRESHOLD, scanInParallel } from './parallel-verify';

const debug = createDebug('meshguard:store');

/** Bumped when the schema changes; a newer file is refused rather than misread. */
export const SQLITE_SCHEMA_VERSION = 1;

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
}

export interface StoreStats {
  total: number;
  byEffect: Array<{ key: string; count: number }>;
  byAction: Array<{ key: string; count: number }>;
  byAgent: Array<{ key: string; count: number }>;
  byType: Array<{ key: string; count: number }>;
}

// The hashed body is the one source of truth: every column a query filters on is generated from
// it, so no UPDATE can make a column disagree with what the chain covers (SQLite refuses writes to
// generated columns). VIRTUAL columns cost nothing in the table; their indexes hold the values.
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
  ts TEXT GENERATED ALWAYS AS (body ->> '$.ts') VIRTUAL,
  type TEXT GENERATED ALWAYS AS (body ->> '$.type') VIRTUAL,
  trace_id TEXT GENERATED ALWAYS AS (body ->> '$.traceId') VIRTUAL,
  decision_id TEXT GENERATED ALWAYS AS (body ->> '$.decisionId') VIRTUAL,
  agent_id TEXT GENERATED ALWAYS AS (body ->> '$.agent.id') VIRTUAL,
  agent_name TEXT GENERATED ALWAYS AS (body ->> '$.agent.name') VIRTUAL,
  framework TEXT GENERATED ALWAYS AS (body ->> '$.framework') VIRTUAL,
  kind TEXT GENERATED ALWAYS AS (body ->> '$.kind') VIRTUAL,
  action TEXT GENERATED ALWAYS AS (body ->> '$.action') VIRTUAL,
  effect TEXT GENERATED ALWAYS AS (body ->> '$.effect') VIRTUAL
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS audit_events_id ON audit_events (id);
CREATE INDEX IF NOT EXISTS audit_events_agent ON audit_events (agent_id);
CREATE INDEX IF NOT EXISTS audit_events_trace ON audit_events (trace_id);
CREATE TABLE IF NOT EXISTS audit_agents (name TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (name, id)) WITHOUT ROWID, STRICT;
`;
// Each index costs as much to maintain as the row itself, so there are three: the event id
// (idempotency), the agent id and the trace id (the queries that must answer in milliseconds).
// Events are listed in the order they were recorded (pos, the table's own key), which needs no
// index; agent names resolve to ids through the small audit_agents table.

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
  if (!readonly && path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
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
      // between checkpoints are copied back once (about 10% faster ingest).
      db.pragma('wal_autocheckpoint = 10000');
    }
    // 64 MiB of page cache keeps the hot index pages in memory (the default is 2 MiB).
    db.pragma('cache_size = -65536');
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
  const rememberAgent = readonly
    ? undefined
    : db.prepare('INSERT OR IGNORE INTO audit_agents (name, id) VALUES (?, ?)');
  const knownAgents = new Set<string>();

  interface Chain {
    seq: number;
    hash: string;
    agents: string[];
  }

  /** One caller's events, in a savepoint: an event that cannot be stored fails only its caller. */
  const writeOne = readonly
    ? undefined
    : db.transaction((pending: Pending, chain: Chain, inBatch: Map<string, AuditEvent>): AuditEvent[] => {
        let { seq, hash } = chain;
        const agents: string[] = [];
        const out: AuditEvent[] = [];
        for (const input of pending.bodies) {
          const known = inBatch.get(input.id);
          if (known) {
            out.push(known);
            continue;
          }
          const unsigned = {
            ...(input.context ? { ...input, context: redact(input.context) } : input),
            stream,
            seq: seq + 1,
            prevHash: hash,
          };
          const body = eventBody(unsigned as Omit<AuditEvent, 'hash'>);
          const next = chainHash(hash, body);
          // The unique index on the event id answers "seen before?" as part of the insert.
          if (insert!.run(stream, body, next).changes === 0) {
            out.push(existing(input.id)!);
            continue;
          }
          const agentKey = `${unsigned.agent.name}\u0000${unsigned.agent.id}`;
          if (!knownAgents.has(agentKey)) {
            rememberAgent!.run(unsigned.agent.name, unsigned.agent.id);
            agents.push(agentKey);
          }
          out.push({ ...unsigned, hash: next } as AuditEvent);
          seq += 1;
          hash = next;
        }
        for (const event of out) inBatch.set(event.id, event);
        chain.seq = seq;
        chain.hash = hash;
        chain.agents.push(...agents);
        return out;
      });

  const write = readonly
    ? undefined
    : db.transaction((batch: Pending[]): Array<AuditEvent[] | Error> => {
        const head = getHead.get(stream) ?? { seq: 0, hash: GENESIS_HASH };
        const chain: Chain = { seq: head.seq, hash: head.hash, agents: [] };
        const inBatch = new Map<string, AuditEvent>();
        const results = batch.map((pending) => {
          try {
            return writeOne!(pending, chain, inBatch);
          } catch (error) {
            if ((error as { code?: string }).code?.startsWith('SQLITE_')) throw error; // the store itself failed
            return error instanceof Error ? error : new Error(String(error));
          }
        });
        if (chain.seq !== head.seq) putHead!.run(stream, chain.seq, chain.hash);
        return Object.assign(results, { agents: chain.agents });
      });

  function existing(id: string): AuditEvent | undefined {
    const row = findById.get(id);
    return row ? rowToEvent(row.body, row.hash) : undefined;
  }

  let queue: Pending[] = [];
  let scheduled = false;
  let closed = false;
  const flush = () => {
    scheduled = false;
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    try {
      const results = write!.immediate(batch) as Array<AuditEvent[] | Error> & { agents: string[] };
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
  const where = (filter: ParsedAuditFilter) =>
    buildWhere(filter, (agent) => [...new Set([agent, ...agentIds.all(agent).map((r) => r.id)])]);

  return {
    kind: 'sqlite',
    path,
    stream,
    append(bodies) {
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
          `SELECT body, hash, pos FROM audit_events${sql}${cursorSql} ORDER BY pos ${desc ? 'DESC' : 'ASC'} LIMIT ?`,
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
        `SELECT body, hash FROM audit_events${sql} ORDER BY pos ${filter.order === 'desc' ? 'DESC' : 'ASC'}`,
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
            `SELECT ${column} AS key, count(*) AS count FROM audit_events${sql} GROUP BY ${column} ORDER BY count DESC, key LIMIT ${limit}`,
          )
          .all(...params);
      const decisions = `${sql ? `${sql} AND` : ' WHERE'} type = 'decision' AND body ->> '$.mode' = 'enforce'`;
      return {
        total: db
          .prepare<unknown[], { n: number }>(`SELECT count(*) AS n FROM audit_events${sql}`)
          .get(...params)!.n,
        byEffect: db
          .prepare<unknown[], { key: string; count: number }>(
            `SELECT effect AS key, count(*) AS count FROM audit_events${decisions} GROUP BY effect ORDER BY count DESC, key`,
          )
          .all(...params),
        byAction: group('action', 20),
        byAgent: group('agent_name', 20),
        byType: group('type', 10),
      };
    },
    async verify() {
      return verifySqlite(db, path, options.parallelVerifyFrom ?? PARALLEL_THRESHOLD);
    },
    async close() {
      if (closed) return;
      closed = true;
      if (scheduled) flush();
      db.close();
    },
  };
}

function parseFilter(input: AuditFilter): ParsedAuditFilter {
  const parsed = AuditFilterSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ValidationError(issue.path.join('.') || 'filter', issue.message);
  }
  return parsed.data;
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

function rowToEvent(body: string, hash: string): AuditEvent {
  const event = JSON.parse(body) as AuditEvent;
  event.hash = hash;
  return event;
}

/** SQL for the filter fields; the action glob becomes a GLOB with its metacharacters escaped. */
function buildWhere(
  filter: ParsedAuditFilter,
  agentIdsFor: (agent: string) => string[],
): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (filter.agent !== undefined) {
    // An agent is asked for by id or by name: names resolve to the ids recorded under them.
    const ids = agentIdsFor(filter.agent);
    clauses.push(`agent_id IN (${ids.map(() => '?').join(', ')})`);
    params.push(...ids);
  }
  if (filter.action !== undefined) {
    if (filter.action.includes('*')) {
      clauses.push('action GLOB ?');
      params.push(filter.action.replace(/[[?]/g, (c) => `[${c}]`));
    } else {
      clauses.push('action = ?');
      params.push(filter.action);
    }
  }
  const equal: Array<[keyof ParsedAuditFilter, string]> = [
    ['effect', 'effect'],
    ['framework', 'framework'],
    ['kind', 'kind'],
    ['type', 'type'],
    ['traceId', 'trace_id'],
    ['decisionId', 'decision_id'],
  ];
  for (const [key, column] of equal) {
    const value = filter[key];
    if (value !== undefined) {
      clauses.push(`${column} = ?`);
      params.push(value);
    }
  }
  if (filter.since !== undefined) {
    clauses.push('ts >= ?');
    params.push(isoBound('since', filter.since));
  }
  if (filter.until !== undefined) {
    clauses.push('ts < ?');
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
  const salt = meta.get('redaction_salt');
  if (!salt)
    throw new ConfigError(`"${path}" has no redaction salt: the file is damaged`, { code: 'store_damaged' });
  return salt;
}

/**
 * Verifies every stream in one pass over the table in stored order: each body is hashed onto the
 * previous hash of its stream (no JSON parsing on the happy path), and each stream's end is
 * compared with its recorded head. Only at a break are events parsed to say what is wrong.
 */
async function verifySqlite(
  db: Database.Database,
  path: string,
  parallelFrom: number,
): Promise<VerifyReport> {
  // The heads and the last position are read in one snapshot, and only rows up to that position
  // are scanned: a writer appending meanwhile adds rows after it and cannot make the trail look
  // broken.
  const snapshot = db.transaction(() => ({
    heads: db.prepare('SELECT stream, seq, hash FROM audit_streams').all() as Array<{
      stream: string;
      seq: number;
      hash: string;
    }>,
    bounds: db.prepare('SELECT min(pos) AS lo, max(pos) AS hi FROM audit_events').get() as {
      lo: number | null;
      hi: number | null;
    },
  }))();
  const heads = new Map(snapshot.heads.map((h) => [h.stream, h]));
  const { lo, hi } = snapshot.bounds;
  const scan =
    lo === null || hi === null
      ? { state: new Map<string, { hash: string; count: number }>(), checked: 0, threads: 1 }
      : ((await scanInParallel(path, lo, hi, parallelFrom)) ?? scanSequentially(db, hi));
  const { state, checked, threads } = scan;
  if (scan.broken) {
    const problem = diagnose(db, scan.broken.stream, scan.broken.pos);
    return { ok: false, checked, threads, streams: reports(state), problem };
  }
  for (const stream of heads.keys())
    if (!state.has(stream)) state.set(stream, { hash: GENESIS_HASH, count: 0 });
  for (const [stream, s] of [...state].sort(([a], [b]) => a.localeCompare(b))) {
    const head = heads.get(stream);
    if (head && head.seq === s.count && head.hash === s.hash) continue;
    const last = db
      .prepare('SELECT id, seq FROM audit_events WHERE stream = ? ORDER BY pos DESC LIMIT 1')
      .get(stream) as { id: string; seq: number } | undefined;
    const problem: ChainProblem = !head
      ? {
          stream,
          seq: s.count,
          id: last?.id ?? '',
          kind: 'edited',
          message: `stream "${stream}" has events but no recorded head: the head was deleted`,
        }
      : head.seq > s.count
        ? {
            stream,
            seq: s.count + 1,
            id: '',
            kind: 'truncated',
            message: `stream "${stream}" ends at seq ${s.count}, but its head records seq ${head.seq}: events were removed from the end`,
          }
        : {
            stream,
            seq: last?.seq ?? s.count,
            id: last?.id ?? '',
            kind: 'edited',
            message: `stream "${stream}"'s recorded head (seq ${head.seq}) does not match its last event (seq ${s.count})`,
          };
    return { ok: false, checked, threads, streams: reports(state), problem };
  }
  return { ok: true, checked, threads, streams: reports(state) };
}

/** One pass over the table in stored order, each body hashed onto its stream's previous hash. */
function scanSequentially(db: Database.Database, lastPos: number): ChainScan {
  const state = new Map<string, { hash: string; count: number }>();
  const rows = db.prepare<[number], [string, string, string, number]>(
    'SELECT stream, body, hash, pos FROM audit_events WHERE pos <= ? ORDER BY pos',
  );
  rows.raw(true);
  let checked = 0;
  for (const [stream, body, hash, pos] of rows.iterate(lastPos)) {
    let s = state.get(stream);
    if (!s) {
      s = { hash: GENESIS_HASH, count: 0 };
      state.set(stream, s);
    }
    if (chainHash(s.hash, body) !== hash) return { state, checked, threads: 1, broken: { stream, pos } };
    s.hash = hash;
    s.count++;
    checked++;
  }
  return { state, checked, threads: 1 };
}

function reports(state: Map<string, { hash: string; count: number }>): StreamReport[] {
  return [...state]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([stream, s]) => ({ stream, events: s.count, lastSeq: s.count, lastHash: s.hash }));
}

/** Parses the stream (only when broken) to say whether events were edited, removed or reordered. */
function diagnose(db: Database.Database, stream: string, brokenPos: number): ChainProblem {
  const rows = db
    .prepare('SELECT body, hash, pos FROM audit_events WHERE stream = ? ORDER BY pos')
    .all(stream) as Array<{ body: string; hash: string; pos: number }>;
  const events: AuditEvent[] = [];
  for (const row of rows) {
    try {
      events.push(rowToEvent(row.body, row.hash));
    } catch {
      const seq = events.length + 1;
      return {
        stream,
        seq,
        id: '',
        kind: 'edited',
        message: `the event at seq ${seq} is not valid JSON: it was edited`,
      };
    }
  }
  const verifier = new StreamVerifier(stream);
  const seqs = new Set(events.map((e) => e.seq));
  for (const event of events) if (!verifier.push(event, seqs)) break;
  if (verifier.problem) return verifier.problem;
  const at = rows.findIndex((r) => r.pos === brokenPos);
  const event = events[at]!;
  return {
    stream,
    seq: event.seq,
    id: event.id,
    kind: 'edited',
    message: `event ${event.id} (seq ${event.seq}) does not match its hash: it was edited`,
  };
}
