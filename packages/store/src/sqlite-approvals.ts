import type { ApprovalRequest, ApprovalStore } from '@meshguard/core';
import {
  APPROVAL_COLUMNS,
  APPROVAL_INSERT_COLUMNS,
  type ApprovalRow,
  answerText,
  approvalFromRow,
  approvalListSql,
  approvalPage,
  approvalValues,
  assertApprovalRow,
  assertWritable,
  inCreationOrder,
  type StoreState,
  utcTime,
} from './approval-table';
import type { SqliteDatabase } from './sqlite-driver';

const same = (value: string) => value;

const PLACEHOLDERS = APPROVAL_INSERT_COLUMNS.split(',')
  .map(() => '?')
  .join(', ');
const INSERT = `INSERT INTO approval_requests (${APPROVAL_INSERT_COLUMNS}) VALUES (${PLACEHOLDERS}) ON CONFLICT (id) DO NOTHING`;

/** Stores a request, unless the table holds its id already (a retried create, a replayed line). */
export function prepareApprovalInsert(db: SqliteDatabase): (request: ApprovalRequest) => void {
  const insert = db.prepare(INSERT);
  return (request) => {
    insert.run(...approvalValues(request, same));
  };
}

/**
 * Where a journaling store's `createApproval` goes (see audit-journal.ts): `write` journals the
 * request (throws if it cannot, or while the journal's commits fail), `settle` waits until every
 * request journaled so far is committed.
 */
export interface ApprovalJournal {
  /** Returns a promise when commits are falling behind: awaited before the create resolves. */
  write(request: ApprovalRequest): Promise<void> | undefined;
  settle(): Promise<void>;
}

function prepare(db: SqliteDatabase) {
  const returning = `RETURNING ${APPROVAL_COLUMNS}`;
  return {
    create: prepareApprovalInsert(db),
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
 *
 * With a `journal` (a store that journals), a new request is journaled rather than inserted here:
 * durable once `createApproval` resolves, committed behind with the events journaled beside it (a
 * synchronous INSERT cost several times a check). Every other method first waits until the requests
 * journaled so far are committed, so this process reads what it created; other processes see a
 * request once it is committed, milliseconds later.
 */
export function sqliteApprovals(
  db: SqliteDatabase,
  state: () => StoreState,
  journal?: ApprovalJournal,
): ApprovalStore {
  let statements: ReturnType<typeof prepare> | undefined;
  const lists = new Map<string, ReturnType<SqliteDatabase['prepare']>>();
  const sql = () => {
    assertWritable(state());
    statements ??= prepare(db);
    return statements;
  };
  // What the journal holds is committed before a statement reads or changes the table.
  const ready = async () => {
    assertWritable(state());
    if (journal) await journal.settle();
    return sql();
  };

  return {
    async createApproval(request) {
      if (!journal) {
        sql().create(request);
        return;
      }
      assertWritable(state());
      // What the table would refuse is refused now: its commit, later, could not tell the caller.
      assertApprovalRow(request);
      const behind = journal.write(request);
      // Journaled already (durable); a store falling behind holds this caller back until it catches up.
      if (behind) await behind.catch(() => {});
    },
    async getApproval(id) {
      const row = (await ready()).get.get(id);
      return row && approvalFromRow(row);
    },
    async listApprovals(query) {
      await ready();
      const { sql: text, params } = approvalListSql('approval_requests', query, () => '?', same);
      let statement = lists.get(text);
      if (!statement) {
        statement = db.prepare(text);
        lists.set(text, statement);
      }
      return approvalPage(statement.all(...params) as ApprovalRow[], query.limit);
    },
    async answerApproval(id, transition) {
      const { answer, get } = await ready();
      const row = answer.get(transition.status, answerText(transition), utcTime(transition.at), id);
      if (row) return { changed: true, approval: approvalFromRow(row) };
      const current = get.get(id);
      return current && { changed: false, approval: approvalFromRow(current) };
    },
    async useApproval(id, at) {
      return (await ready()).use.run(at, id).changes > 0;
    },
    async expireApprovals(now) {
      const answer = answerText({ status: 'expired', by: 'meshguard', at: now });
      const at = utcTime(now);
      return inCreationOrder((await ready()).expire.all(answer, at, at));
    },
    async purgeApprovalArguments(before) {
      return (await ready()).purge.run(new Date().toISOString(), utcTime(before)).changes;
    },
  };
}
