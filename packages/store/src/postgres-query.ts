import { ValidationError } from '@meshguard/core';
import type { ParsedAuditFilter } from '@meshguard/core/internal';
import type pg from 'pg';
import {
  type AuditSqlDialect,
  countSql,
  type EventRow,
  encodePosCursor,
  eventsSql,
  pageOf,
  parseFilter,
  statsSql,
} from './audit-filter-sql';
import type { PostgresAuditStore } from './postgres-store';
import { columnText, rowToEvent } from './stored-row';

/** PostgreSQL's SQL for audit filters on the tables of schema `s` (quoted): every value has a column. */
function postgresDialect(s: string): AuditSqlDialect {
  return {
    table: `${s}.audit_events`,
    placeholder: (n) => `$${n}`,
    fields: {
      ts: 'ts',
      type: 'type',
      decisionId: 'decision_id',
      traceId: 'trace_id',
      agentId: 'agent_id',
      agentName: 'agent_name',
      framework: 'framework',
      kind: 'kind',
      action: 'action',
      effect: 'effect',
      mode: 'mode',
    },
    count: 'count(*)::int',
    position: 'pos::text',
    positionParam: (digits) => digits,
    text: columnText,
    // One value as `=`, so that the usual single id reads its index in order.
    oneOf: (column, values, params) =>
      values.length === 1
        ? `${column} = ${params.add(values[0])}`
        : `${column} = ANY(${params.add(values)}::text[])`,
    // LIKE's own metacharacters (and its escape) stand for themselves behind a backslash.
    glob: (column, pattern, params) =>
      `${column} LIKE ${params.add(pattern.replace(/[\\%_]/g, (c) => `\\${c}`).replaceAll('*', '%'))}`,
    orderBy: (filter) => `ORDER BY pos ${filter.order === 'desc' ? 'DESC' : 'ASC'}`,
  };
}

export type PostgresQueries = Pick<
  PostgresAuditStore,
  'query' | 'iterate' | 'after' | 'latest' | 'count' | 'stats'
>;

/**
 * The PostgreSQL store's reads on schema `s` (quoted): filtered pages and streams (`pageSize` rows
 * per round trip), the tail, counts and stats.
 */
export function postgresQueries(pool: pg.Pool, s: string, pageSize: number): PostgresQueries {
  const dialect = postgresDialect(s);
  // An agent is asked for by id or by name: names resolve to the ids recorded under them, and only
  // ids that have events are kept, so that the usual single id reads its index in order.
  const agentIds = async (filter: ParsedAuditFilter) => {
    if (filter.agent === undefined) return [];
    const agent = columnText(filter.agent);
    const { rows } = await pool.query<{ id: string }>(
      `SELECT c.id FROM (SELECT $1::text AS id UNION SELECT id FROM ${s}.audit_agents WHERE name = $1) c
       WHERE EXISTS (SELECT 1 FROM ${s}.audit_events e WHERE e.agent_id = c.id) ORDER BY c.id`,
      [agent],
    );
    return rows.length > 0 ? rows.map((r) => r.id) : [agent];
  };

  const horizon = async () =>
    (await pool.query<{ h: string }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS h')).rows[0]!.h;

  return {
    async query(input) {
      const filter = parseFilter(input);
      const { sql, params } = eventsSql(dialect, filter, await agentIds(filter), {
        cursor: filter.cursor,
        limit: filter.limit + 1,
      });
      return pageOf((await pool.query<EventRow>(sql, params)).rows, filter.limit);
    },
    async *iterate(input = {}) {
      const filter = parseFilter({ ...input, limit: 1 });
      const ids = await agentIds(filter);
      let cursor: string | undefined;
      for (;;) {
        const { sql, params } = eventsSql(dialect, filter, ids, { cursor, limit: pageSize });
        const { rows } = await pool.query<EventRow>(sql, params);
        for (const row of rows) yield rowToEvent(row.body, row.hash);
        if (rows.length < pageSize) return;
        cursor = encodePosCursor(rows[rows.length - 1]!.at);
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
      const filter = parseFilter({ ...input, limit: 1 });
      const { sql, params } = countSql(dialect, filter, await agentIds(filter));
      return (await pool.query<{ n: number }>(sql, params)).rows[0]!.n;
    },
    async stats(input = {}) {
      const filter = parseFilter({ ...input, limit: 1 });
      const sql = statsSql(dialect, filter, await agentIds(filter));
      const group = async (text: string) =>
        (await pool.query<{ key: string; count: number }>(text, sql.params)).rows;
      const [total, byEffect, byAction, byAgent, byType] = await Promise.all([
        pool.query<{ n: number }>(sql.total, sql.params),
        group(sql.byEffect),
        group(sql.byAction),
        group(sql.byAgent),
        group(sql.byType),
      ]);
      return { total: total.rows[0]!.n, byEffect, byAction, byAgent, byType };
    },
  };
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
