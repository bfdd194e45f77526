import type { ApprovalStore } from '@meshguard/core';
import {
  APPROVAL_COLUMNS,
  APPROVAL_INSERT_COLUMNS,
  type ApprovalRow,
  answerText,
  approvalFromRow,
  approvalListSql,
  approvalPage,
  approvalValues,
  assertWritable,
  inCreationOrder,
  type StoreState,
  utcTime,
} from './approval-table';
import type { SqliteDatabase } from './sqlite-driver';

const same = (value: string) => value;

function prepare(db: SqliteDatabase) {
  const returning = `RETURNING ${APPROVAL_COLUMNS}`;
  return {
    create: db.prepare(
      `INSERT INTO approval_requests (${APPROVAL_INSERT_COLUMNS}) VALUES (${APPROVAL_INSERT_COLUMNS.split(',')
        .map(() => '?')
        .join(', ')}) ON CONFLICT (id) DO NOTHING`,
    ),
    get: db.prepare<[string], ApprovalRow>(`SELECT ${APPROVAL_COLUMNS} FROM approval_requests WHERE id = ?`),
    answer: db.prepare<[string, string, string, string], ApprovalRow>(
      `UPDATE approval_requests SET status = ?, answer = ?, answered_at = ? WHERE id = ? AND status = 'pending' ${returning}`,
    ),
    use: db.prepare<[string, string]>(
      "UPDATE approval_requests SET used_at = ? WHERE id = ? AND status = 'approved' AND used_at IS NULL",
    ),
    expire: db.prepare<[string, string, string], ApprovalRow>(
      `UPDATE approval_requests SET status = 'expired', answer = ?, answered_at = ?
       WHERE status = 'pending' AND expires_at <= ? ${returning}`,
    ),
    purge: db.prepare<[string, string]>(
      `UPDATE approval_requests SET arguments = '{}', arguments_purged_at = ?
       WHERE status <> 'pending' AND arguments_purged_at IS NULL AND coalesce(answered_at, expires_at) < ?`,
    ),
  };
}

/**
 * The SQLite store's approval requests (see core's `ApprovalStore`). Each change is one statement,
 * atomic under SQLite's write lock whichever process holds the file: of two answers the first
 * wins. No process is told of another's change: the guard's waiters look again every 250 ms.
 * `state` says whether the store is open for writing (the statements are prepared on first use:
 * a file too old to have the table can still be opened read-only).
 */
export function sqliteApprovals(db: SqliteDatabase, state: () => StoreState): ApprovalStore {
  let statements: ReturnType<typeof prepare> | undefined;
  const lists = new Map<string, ReturnType<SqliteDatabase['prepare']>>();
  const sql = () => {
    assertWritable(state());
    statements ??= prepare(db);
    return statements;
  };

  return {
    async createApproval(request) {
      sql().create.run(...approvalValues(request, same));
    },
    async getApproval(id) {
      const row = sql().get.get(id);
      return row && approvalFromRow(row);
    },
    async listApprovals(query) {
      sql();
      const { sql: text, params } = approvalListSql('approval_requests', query, () => '?', same);
      let statement = lists.get(text);
      if (!statement) {
        statement = db.prepare(text);
        lists.set(text, statement);
      }
      return approvalPage(statement.all(...params) as ApprovalRow[], query.limit);
    },
    async answerApproval(id, transition) {
      const { answer, get } = sql();
      const row = answer.get(transition.status, answerText(transition), utcTime(transition.at), id);
      if (row) return { changed: true, approval: approvalFromRow(row) };
      const current = get.get(id);
      return current && { changed: false, approval: approvalFromRow(current) };
    },
    async useApproval(id, at) {
      return sql().use.run(at, id).changes > 0;
    },
    async expireApprovals(now) {
      const answer = answerText({ status: 'expired', by: 'meshguard', at: now });
      const at = utcTime(now);
      return inCreationOrder(sql().expire.all(answer, at, at));
    },
    async purgeApprovalArguments(before) {
      return sql().purge.run(new Date().toISOString(), utcTime(before)).changes;
    },
  };
}
