import {
  APPROVAL_STATUSES,
  type ApprovalPage,
  type ApprovalRequest,
  type ApprovalStatus,
  type ApprovalTransition,
  MeshGuardError,
  type ParsedApprovalListQuery,
  ValidationError,
} from '@meshguard/core';

// Both stores keep approval requests in one table of the same shape, approval_requests (see
// sqlite-schema.ts and postgres-schema.ts): a column for each value a statement filters, sorts or
// updates on, and three of JSON text. `request` holds the request as it was created (everything
// but its status, use and arguments) and never changes; `answer` holds the answer
// (`answeredBy`, `answeredAt`, `comment`), laid over it when read; `arguments` holds the
// arguments, apart from the trail and never hashed into it. JSON as text, not PostgreSQL's jsonb:
// jsonb refuses \u0000 and rewrites numbers, and PostgreSQL text cannot hold NUL, which a comment
// may; JSON text escapes it, and comes back exactly as stored.
//
// Times are compared as text: the time columns hold `toISOString()`'s UTC form whatever form a
// request came in (the JSON keeps it as given), which sorts as the instants do.

/** The columns a read selects. */
export const APPROVAL_COLUMNS = 'seq, id, status, request, answer, arguments, used_at, arguments_purged_at';

/** The columns `createApproval` writes, in the order of `approvalValues`. */
export const APPROVAL_INSERT_COLUMNS =
  'id, status, requested_at, expires_at, agent_id, trace_id, answered_at, used_at, arguments_hash, arguments_purged_at, request, answer, arguments';

/** A row of approval_requests as a read selects it (`seq` is text from PostgreSQL's bigint). */
export interface ApprovalRow {
  seq: number | string;
  id: string;
  status: ApprovalStatus;
  request: string;
  answer: string | null;
  arguments: string;
  used_at: string | null;
  arguments_purged_at: string | null;
}

/** What the stores know of their own state: approval requests need one open for writing. */
export interface StoreState {
  closed: boolean;
  readonly: boolean;
}

/** Refuses a closed or read-only store, as its appends are refused. */
export function assertWritable(state: StoreState): void {
  if (state.closed) throw new MeshGuardError('the audit store is closed', { code: 'store_closed' });
  if (state.readonly) {
    throw new MeshGuardError('the audit store is open read-only: approval requests need a writable one', {
      code: 'store_readonly',
    });
  }
}

/** An ISO time in `toISOString()`'s UTC form, as the time columns hold it. */
export function utcTime(iso: string, field = 'time'): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new ValidationError(field, `"${iso}" is not an ISO time`);
  return new Date(ms).toISOString();
}

/**
 * Refuses a request the table would refuse (its status CHECK, NOT NULL and TEXT columns, and times
 * `utcTime` reads), so that a store committing it later, off the caller's thread (the SQLite
 * journal), refuses it now, to its caller.
 */
export function assertApprovalRow(request: ApprovalRequest): void {
  const text = (field: string, value: unknown, optional = false) => {
    if (typeof value !== 'string' && !(optional && value === undefined)) {
      throw new ValidationError(field, 'must be a string');
    }
  };
  text('id', request.id);
  text('agent.id', request.agent?.id);
  text('traceId', request.traceId);
  text('argumentsHash', request.argumentsHash);
  text('usedAt', request.usedAt, true);
  text('argumentsPurgedAt', request.argumentsPurgedAt, true);
  if (!APPROVAL_STATUSES.includes(request.status)) {
    throw new ValidationError('status', `"${String(request.status)}" is not an approval status`);
  }
  if (typeof request.arguments !== 'object' || request.arguments === null) {
    throw new ValidationError('arguments', 'must be an object');
  }
  isoTime(request.requestedAt, 'requestedAt');
  isoTime(request.expiresAt, 'expiresAt');
  if (request.answeredAt !== undefined) isoTime(request.answeredAt, 'answeredAt');
}

/** Refuses what `utcTime` would refuse, without making the UTC form. */
function isoTime(iso: string, field: string): void {
  if (Number.isNaN(Date.parse(iso))) throw new ValidationError(field, `"${iso}" is not an ISO time`);
}

/**
 * The values of a new row, in the order of `APPROVAL_INSERT_COLUMNS`; `text` is what a text
 * column may hold (PostgreSQL: no NUL).
 */
export function approvalValues(request: ApprovalRequest, text: (value: string) => string): unknown[] {
  const { arguments: args, status, usedAt, argumentsPurgedAt, ...rest } = request;
  return [
    request.id,
    status,
    utcTime(request.requestedAt, 'requestedAt'),
    utcTime(request.expiresAt, 'expiresAt'),
    text(request.agent.id),
    text(request.traceId),
    request.answeredAt === undefined ? null : utcTime(request.answeredAt, 'answeredAt'),
    usedAt ?? null,
    request.argumentsHash,
    argumentsPurgedAt ?? null,
    JSON.stringify(rest),
    null,
    JSON.stringify(args),
  ];
}

/** The `answer` column for a transition: laid over the request when read. */
export function answerText(transition: ApprovalTransition): string {
  return JSON.stringify({
    answeredBy: transition.by,
    answeredAt: transition.at,
    ...(transition.comment !== undefined ? { comment: transition.comment } : {}),
  });
}

export function approvalFromRow(row: ApprovalRow): ApprovalRequest {
  const approval = JSON.parse(row.request) as ApprovalRequest;
  if (row.answer !== null) Object.assign(approval, JSON.parse(row.answer));
  approval.status = row.status;
  approval.arguments = JSON.parse(row.arguments) as Record<string, unknown>;
  if (row.used_at !== null) approval.usedAt = row.used_at;
  if (row.arguments_purged_at !== null) approval.argumentsPurgedAt = row.arguments_purged_at;
  return approval;
}

/** Rows in creation order (what RETURNING gives is in no promised order). */
export function inCreationOrder(rows: ApprovalRow[]): ApprovalRequest[] {
  return rows.sort((a, b) => Number(a.seq) - Number(b.seq)).map(approvalFromRow);
}

/**
 * A listing's statement: newest first (by `seq`), filtered, one row more than the page so that
 * `approvalPage` knows whether more remain. The cursor is the id of the previous page's last
 * request, as the memory store's: an unknown one ends the listing.
 */
export function approvalListSql(
  table: string,
  query: ParsedApprovalListQuery,
  placeholder: (n: number) => string,
  text: (value: string) => string,
): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return placeholder(params.length);
  };
  const where: string[] = [];
  if (query.status !== undefined) where.push(`status = ${param(query.status)}`);
  if (query.agent !== undefined) where.push(`agent_id = ${param(text(query.agent))}`);
  if (query.traceId !== undefined) where.push(`trace_id = ${param(text(query.traceId))}`);
  if (query.cursor !== undefined) {
    where.push(`seq < (SELECT seq FROM ${table} WHERE id = ${param(query.cursor)})`);
  }
  const filter = where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '';
  return {
    sql: `SELECT ${APPROVAL_COLUMNS} FROM ${table}${filter} ORDER BY seq DESC LIMIT ${param(query.limit + 1)}`,
    params,
  };
}

/** The page a listing's rows make (see `approvalListSql`). */
export function approvalPage(rows: ApprovalRow[], limit: number): ApprovalPage {
  const approvals = rows.slice(0, limit).map(approvalFromRow);
  return rows.length > limit ? { approvals, nextCursor: approvals.at(-1)!.id } : { approvals };
}
