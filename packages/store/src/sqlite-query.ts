import type { ParsedAuditFilter } from '@meshguard/core/internal';
import {
  type AuditSqlDialect,
  countSql,
  decodePosCursor,
  type EventRow,
  encodePosCursor,
  eventsSql,
  pageOf,
  parseFilter,
  statsSql,
} from './audit-filter-sql';
import type { SqliteDatabase } from './sqlite-driver';
import { BUCKET_BITS, hasBuckets } from './sqlite-schema';
import type { SqliteAuditStore } from './sqlite-store';
import { rowToEvent } from './stored-row';

/**
 * Where a query reads each value: the generated columns, and the body for values that have none.
 * Read from the body, they are cast to TEXT as schema 1's TEXT columns were, so comparisons behave
 * the same on files of either schema.
 */
const FIELDS = {
  ts: "CAST(body ->> '$.ts' AS TEXT)",
  type: "CAST(body ->> '$.type' AS TEXT)",
  decisionId: "CAST(body ->> '$.decisionId' AS TEXT)",
  traceId: 'trace_id',
  agentId: 'agent_id',
  agentName: "CAST(body ->> '$.agent.name' AS TEXT)",
  framework: "CAST(body ->> '$.framework' AS TEXT)",
  kind: "CAST(body ->> '$.kind' AS TEXT)",
  action: "CAST(body ->> '$.action' AS TEXT)",
  effect: 'effect',
  mode: "body ->> '$.mode'",
} as const;

// Every bucket from the first to the last, for the agent index's (bucket, agent_id) lookups.
const ALL_BUCKETS = `bucket IN (WITH RECURSIVE b(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM b WHERE n < (SELECT max(pos) >> ${BUCKET_BITS} FROM audit_events)) SELECT n FROM b)`;

/** SQLite's SQL for audit filters; `buckets`: the file has schema 2's agent index by bucket. */
function sqliteDialect(buckets: boolean): AuditSqlDialect {
  return {
    table: 'audit_events',
    placeholder: () => '?',
    fields: FIELDS,
    count: 'count(*)',
    position: 'pos',
    positionParam: Number,
    text: (value) => value,
    oneOf: (column, values, params) => `${column} IN (${values.map((v) => params.add(v)).join(', ')})`,
    // GLOB's own metacharacters other than `*` stand for themselves inside brackets.
    glob: (column, pattern, params) =>
      `${column} GLOB ${params.add(pattern.replace(/[[?]/g, (c) => `[${c}]`))}`,
    agentScope: buckets ? ALL_BUCKETS : undefined,
    // With an agent filter, by bucket then position (the same order, as a bucket is a range of
    // positions): the agent index yields it as it is, bucket by bucket, with no sort.
    orderBy(filter) {
      const direction = filter.order === 'desc' ? 'DESC' : 'ASC';
      return buckets && filter.agent !== undefined
        ? `ORDER BY bucket ${direction}, pos ${direction}`
        : `ORDER BY pos ${direction}`;
    },
  };
}

export type SqliteQueries = Pick<
  SqliteAuditStore,
  'query' | 'iterate' | 'after' | 'latest' | 'count' | 'stats'
>;

/** The SQLite store's reads: filtered pages and streams, the tail, counts and stats. */
export function sqliteQueries(db: SqliteDatabase): SqliteQueries {
  const dialect = sqliteDialect(hasBuckets(db));
  const namedIds = db.prepare<[string], { id: string }>('SELECT id FROM audit_agents WHERE name = ?');
  // An agent is asked for by id or by name: names resolve to the ids recorded under them.
  const agentIds = (filter: ParsedAuditFilter) =>
    filter.agent === undefined
      ? []
      : [...new Set([filter.agent, ...namedIds.all(filter.agent).map((r) => r.id)])];

  return {
    async query(input) {
      const filter = parseFilter(input);
      const { sql, params } = eventsSql(dialect, filter, agentIds(filter), {
        cursor: filter.cursor,
        limit: filter.limit + 1,
      });
      return pageOf(db.prepare<unknown[], EventRow>(sql).all(...params), filter.limit);
    },
    *iterate(input = {}) {
      const filter = parseFilter({ ...input, limit: 1 });
      const { sql, params } = eventsSql(dialect, filter, agentIds(filter));
      for (const row of db.prepare<unknown[], EventRow>(sql).iterate(...params))
        yield rowToEvent(row.body, row.hash);
    },
    after(cursor, limit = 1000) {
      if (cursor === undefined) {
        const end = db.prepare('SELECT coalesce(max(pos), 0) AS pos FROM audit_events').get() as {
          pos: number;
        };
        return { events: [], cursor: encodePosCursor(end.pos) };
      }
      const from = Number(decodePosCursor(cursor));
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
      const filter = parseFilter({ ...input, limit: 1 });
      const { sql, params } = countSql(dialect, filter, agentIds(filter));
      return db.prepare<unknown[], { n: number }>(sql).get(...params)!.n;
    },
    stats(input = {}) {
      const filter = parseFilter({ ...input, limit: 1 });
      const sql = statsSql(dialect, filter, agentIds(filter));
      const group = (text: string) =>
        db.prepare<unknown[], { key: string; count: number }>(text).all(...sql.params);
      return {
        total: db.prepare<unknown[], { n: number }>(sql.total).get(...sql.params)!.n,
        byEffect: group(sql.byEffect),
        byAction: group(sql.byAction),
        byAgent: group(sql.byAgent),
        byType: group(sql.byType),
      };
    },
  };
}
