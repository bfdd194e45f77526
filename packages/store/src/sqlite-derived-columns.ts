import type { ChainProblem } from '@meshguard/core';
import type Database from 'better-sqlite3';
import {
  agentKey,
  agentNamesProblem,
  bodyValue,
  columnMismatch,
  DERIVED_COLUMNS,
  sqlitePath,
} from './derived-columns';
import { rowToEvent } from './stored-row';

/**
 * Compares every derived column the file has (generated from the body, or stored like `stream`)
 * with the hashed body, and the agent names queries resolve through audit_agents with the events'
 * own. A generated column cannot be updated, but its definition can be rewritten
 * (`PRAGMA writable_schema`) or the table rebuilt with plain columns: the hash chain would still
 * hold while `--decision deny` skipped a deny. Run once the chains are known to be intact.
 */
export function checkDerivedColumns(db: Database.Database, lastPos: number): ChainProblem | undefined {
  const present = new Set(
    (db.prepare('PRAGMA table_xinfo(audit_events)').all() as Array<{ name: string }>).map((c) => c.name),
  );
  const columns = DERIVED_COLUMNS.filter((c) => present.has(c.column));
  const differs = columns
    .map(({ column, path }) => `${column} IS NOT (body ->> '${sqlitePath(path)}')`)
    .join(' OR ');
  let row: ({ body: string; hash: string } & Record<string, unknown>) | undefined;
  try {
    row = db
      .prepare(
        `SELECT body, hash, ${columns.map((c) => c.column).join(', ')} FROM audit_events WHERE pos <= ? AND (${differs}) ORDER BY pos LIMIT 1`,
      )
      .get(lastPos) as typeof row;
  } catch (error) {
    // Only a body that is not JSON gets here, and the chain check would have named it first.
    return {
      stream: '',
      seq: 0,
      id: '',
      kind: 'edited',
      message: `an event is not valid JSON: ${(error as Error).message}`,
    };
  }
  if (row) {
    const event = rowToEvent(row.body, row.hash);
    for (const { column, path } of columns) {
      const hashed = bodyValue(event, path);
      if (row[column] !== hashed) {
        return {
          stream: event.stream,
          seq: event.seq,
          id: event.id,
          kind: 'edited',
          message: columnMismatch(event, column, row[column], hashed),
        };
      }
    }
  }
  return checkAgentNames(db);
}

/** The agent names of the events against those audit_agents records, in one snapshot. */
function checkAgentNames(db: Database.Database): ChainProblem | undefined {
  // A writer records an event and its agent in one transaction.
  const { events, recorded } = db.transaction(() => ({
    events: db
      .prepare("SELECT DISTINCT body ->> '$.agent.name' AS name, agent_id AS id FROM audit_events")
      .all() as Array<{ name: string; id: string }>,
    recorded: db.prepare('SELECT name, id FROM audit_agents').all() as Array<{ name: string; id: string }>,
  }))();
  return agentNamesProblem(recorded, new Set(events.map((r) => agentKey(r.name, r.id))));
}
