import type { NotifyingApprovalStore } from '@meshguard/core';
import createDebug from 'debug';
import type pg from 'pg';
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
import { listenPostgres } from './postgres-listen';
import { columnText } from './stored-row';

const debug = createDebug('meshguard:store');

/**
 * The channel the approvals of schema `schema` are announced on: their own, not the gateway
 * state's (`meshguard_<schema>`), whose listeners would take an id for a change of agents.
 * PostgreSQL names are at most 63 bytes: two long names may share a channel, which costs their
 * listeners a look at an id they do not know.
 */
export function approvalChannel(schema: string): string {
  return `meshguard_approvals_${schema}`.slice(0, 63);
}

/** PostgreSQL text cannot hold NUL: no stored id has one (a lookup by one finds nothing). */
const storable = (id: string) => !id.includes('\u0000');

export interface PostgresApprovals {
  approvals: NotifyingApprovalStore;
  /** Ends the LISTEN connection, if one is open. */
  close(): Promise<void>;
}

/**
 * The PostgreSQL store's approval requests (see core's `ApprovalStore`) in schema `s` (quoted).
 * Each change is one statement: of two answers to one request, on any replica, the second waits
 * for the first's row lock, then finds the request no longer pending. Each change also NOTIFYs
 * the request's id on the schema's channel (sent when it commits), so `onApprovalChange` hears
 * what every process changes: the others' (a waiter there wakes at once), and this one's own
 * (a waiter reads the request again, and finds it as it knew).
 */
export function postgresApprovals(
  pool: pg.Pool,
  options: { s: string; schema: string; connectionString: string; state: () => StoreState },
): PostgresApprovals {
  const { s, state } = options;
  const table = `${s}.approval_requests`;
  const channel = approvalChannel(options.schema);
  const listeners = new Set<(id: string) => void>();
  let listening: { close(): Promise<void> } | undefined;
  const run = (sql: string, params: unknown[]) => {
    assertWritable(state());
    return pool.query<ApprovalRow>(sql, params);
  };
  // Announces each row a data-modifying statement returns: pg_notify is called by the outer
  // SELECT, once per row (in a SELECT of its own in the WITH, it would run only if read).
  const told = (cte: string) =>
    `WITH changed AS (${cte}) SELECT changed.*, pg_notify($1, changed.id) FROM changed`;
  const get = async (id: string) => {
    if (!storable(id)) return undefined;
    const res = await run(`SELECT ${APPROVAL_COLUMNS} FROM ${table} WHERE id = $1`, [id]);
    return res.rows[0] && approvalFromRow(res.rows[0]);
  };
  const hear = (id: string) => {
    for (const listener of listeners) {
      try {
        listener(id);
      } catch (error) {
        debug('an approval listener failed: %O', error);
      }
    }
  };

  const approvals: NotifyingApprovalStore = {
    async createApproval(request) {
      const values = approvalValues(request, columnText);
      await run(
        told(
          `INSERT INTO ${table} (${APPROVAL_INSERT_COLUMNS}) VALUES (${values.map((_, i) => `$${i + 2}`).join(', ')})
           ON CONFLICT (id) DO NOTHING RETURNING id`,
        ),
        [channel, ...values],
      );
    },
    getApproval: get,
    async listApprovals(query) {
      if (query.cursor !== undefined && !storable(query.cursor)) return { approvals: [] };
      const { sql, params } = approvalListSql(table, query, (n) => `$${n}`, columnText);
      return approvalPage((await run(sql, params)).rows, query.limit);
    },
    async answerApproval(id, transition) {
      if (!storable(id)) return undefined;
      const res = await run(
        told(
          `UPDATE ${table} SET status = $2, answer = $3, answered_at = $4
           WHERE id = $5 AND status = 'pending' RETURNING ${APPROVAL_COLUMNS}`,
        ),
        [channel, transition.status, answerText(transition), utcTime(transition.at), id],
      );
      if (res.rows[0]) return { changed: true, approval: approvalFromRow(res.rows[0]) };
      const current = await get(id);
      return current && { changed: false, approval: current };
    },
    async useApproval(id, at) {
      if (!storable(id)) return false;
      const res = await run(
        told(
          `UPDATE ${table} SET used_at = $2 WHERE id = $3 AND status = 'approved' AND used_at IS NULL RETURNING id`,
        ),
        [channel, at, id],
      );
      return (res.rowCount ?? 0) > 0;
    },
    async expireApprovals(now) {
      const at = utcTime(now);
      const res = await run(
        told(
          `UPDATE ${table} SET status = 'expired', answer = $2, answered_at = $3
           WHERE status = 'pending' AND expires_at <= $3 RETURNING ${APPROVAL_COLUMNS}`,
        ),
        [channel, answerText({ status: 'expired', by: 'meshguard', at: now }), at],
      );
      return inCreationOrder(res.rows);
    },
    async purgeApprovalArguments(before) {
      const res = await run(
        `UPDATE ${table} SET arguments = '{}', arguments_purged_at = $1
         WHERE status <> 'pending' AND arguments_purged_at IS NULL AND coalesce(answered_at, expires_at) < $2`,
        [new Date().toISOString(), utcTime(before)],
      );
      return res.rowCount ?? 0;
    },
    onApprovalChange(listener) {
      if (state().closed) return () => {};
      listeners.add(listener);
      // Nothing is told after a lost connection comes back: the ids sent meanwhile are gone, and
      // the guard's waiters look again every 250 ms whatever they hear.
      listening ??= listenPostgres({ connectionString: options.connectionString, channel, onNotify: hear });
      return () => {
        listeners.delete(listener);
        if (listeners.size > 0 || !listening) return;
        const ending = listening;
        listening = undefined;
        ending.close().catch(() => {});
      };
    },
  };

  return {
    approvals,
    async close() {
      listeners.clear();
      const ending = listening;
      listening = undefined;
      await ending?.close();
    },
  };
}
