import { type AuditEvent, GENESIS_HASH, type Redactor } from '@meshguard/core';
import { chainHash, eventBody, redactBody } from '@meshguard/core/internal';
import createDebug from 'debug';
import type pg from 'pg';
import { failBatch, type PendingAppend, settleBatch } from './append-batch';
import { columnText, rowToEvent } from './stored-row';

const debug = createDebug('meshguard:store');

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

/** The writing side of a PostgreSQL store: batches appends, chains them and inserts them. */
export interface PostgresAppender {
  /** Queues one caller's events for the next batch. */
  add(pending: PendingAppend): void;
  /** Resolves once no batch is being written (the store closes). */
  idle(): Promise<void>;
}

/**
 * Appends to the tables of `schema` (quoted: `s`) on `stream`: every acknowledged append committed
 * before its promise resolves, appends of the same moment grouped into one transaction, the
 * stream's head row locked while a batch is chained.
 */
export function openPostgresAppender(
  pool: pg.Pool,
  options: { schema: string; s: string; stream: string; redact: Redactor },
): PostgresAppender {
  const { schema, s, stream, redact } = options;
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
    pending: PendingAppend,
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
    batch: PendingAppend[],
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

  async function writeBatch(batch: PendingAppend[]): Promise<void> {
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
      settleBatch(batch, results);
    } catch (error) {
      broken = error;
      // Whether a COMMIT that lost its connection went through is unknown: the caller retries,
      // and the event id makes the retry harmless.
      failBatch(batch, error);
    } finally {
      // A connection that failed mid-transaction is dropped rather than reused.
      client?.release(broken !== undefined);
    }
  }

  let queue: PendingAppend[] = [];
  let flushing: Promise<void> | undefined;
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

  return {
    add(pending) {
      queue.push(pending);
      flushing ??= flush();
    },
    async idle() {
      while (flushing) await flushing;
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
