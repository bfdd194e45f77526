import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
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
import createDebug from 'debug';
import pg from 'pg';
import { preparePostgresSchema, quoteSchema } from './postgres-schema';
import { verifyPostgres } from './postgres-verify';
import type { StoreStats } from './sqlite-store';
import { columnText, rowToEvent } from './stored-row';

const debug = createDebug('meshguard:store');

export interface PostgresStoreOptions {
  /**
   * The writer stream's name. Default: one per process (`<host>-<pid>-<random>`), so gateway
   * replicas never wait on each other. Writers that do share a stream serialize on its head row.
   */
  stream?: string;
  /** The PostgreSQL schema holding the tables (default `?schema=` in the URL, else `meshguard`). */
  schema?: string;
  /** Open without writing and without creating anything: queries and verification only. */
  readonly?: boolean;
  /** Key words to redact (see core's `createRedactor`); default: core's list. */
  redactKeys?: readonly string[];
  /** Connections in the pool (default 10). Appends use one at a time; queries the others. */
  poolSize?: number;
  /** Rows per round trip when `verify()` and `iterate()` page through the trail (default 2,000). */
  pageSize?: number;
}

export interface PostgresAuditStore extends AuditStore {
  readonly kind: 'postgres';
  readonly schema: string;
  readonly stream: string;
  /** Streams events in stored order (the filter's `order`), a page at a time (export). */
  iterate(filter?: AuditFilter): AsyncIterableIterator<AuditEvent>;
  /**
   * Events recorded after a position, and the position to ask from next time (`audit tail -f`).
   * Without a cursor, starts at the end. An event committed late by a slow writer is still
   * returned: positions follow committed transactions, not the order rows were numbered in.
   */
  after(cursor: string | undefined, limit?: number): Promise<{ events: AuditEvent[]; cursor: string }>;
  /** The newest `n` events (oldest first) and the cursor to follow from with `after`. */
  latest(n: number): Promise<{ events: AuditEvent[]; cursor: string }>;
  /** How many events match. */
  count(filter?: AuditFilter): Promise<number>;
  /** Counts by decision, action and agent (`meshguard audit stats`). */
  stats(filter?: AuditFilter): Promise<StoreStats>;
}

interface Pending {
  bodies: readonly AuditEventBody[];
  resolve: (events: AuditEvent[]) => void;
  reject: (error: unknown) => void;
}

/** The columns of the rows one insert writes, as parallel arrays (sent through unnest). */
interface Rows {
  seq: number[];
  body: string[];
  hash: string[];
  id: string[];
  ts: string[];
  type: string[];
  traceId: string[];
  decisionId: string[];
  agentId: string[];
  agentName: string[];
  framework: string[];
  kind: string[];
  action: string[];
  effect: string[];
  mode: string[];
}

const COLUMNS: ReadonlyArray<keyof Rows> = [
  'seq',
  'body',
  'hash',
  'id',
  'ts',
  'type',
  'traceId',
  'decisionId',
  'agentId',
  'agentName',
  'framework',
  'kind',
  'action',
  'effect',
  'mode',
];

const emptyRows = (): Rows => Object.fromEntries(COLUMNS.map((c) => [c, []])) as unknown as Rows;

/** Another writer committed an event id of this batch meanwhile: redo it, reading that event back. */
class IdConflict extends Error {}

let processStream: string | undefined;
/** One stream per process by default: replicas on one database never contend for a head. */
function defaultStream(): string {
  processStream ??= `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  return processStream;
}

/**
 * The audit store for several gateway replicas on one PostgreSQL database: every acknowledged
 * append committed before its promise resolves, appends of the same moment grouped into one
 * transaction, a hash chain per writer stream (its head row locked while a batch is chained),
 * idempotent by event id, redaction with a salt kept in the database.
 *
 * @example
 * const store = await openPostgresStore('postgres://meshguard@db:5432/meshguard', { schema: 'audit' });
 * const guard = await createGuard({ policies: 'policies/', store });
 */
export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<PostgresAuditStore> {
  const target = readUrl(url);
  const schema = options.schema ?? target.schema ?? 'meshguard';
  const s = quoteSchema(schema);
  const readonly = options.readonly ?? false;
  const stream = options.stream ?? defaultStream();
  if (stream === '' || stream.includes('\u0000')) {
    throw new ConfigError('the stream name is empty or holds a NUL character', { code: 'store_url_invalid' });
  }
  const pageSize = options.pageSize ?? 2000;
  const pool = new pg.Pool({
    connectionString: target.connectionString,
    max: options.poolSize ?? 10,
    application_name: 'meshguard',
    // An unreachable server fails appends after 10 s instead of leaving them waiting forever.
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
  });
  // An idle connection the server drops must not crash the process; the next query reconnects.
  pool.on('error', (error) => debug('idle PostgreSQL connection failed: %O', error));

  let salt: string;
  try {
    salt = await preparePostgresSchema(pool, schema, { readonly, where: target.where });
  } catch (error) {
    await pool.end().catch(() => {});
    if (MeshGuardError.isInstance(error)) throw error;
    throw new ConfigError(`cannot open the audit store at ${target.where}: ${(error as Error).message}`, {
      code: 'store_unavailable',
      cause: error,
    });
  }
  const redact = createRedactor({ keys: options.redactKeys, salt });
  const knownAgents = new Set<string>();

  const sql = {
    // Durable before acknowledged even where the server's default is synchronous_commit = off.
    begin:
      "BEGIN; SELECT set_config('synchronous_commit', 'on', true) WHERE current_setting('synchronous_commit') = 'off'",
    lockHead: `SELECT seq, hash FROM ${s}.audit_streams WHERE stream = $1 FOR UPDATE`,
    createHead: `INSERT INTO ${s}.audit_streams (stream, seq, hash) VALUES ($1, 0, $2) ON CONFLICT (stream) DO NOTHING`,
    existing: `SELECT id, body, hash FROM ${s}.audit_events WHERE id = ANY($1::text[])`,
    // One statement per batch whatever its size: the rows travel as arrays, the head moves and
    // new agent names are remembered in the same round trip.
    insert: `
WITH input AS (
  SELECT * FROM unnest(${COLUMNS.map((c, i) => `$${i + 2}::${c === 'seq' ? 'int' : 'text'}[]`).join(', ')})
    WITH ORDINALITY AS r(seq, body, hash, id, ts, type, trace_id, decision_id, agent_id, agent_name, framework, kind, action, effect, mode, ord)
), inserted AS (
  INSERT INTO ${s}.audit_events (stream, seq, body, hash, id, ts, type, trace_id, decision_id, agent_id, agent_name, framework, kind, action, effect, mode)
  SELECT $1::text, seq, body, hash, id, ts, type, trace_id, decision_id, agent_id, agent_name, framework, kind, action, effect, mode
  FROM input ORDER BY ord
  ON CONFLICT (id) DO NOTHING
  RETURNING 1
), head AS (
  UPDATE ${s}.audit_streams SET seq = $17, hash = $18 WHERE stream = $1
), agents AS (
  INSERT INTO ${s}.audit_agents (name, id) SELECT * FROM unnest($19::text[], $20::text[]) ON CONFLICT DO NOTHING
)
SELECT count(*)::int AS n FROM inserted`,
  };

  /** Inserts rows and moves the head in one statement; an id another writer holds is a conflict. */
  async function insertRows(client: pg.PoolClient, rows: Rows, head: { seq: number; hash: string }) {
    if (rows.seq.length === 0) return;
    const agents = new Map<string, [string, string]>();
    rows.agentName.forEach((name, i) => {
      const key = `${name}\u0000${rows.agentId[i]}`;
      if (!knownAgents.has(key)) agents.set(key, [name, rows.agentId[i]!]);
    });
    const result = await client.query<{ n: number }>({
      name: `meshguard_insert_${schema}`,
      text: sql.insert,
      values: [
        stream,
        ...COLUMNS.map((c) => rows[c]),
        head.seq,
        head.hash,
        [...agents.values()].map((a) => a[0]),
        [...agents.values()].map((a) => a[1]),
      ],
    });
    if (result.rows[0]!.n !== rows.seq.length) throw new IdConflict();
  }

  /** Chains one caller's events onto `chain`, adding their rows; throws if one cannot be built. */
  function build(
    pending: Pending,
    rows: Rows,
    chain: { seq: number; hash: string },
    known: ReadonlyMap<string, AuditEvent>,
    added: Map<string, AuditEvent>,
  ): AuditEvent[] {
    const out: AuditEvent[] = [];
    for (const input of pending.bodies) {
      const key = columnText(input.id);
      const prior = known.get(key) ?? added.get(key);
      if (prior) {
        out.push(prior);
        continue;
      }
      const unsigned = {
        ...redactBody(input, redact),
        stream,
        seq: chain.seq + 1,
        prevHash: chain.hash,
      } as Omit<AuditEvent, 'hash'>;
      const body = eventBody(unsigned);
      const hash = chainHash(chain.hash, body);
      pushRow(rows, unsigned, body, hash);
      const event = { ...unsigned, hash } as AuditEvent;
      added.set(key, event);
      out.push(event);
      chain.seq = unsigned.seq;
      chain.hash = hash;
    }
    return out;
  }

  /**
   * One transaction for a batch of callers. Together: every caller's rows in one insert (the
   * usual case). Apart: a savepoint per caller, after the database refused the rows together,
   * so that an event it cannot store (an id too long to index...) fails only its own caller.
   */
  async function transaction(
    client: pg.PoolClient,
    batch: Pending[],
    apart: boolean,
  ): Promise<Array<AuditEvent[] | Error> | 'conflict' | 'apart'> {
    await client.query(sql.begin);
    try {
      let head = (await client.query<{ seq: number; hash: string }>(sql.lockHead, [stream])).rows[0];
      if (!head) {
        await client.query(sql.createHead, [stream, GENESIS_HASH]);
        head = (await client.query<{ seq: number; hash: string }>(sql.lockHead, [stream])).rows[0]!;
      }
      // Read under the head's lock: events this stream's other writers committed are seen here.
      const ids = new Set<string>();
      for (const p of batch)
        for (const b of p.bodies) if (typeof b.id === 'string') ids.add(columnText(b.id));
      const stored = await client.query<{ id: string; body: string; hash: string }>({
        name: `meshguard_existing_${schema}`,
        text: sql.existing,
        values: [[...ids]],
      });
      const known = new Map(stored.rows.map((r) => [r.id, rowToEvent(r.body, r.hash)]));
      const chain = { seq: head.seq, hash: head.hash };
      const rows = emptyRows();
      const results: Array<AuditEvent[] | Error> = [];
      for (const pending of batch) {
        const mark = { ...chain, rows: rows.seq.length };
        const mine = apart ? emptyRows() : rows;
        const added = new Map<string, AuditEvent>();
        // Only this caller's events are dropped when it fails; the chain goes on from the mark.
        const fail = (error: unknown) => {
          chain.seq = mark.seq;
          chain.hash = mark.hash;
          for (const c of COLUMNS) rows[c].length = mark.rows;
          results.push(error instanceof Error ? error : new Error(String(error)));
        };
        let out: AuditEvent[];
        try {
          out = build(pending, mine, chain, known, added);
        } catch (error) {
          fail(error);
          continue;
        }
        if (apart) {
          await client.query('SAVEPOINT meshguard_caller');
          try {
            await insertRows(client, mine, chain);
            await client.query('RELEASE SAVEPOINT meshguard_caller');
          } catch (error) {
            if (error instanceof IdConflict || !isEventError(error)) throw error;
            await client.query('ROLLBACK TO SAVEPOINT meshguard_caller');
            fail(error);
            continue;
          }
        }
        for (const [k, e] of added) known.set(k, e);
        results.push(out);
      }
      if (!apart) await insertRows(client, rows, chain);
      await client.query('COMMIT');
      // Only once committed: a rolled-back batch must not leave agents marked as recorded.
      for (const result of results) {
        if (result instanceof Error) continue;
        for (const e of result) {
          if (knownAgents.size < 100_000)
            knownAgents.add(`${columnText(e.agent.name)}\u0000${columnText(e.agent.id)}`);
        }
      }
      return results;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      if (error instanceof IdConflict) return 'conflict';
      if (!apart && isEventError(error)) return 'apart';
      throw error;
    }
  }

  async function writeBatch(batch: Pending[]): Promise<void> {
    let client: pg.PoolClient | undefined;
    let broken: unknown;
    try {
      client = await pool.connect();
      let apart = false;
      let results: Array<AuditEvent[] | Error> | undefined;
      for (let attempt = 0; attempt < 5 && !results; attempt++) {
        const outcome = await transaction(client, batch, apart);
        if (outcome === 'apart') apart = true;
        if (typeof outcome === 'string') debug('batch of %d callers redone: %s', batch.length, outcome);
        else results = outcome;
      }
      if (!results) throw new Error('the batch kept conflicting with other writers');
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
      broken = error;
      debug('append failed: %O', error);
      // Whether a COMMIT that lost its connection went through is unknown: the caller retries,
      // and the event id makes the retry harmless.
      const wrapped = new MeshGuardError(`the audit store could not append: ${(error as Error).message}`, {
        code: 'store_write_failed',
        cause: error,
      });
      for (const p of batch) p.reject(wrapped);
    } finally {
      // A connection that failed mid-transaction is dropped rather than reused.
      client?.release(broken !== undefined);
    }
  }

  let queue: Pending[] = [];
  let flushing: Promise<void> | undefined;
  let closed = false;
  // One batch in flight at a time: callers arriving meanwhile wait together for the next one
  // (group commit), and the stream's head never has to be contended for within this process.
  const flush = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      await writeBatch(batch);
    }
    flushing = undefined;
  };

  // An agent is asked for by id or by name: names resolve to the ids recorded under them, and only
  // ids that have events are kept, so that the usual single id reads its index in order.
  const agentIdsFor = async (agent: string) => {
    const { rows } = await pool.query<{ id: string }>(
      `SELECT c.id FROM (SELECT $1::text AS id UNION SELECT id FROM ${s}.audit_agents WHERE name = $1) c
       WHERE EXISTS (SELECT 1 FROM ${s}.audit_events e WHERE e.agent_id = c.id) ORDER BY c.id`,
      [columnText(agent)],
    );
    return rows.length > 0 ? rows.map((r) => r.id) : [columnText(agent)];
  };
  const where = async (filter: ParsedAuditFilter, params: unknown[]) =>
    buildWhere(filter, filter.agent === undefined ? [] : await agentIdsFor(filter.agent), params);

  const horizon = async () =>
    (await pool.query<{ h: string }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS h')).rows[0]!.h;

  return {
    kind: 'postgres',
    schema,
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
        flushing ??= flush();
      });
    },
    async query(input) {
      const filter = parseFilter(input);
      const params: unknown[] = [];
      const clauses = await where(filter, params);
      const desc = filter.order === 'desc';
      if (filter.cursor) {
        params.push(decodePosCursor(filter.cursor));
        clauses.push(`pos ${desc ? '<' : '>'} $${params.length}`);
      }
      params.push(filter.limit + 1);
      const { rows } = await pool.query<{ body: string; hash: string; at: string }>(
        `SELECT body, hash, pos::text AS at FROM ${s}.audit_events${whereSql(clauses)} ORDER BY pos ${desc ? 'DESC' : 'ASC'} LIMIT $${params.length}`,
        params,
      );
      const page = rows.slice(0, filter.limit);
      const events = page.map((r) => rowToEvent(r.body, r.hash));
      const last = page[page.length - 1];
      return rows.length > filter.limit && last
        ? { events, nextCursor: encodePosCursor(last.at) }
        : { events };
    },
    async *iterate(input = {}) {
      const filter = parseFilter({ ...input, limit: 1 });
      const params: unknown[] = [];
      const clauses = await where(filter, params);
      const desc = filter.order === 'desc';
      let from: string | undefined;
      for (;;) {
        const values = [...params];
        const page = [...clauses];
        if (from !== undefined) {
          values.push(from);
          page.push(`pos ${desc ? '<' : '>'} $${values.length}`);
        }
        values.push(pageSize);
        const { rows } = await pool.query<{ body: string; hash: string; at: string }>(
          `SELECT body, hash, pos::text AS at FROM ${s}.audit_events${whereSql(page)} ORDER BY pos ${desc ? 'DESC' : 'ASC'} LIMIT $${values.length}`,
          values,
        );
        for (const row of rows) yield rowToEvent(row.body, row.hash);
        if (rows.length < pageSize) return;
        from = rows[rows.length - 1]!.at;
      }
    },
    async after(cursor, limit = 1000) {
      const h = await horizon();
      if (cursor === undefined) return { events: [], cursor: encodeTxCursor(h, '0') };
      const from = decodeTxCursor(cursor);
      // Every transaction below the horizon has ended, so nothing can still appear before it:
      // rows above it wait for the next call, in (tx, pos) order.
      const { rows } = await pool.query<{ body: string; hash: string; at_tx: string; at_pos: string }>(
        `SELECT body, hash, tx::text AS at_tx, pos::text AS at_pos FROM ${s}.audit_events
         WHERE tx >= $1 AND (tx, pos) > ($1, $2) AND tx < $3 ORDER BY tx, pos LIMIT $4`,
        [from.tx, from.pos, h, limit],
      );
      const last = rows[rows.length - 1];
      // Fewer rows than asked for: everything below the horizon has been seen, so the next call
      // can start there (keeping the range it reads small while the trail is idle).
      const next =
        rows.length < limit && BigInt(h) > BigInt(from.tx)
          ? encodeTxCursor(h, '0')
          : last
            ? encodeTxCursor(last.at_tx, last.at_pos)
            : cursor;
      return { events: rows.map((r) => rowToEvent(r.body, r.hash)), cursor: next };
    },
    async latest(n) {
      const h = await horizon();
      const { rows } = await pool.query<{ body: string; hash: string }>(
        `SELECT body, hash FROM ${s}.audit_events WHERE tx < $1 ORDER BY pos DESC LIMIT $2`,
        [h, n],
      );
      return {
        events: rows.reverse().map((r) => rowToEvent(r.body, r.hash)),
        cursor: encodeTxCursor(h, '0'),
      };
    },
    async count(input = {}) {
      const params: unknown[] = [];
      const clauses = await where(parseFilter({ ...input, limit: 1 }), params);
      const { rows } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${s}.audit_events${whereSql(clauses)}`,
        params,
      );
      return rows[0]!.n;
    },
    async stats(input = {}) {
      const params: unknown[] = [];
      const clauses = await where(parseFilter({ ...input, limit: 1 }), params);
      const from = `${s}.audit_events${whereSql(clauses)}`;
      const group = async (column: string, limit: number, extra = '') =>
        (
          await pool.query<{ key: string; count: number }>(
            `SELECT ${column} AS key, count(*)::int AS count FROM ${from}${extra} GROUP BY ${column} ORDER BY count DESC, key LIMIT ${limit}`,
            params,
          )
        ).rows;
      const decisions = `${clauses.length > 0 ? ' AND' : ' WHERE'} type = 'decision' AND mode = 'enforce'`;
      const [total, byEffect, byAction, byAgent, byType] = await Promise.all([
        pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${from}`, params),
        group('effect', 10, decisions),
        group('action', 20),
        group('agent_name', 20),
        group('type', 10),
      ]);
      return { total: total.rows[0]!.n, byEffect, byAction, byAgent, byType };
    },
    async verify() {
      const client = await pool.connect();
      let failed = false;
      try {
        return await verifyPostgres(client, s, pageSize);
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        client.release(failed);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      while (flushing) await flushing;
      await pool.end();
    },
  };
}

function pushRow(rows: Rows, event: Omit<AuditEvent, 'hash'>, body: string, hash: string): void {
  rows.seq.push(event.seq);
  rows.body.push(body);
  rows.hash.push(hash);
  rows.id.push(columnText(event.id));
  rows.ts.push(columnText(event.ts));
  rows.type.push(columnText(event.type));
  rows.traceId.push(columnText(event.traceId));
  rows.decisionId.push(columnText(event.decisionId));
  rows.agentId.push(columnText(event.agent.id));
  rows.agentName.push(columnText(event.agent.name));
  rows.framework.push(columnText(event.framework));
  rows.kind.push(columnText(event.kind));
  rows.action.push(columnText(event.action));
  rows.effect.push(columnText(event.effect));
  rows.mode.push(columnText(event.mode));
}

/**
 * Database errors that concern the events of one caller rather than the store: values PostgreSQL
 * refuses (class 22), constraints (23; but a clash on (stream, seq) means the head is wrong, never
 * the caller's fault), and limits such as a value too long to index (54).
 */
function isEventError(error: unknown): boolean {
  const { code, constraint } = (error ?? {}) as { code?: unknown; constraint?: unknown };
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return false;
  if (code.startsWith('23')) return constraint !== 'audit_events_stream_seq';
  return code.startsWith('22') || code.startsWith('54');
}

function parseFilter(input: AuditFilter): ParsedAuditFilter {
  return parseWithSchema(AuditFilterSchema, input, 'filter');
}

function whereSql(clauses: readonly string[]): string {
  return clauses.length > 0 ? ` WHERE ${clauses.join(' AND ')}` : '';
}

/** SQL for the filter fields; the action glob becomes a LIKE with its metacharacters escaped. */
function buildWhere(filter: ParsedAuditFilter, agentIds: string[], params: unknown[]): string[] {
  const clauses: string[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (filter.agent !== undefined) {
    clauses.push(
      agentIds.length === 1
        ? `agent_id = ${param(agentIds[0])}`
        : `agent_id = ANY(${param(agentIds)}::text[])`,
    );
  }
  if (filter.action !== undefined) {
    const action = columnText(filter.action);
    if (action.includes('*')) {
      clauses.push(`action LIKE ${param(action.replace(/[\\%_]/g, (c) => `\\${c}`).replaceAll('*', '%'))}`);
    } else {
      clauses.push(`action = ${param(action)}`);
    }
  }
  if (filter.framework !== undefined) {
    // Either spelling of a renamed framework finds its events, old and new (core's alias table).
    const spellings = frameworkSpellings(filter.framework).map(columnText);
    clauses.push(
      spellings.length === 1
        ? `framework = ${param(spellings[0])}`
        : `framework = ANY(${param(spellings)}::text[])`,
    );
  }
  const equal: Array<[keyof ParsedAuditFilter, string]> = [
    ['effect', 'effect'],
    ['kind', 'kind'],
    ['type', 'type'],
    ['traceId', 'trace_id'],
    ['decisionId', 'decision_id'],
  ];
  for (const [key, column] of equal) {
    const value = filter[key];
    if (typeof value === 'string') clauses.push(`${column} = ${param(columnText(value))}`);
  }
  if (filter.since !== undefined) clauses.push(`ts >= ${param(isoBound('since', filter.since))}`);
  if (filter.until !== undefined) clauses.push(`ts < ${param(isoBound('until', filter.until))}`);
  return clauses;
}

function isoBound(field: string, text: string): string {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new ValidationError(field, `"${text}" is not an ISO time`);
  return new Date(ms).toISOString();
}

/** Query cursors are opaque to callers: here, base64url of the last event's stored position. */
function encodePosCursor(pos: string): string {
  return Buffer.from(`pos:${pos}`).toString('base64url');
}

function decodePosCursor(cursor: string): string {
  const match = /^pos:(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new ValidationError('cursor', 'not a cursor returned by a previous query');
  return match[1]!;
}

/** `after()` cursors: the writing transaction and position the caller has seen up to. */
function encodeTxCursor(tx: string, pos: string): string {
  return Buffer.from(`tx:${tx}:${pos}`).toString('base64url');
}

function decodeTxCursor(cursor: string): { tx: string; pos: string } {
  const match = /^tx:(\d{1,19}):(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new ValidationError('cursor', 'not a cursor returned by after() or latest()');
  return { tx: match[1]!, pos: match[2]! };
}

/** Takes `?schema=` out of the URL (pg does not know it) and names the server without credentials. */
export function readUrl(url: string): { connectionString: string; schema?: string; where: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new ConfigError('the PostgreSQL store URL is not a valid URL', {
      code: 'store_url_invalid',
      cause: error,
    });
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new ConfigError(`"${parsed.protocol}" is not a PostgreSQL URL scheme`, {
      code: 'store_url_invalid',
    });
  }
  const schema = parsed.searchParams.get('schema') ?? undefined;
  let connectionString = url;
  if (schema !== undefined) {
    parsed.searchParams.delete('schema');
    connectionString = parsed.toString();
  }
  const where = `postgres://${parsed.host}${parsed.pathname}`;
  return schema === undefined ? { connectionString, where } : { connectionString, schema, where };
}
