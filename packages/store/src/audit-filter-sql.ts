import {
  type AuditFilter,
  AuditFilterSchema,
  type AuditPage,
  frameworkSpellings,
  ValidationError,
} from '@meshguard/core';
import { type ParsedAuditFilter, parseWithSchema } from '@meshguard/core/internal';
import { rowToEvent } from './stored-row';

/** The values an audit filter or the stats read from an event. */
type AuditField =
  | 'ts'
  | 'type'
  | 'decisionId'
  | 'traceId'
  | 'agentId'
  | 'agentName'
  | 'framework'
  | 'kind'
  | 'action'
  | 'effect'
  | 'mode';

/** Parameters in the order their placeholders stand in the SQL. */
interface SqlParams {
  readonly values: unknown[];
  /** Adds a value and returns its placeholder. */
  add(value: unknown): string;
}

/**
 * What the SQL of a query says differently in SQLite and PostgreSQL. The stores build every query
 * of a filter with the functions below, so both find the same events in the same order.
 */
export interface AuditSqlDialect {
  /** The events table, qualified by its schema where there is one. */
  readonly table: string;
  /** The nth parameter's placeholder, from 1: `?` or `$n`. */
  placeholder(n: number): string;
  /** Where each value is read from: a column, or an expression on the hashed body. */
  readonly fields: Readonly<Record<AuditField, string>>;
  /** `count(*)` as the driver returns a number (PostgreSQL's bigint comes back as text). */
  readonly count: string;
  /** The stored position as a row's `at` (PostgreSQL's as text: a bigint can pass 2^53). */
  readonly position: string;
  /** A cursor's position (its digits) as a parameter. */
  positionParam(digits: string): unknown;
  /** A filter value as the columns hold it (PostgreSQL text cannot hold NUL). */
  text(value: string): string;
  /** `column` equal to one of `values`. */
  oneOf(column: string, values: readonly string[], params: SqlParams): string;
  /** `column` matching an action glob (`*` is any run of characters; nothing else is special). */
  glob(column: string, pattern: string, params: SqlParams): string;
  /** A clause that goes before the agent's: where the agent index is searched (SQLite's buckets). */
  readonly agentScope?: string | undefined;
  /** The ORDER BY of stored order, oldest or newest first as the filter asks. */
  orderBy(filter: ParsedAuditFilter): string;
}

/** A statement and its parameters. */
export interface Sql {
  sql: string;
  params: unknown[];
}

/** An event row as the queries below select it. */
export interface EventRow {
  body: string;
  hash: string;
  /** The stored position (a number from SQLite, text from PostgreSQL). */
  at: number | string;
}

function sqlParams(dialect: AuditSqlDialect): SqlParams {
  const values: unknown[] = [];
  return {
    values,
    add(value) {
      values.push(value);
      return dialect.placeholder(values.length);
    },
  };
}

export function parseFilter(input: AuditFilter): ParsedAuditFilter {
  return parseWithSchema(AuditFilterSchema, input, 'filter');
}

function whereSql(clauses: readonly string[]): string {
  return clauses.length > 0 ? ` WHERE ${clauses.join(' AND ')}` : '';
}

/**
 * The WHERE clauses of a filter's fields. `agentIds`: the ids the filter's agent stands for (an
 * agent is asked for by id or by name; the store resolves names to the ids recorded under them).
 */
function filterClauses(
  d: AuditSqlDialect,
  filter: ParsedAuditFilter,
  agentIds: readonly string[],
  params: SqlParams,
): string[] {
  const clauses: string[] = [];
  if (filter.agent !== undefined) {
    if (d.agentScope) clauses.push(d.agentScope);
    clauses.push(d.oneOf(d.fields.agentId, agentIds, params));
  }
  if (filter.action !== undefined) {
    const action = d.text(filter.action);
    clauses.push(
      action.includes('*')
        ? d.glob(d.fields.action, action, params)
        : `${d.fields.action} = ${params.add(action)}`,
    );
  }
  if (filter.framework !== undefined) {
    // Either spelling of a renamed framework finds its events, old and new (core's alias table).
    const spellings = frameworkSpellings(filter.framework).map((s) => d.text(s));
    clauses.push(d.oneOf(d.fields.framework, spellings, params));
  }
  const equal = ['effect', 'kind', 'type', 'traceId', 'decisionId'] as const;
  for (const key of equal) {
    const value = filter[key];
    if (value !== undefined) clauses.push(`${d.fields[key]} = ${params.add(d.text(value))}`);
  }
  if (filter.since !== undefined)
    clauses.push(`${d.fields.ts} >= ${params.add(isoBound('since', filter.since))}`);
  if (filter.until !== undefined)
    clauses.push(`${d.fields.ts} < ${params.add(isoBound('until', filter.until))}`);
  return clauses;
}

function isoBound(field: string, text: string): string {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new ValidationError(field, `"${text}" is not an ISO time`);
  return new Date(ms).toISOString();
}

/**
 * The events a filter selects, in stored order: after `cursor` (one `query` returned) and up to
 * `limit` when given.
 */
export function eventsSql(
  d: AuditSqlDialect,
  filter: ParsedAuditFilter,
  agentIds: readonly string[],
  page: { cursor?: string | undefined; limit?: number } = {},
): Sql {
  const params = sqlParams(d);
  const clauses = filterClauses(d, filter, agentIds, params);
  if (page.cursor !== undefined) {
    const after = d.positionParam(decodePosCursor(page.cursor));
    clauses.push(`pos ${filter.order === 'desc' ? '<' : '>'} ${params.add(after)}`);
  }
  const limit = page.limit === undefined ? '' : ` LIMIT ${params.add(page.limit)}`;
  return {
    sql: `SELECT body, hash, ${d.position} AS at FROM ${d.table}${whereSql(clauses)} ${d.orderBy(filter)}${limit}`,
    params: params.values,
  };
}

/** A page of `query`: rows selected with one more than the limit, to tell whether more follow. */
export function pageOf(rows: readonly EventRow[], limit: number): AuditPage {
  const page = rows.slice(0, limit);
  const events = page.map((r) => rowToEvent(r.body, r.hash));
  const last = page[page.length - 1];
  return rows.length > limit && last ? { events, nextCursor: encodePosCursor(last.at) } : { events };
}

/** How many events a filter selects, as `n`. */
export function countSql(d: AuditSqlDialect, filter: ParsedAuditFilter, agentIds: readonly string[]): Sql {
  const params = sqlParams(d);
  const where = whereSql(filterClauses(d, filter, agentIds, params));
  return { sql: `SELECT ${d.count} AS n FROM ${d.table}${where}`, params: params.values };
}

/** The statements of `stats()`: the total (`n`), and counts by value (`key`, `count`), all with `params`. */
export interface StatsSql {
  params: unknown[];
  total: string;
  byEffect: string;
  byAction: string;
  byAgent: string;
  byType: string;
}

/** Counts by effect are of enforced decisions only (shadow decisions bind nothing). */
export function statsSql(
  d: AuditSqlDialect,
  filter: ParsedAuditFilter,
  agentIds: readonly string[],
): StatsSql {
  const params = sqlParams(d);
  const clauses = filterClauses(d, filter, agentIds, params);
  const from = `${d.table}${whereSql(clauses)}`;
  const group = (column: string, limit: number, extra = '') =>
    `SELECT ${column} AS key, ${d.count} AS count FROM ${from}${extra} GROUP BY ${column} ORDER BY count DESC, key LIMIT ${limit}`;
  const decisions = `${clauses.length > 0 ? ' AND' : ' WHERE'} ${d.fields.type} = 'decision' AND ${d.fields.mode} = 'enforce'`;
  return {
    params: params.values,
    total: `SELECT ${d.count} AS n FROM ${from}`,
    byEffect: group(d.fields.effect, 10, decisions),
    byAction: group(d.fields.action, 20),
    byAgent: group(d.fields.agentName, 20),
    byType: group(d.fields.type, 10),
  };
}

/** Query cursors are opaque to callers: here, base64url of the last event's stored position. */
export function encodePosCursor(pos: number | string): string {
  return Buffer.from(`pos:${pos}`).toString('base64url');
}

/** A cursor's position, as digits (a 64-bit position has at most 19). */
export function decodePosCursor(cursor: string): string {
  const match = /^pos:(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new ValidationError('cursor', 'not a cursor returned by a previous query');
  return match[1]!;
}
