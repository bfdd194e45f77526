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
  canonicalJson,
  chainHash,
  createRedactor,
  decodeCursor,
  encodeCursor,
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
}

export interface SqliteAuditStore extends AuditStore {
  readonly kind: 'sqlite';
  readonly path: string;
  readonly stream: string;
  /** Streams events in stored order, oldest first, without loading them all (export). */
  iterate(filter?: AuditFilter): IterableIterator<AuditEvent>;
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

const DDL = `
CREATE TABLE IF NOT EXISTS meshguard_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS audit_streams (
  stream TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS audit_events (
  pos INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  stream TEXT NOT NULL,
  seq INTEGER NOT NULL,
  ts TEXT NOT NULL,
  type TEXT NOT NULL,
  trace_id TEXT NOT NULL,
  decision_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  agent_name TEXT NOT NULL,
  framework TEXT NOT NULL,
  kind TEXT NOT NULL,
  action TEXT NOT NULL,
  effect TEXT NOT NULL,
  body TEXT NOT NULL,
  hash TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS audit_events_stream ON audit_events (stream, seq);
CREATE INDEX IF NOT EXISTS audit_events_ts ON audit_events (ts, id);
CREATE INDEX IF NOT EXISTS audit_events_agent_id ON audit_events (agent_id, ts, id);
CREATE INDEX IF NOT EXISTS audit_events_agent_name ON audit_events (agent_name, ts, id);
CREATE INDEX IF NOT EXISTS audit_events_trace ON audit_events (trace_id, ts, id);
CREATE INDEX IF NOT EXISTS audit_events_decision ON audit_events (decision_id);
`;

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
    salt = prepareSchema(db, path, readonly);
    if (!readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    }
    db.pragma('busy_timeout = 5000');
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
    : db.prepare(
        `INSERT INTO audit_events (id, stream, seq, ts, type, trace_id, decision_id, agent_id, agent_name, framework, kind, action, effect, body, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );

  const write = readonly
    ? undefined
    : db.transaction((batch: Pending[]): AuditEvent[][] => {
        const head = getHead.get(stream) ?? { seq: 0, hash: GENESIS_HASH };
        let { seq, hash } = head;
        const results: AuditEvent[][] = [];
        const inBatch = new Map<string, AuditEvent>();
        for (const pending of batch) {
          const out: AuditEvent[] = [];
          for (const input of pending.bodies) {
            const known = inBatch.get(input.id) ?? existing(input.id);
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
            const body = canonicalJson(unsigned);
            const next = chainHash(hash, body);
            insert!.run(
              unsigned.id,
              stream,
              unsigned.seq,
              unsigned.ts,
              unsigned.type,
              unsigned.traceId,
              unsigned.decisionId,
              unsigned.agent.id,
              unsigned.agent.name,
              unsigned.framework,
              unsigned.kind,
              unsigned.action,
              unsigned.effect,
              body,
              next,
            );
            const event = { ...unsigned, hash: next } as AuditEvent;
            inBatch.set(event.id, event);
            out.push(event);
            seq += 1;
            hash = next;
          }
          results.push(out);
        }
        if (seq !== head.seq) putHead!.run(stream, seq, hash);
        return results;
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
      const results = write!.immediate(batch);
      batch.forEach((p, i) => {
        p.resolve(results[i]!);
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

  const where = (filter: ParsedAuditFilter) => buildWhere(filter);

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
        const after = decodeCursor(filter.cursor);
        cursorSql = `${sql ? ' AND' : ' WHERE'} (ts, id) ${desc ? '<' : '>'} (?, ?)`;
        params.push(after.ts, after.id);
      }
      const rows = db
        .prepare<unknown[], { body: string; hash: string }>(
          `SELECT body, hash FROM audit_events${sql}${cursorSql} ORDER BY ts ${desc ? 'DESC' : 'ASC'}, id ${desc ? 'DESC' : 'ASC'} LIMIT ?`,
        )
        .all(...params, filter.limit + 1);
      const events = rows.slice(0, filter.limit).map((r) => rowToEvent(r.body, r.hash));
      const last = events[events.length - 1];
      return rows.length > filter.limit && last ? { events, nextCursor: encodeCursor(last) } : { events };
    },
    *iterate(input = {}) {
      const filter = parseFilter({ ...input, limit: 1 });
      const { sql, params } = where(filter);
      const order = filter.order === 'desc' ? 'DESC' : 'ASC';
      const statement = db.prepare<unknown[], { body: string; hash: string }>(
        `SELECT body, hash FROM audit_events${sql} ORDER BY ts ${order}, id ${order}`,
      );
      for (const row of statement.iterate(...params)) yield rowToEvent(row.body, row.hash);
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
      const decisions = sql ? `${sql} AND type = 'decision'` : " WHERE type = 'decision'";
      return {
        total: db
          .prepare<unknown[], { n: number }>(`SELECT count(*) AS n FROM audit_events${sql}`)
          .get(...params)!.n,
        byEffect: db
          .prepare<unknown[], { key: string; count: number }>(
            `SELECT effect AS key, count(*) AS count FROM audit_events${decisions} GROUP BY effect ORDER BY count DESC`,
          )
          .all(...params),
        byAction: group('action', 20),
        byAgent: group('agent_name', 20),
        byType: group('type', 10),
      };
    },
    async verify() {
      return verifySqlite(db);
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

function rowToEvent(body: string, hash: string): AuditEvent {
  const event = JSON.parse(body) as AuditEvent;
  event.hash = hash;
  return event;
}

/** SQL for the filter fields; the action glob becomes a GLOB with its metacharacters escaped. */
function buildWhere(filter: ParsedAuditFilter): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (filter.agent !== undefined) {
    clauses.push('(agent_id = ? OR agent_name = ?)');
    params.push(filter.agent, filter.agent);
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
  const hasMeta = db
    .prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'meshguard_meta'")
    .get() as { n: number };
  if (hasMeta.n === 0) {
    const tables = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as {
      n: number;
    };
    if (readonly || tables.n > 0) {
      throw new ConfigError(`"${path}" is not a MeshGuard audit database (it has no meshguard_meta table)`, {
        code: 'store_not_meshguard',
      });
    }
    db.transaction(() => {
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
 * Verifies every stream: hashes each stored body onto the previous hash (no JSON parsing on the
 * happy path), compares with the recorded head, and checks the indexed columns against the
 * bodies. Only at a break are the events parsed to say what is wrong.
 */
function verifySqlite(db: Database.Database): VerifyReport {
  const heads = new Map(
    (
      db.prepare('SELECT stream, seq, hash FROM audit_streams').all() as Array<{
        stream: string;
        seq: number;
        hash: string;
      }>
    ).map((h) => [h.stream, h]),
  );
  const streamNames = new Set<string>(heads.keys());
  for (const row of db.prepare('SELECT DISTINCT stream FROM audit_events').all() as Array<{
    stream: string;
  }>) {
    streamNames.add(row.stream);
  }
  const rows = db.prepare<[string], [string, string, number]>(
    'SELECT body, hash, pos FROM audit_events WHERE stream = ? ORDER BY pos',
  );
  rows.raw(true);
  const streams: StreamReport[] = [];
  let checked = 0;
  for (const stream of [...streamNames].sort()) {
    let prev = GENESIS_HASH;
    let count = 0;
    let broken: number | undefined;
    for (const [body, hash, pos] of rows.iterate(stream)) {
      if (chainHash(prev, body) !== hash) {
        broken = pos;
        break;
      }
      prev = hash;
      count++;
    }
    checked += count;
    if (broken !== undefined) {
      const problem = diagnose(db, stream, broken);
      streams.push({ stream, events: count, lastSeq: count, lastHash: prev });
      return { ok: false, checked, streams, problem };
    }
    const head = heads.get(stream);
    const report = { stream, events: count, lastSeq: count, lastHash: prev };
    if (!head || head.seq !== count || head.hash !== prev) {
      const lastRow = db
        .prepare('SELECT id, seq FROM audit_events WHERE stream = ? ORDER BY pos DESC LIMIT 1')
        .get(stream) as { id: string; seq: number } | undefined;
      const problem: ChainProblem = !head
        ? {
            stream,
            seq: count,
            id: lastRow?.id ?? '',
            kind: 'edited',
            message: `stream "${stream}" has events but no recorded head: the head was deleted`,
          }
        : head.seq > count
          ? {
              stream,
              seq: count + 1,
              id: '',
              kind: 'truncated',
              message: `stream "${stream}" ends at seq ${count}, but its head records seq ${head.seq}: events were removed from the end`,
            }
          : {
              stream,
              seq: lastRow?.seq ?? count,
              id: lastRow?.id ?? '',
              kind: 'edited',
              message: `stream "${stream}"'s recorded head (seq ${head.seq}) does not match its last event (seq ${count})`,
            };
      streams.push(report);
      return { ok: false, checked, streams, problem };
    }
    streams.push(report);
  }
  // The indexed columns must say what the hashed bodies say, or filters could be fooled.
  const mismatch = db
    .prepare(
      `SELECT id, stream, seq FROM audit_events WHERE
         id IS NOT json_extract(body, '$.id') OR stream IS NOT json_extract(body, '$.stream')
         OR seq IS NOT json_extract(body, '$.seq') OR ts IS NOT json_extract(body, '$.ts')
         OR type IS NOT json_extract(body, '$.type') OR trace_id IS NOT json_extract(body, '$.traceId')
         OR decision_id IS NOT json_extract(body, '$.decisionId') OR agent_id IS NOT json_extract(body, '$.agent.id')
         OR agent_name IS NOT json_extract(body, '$.agent.name') OR framework IS NOT json_extract(body, '$.framework')
         OR kind IS NOT json_extract(body, '$.kind') OR action IS NOT json_extract(body, '$.action')
         OR effect IS NOT json_extract(body, '$.effect')
       ORDER BY pos LIMIT 1`,
    )
    .get() as { id: string; stream: string; seq: number } | undefined;
  if (mismatch) {
    return {
      ok: false,
      checked,
      streams,
      problem: {
        stream: mismatch.stream,
        seq: mismatch.seq,
        id: mismatch.id,
        kind: 'edited',
        message: `event ${mismatch.id} (seq ${mismatch.seq}): its indexed columns differ from its hashed content: it was edited`,
      },
    };
  }
  return { ok: true, checked, streams };
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
