import type { ChainProblem } from '@meshguard/core';
import {
  agentKey,
  agentNamesProblem,
  bodyValue,
  columnMismatch,
  DERIVED_COLUMNS,
  sqlitePath,
} from './derived-columns';
import type { SqliteDatabase } from './sqlite-driver';
import { rowToEvent } from './stored-row';

/**
 * Checks that every derived column the file has is still computed from the hashed body, and the
 * agent names queries resolve through audit_agents against the events' own. A generated column
 * cannot be updated, but the table can be rebuilt with plain columns (or its definition rewritten
 * with `PRAGMA writable_schema`): the hash chain would still hold while `--decision deny` skipped a
 * deny. An intact definition is proof enough for every row (read once, not per event); only a
 * changed one costs a pass over the rows, to name the first event whose column disagrees. Run
 * once the chains are known to be intact.
 */
export function checkDerivedColumns(db: SqliteDatabase, lastPos: number): ChainProblem | undefined {
  const table = db
    .prepare("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'audit_events'")
    .get() as { sql: string } | undefined;
  const present = new Set(
    (db.prepare('PRAGMA table_xinfo(audit_events)').all() as Array<{ name: string }>).map((c) => c.name),
  );
  // stream is a plain column (the chain check reads it): every other one must be generated.
  const columns = DERIVED_COLUMNS.filter((c) => present.has(c.column) && c.column !== 'stream');
  const changed = columns.filter(({ column, path }) => !generatedFromBody(table?.sql ?? '', column, path));
  if (changed.length === 0) return checkAgentNames(db, lastPos);
  const differs = changed
    .map(({ column, path }) => `${column} IS NOT (body ->> '${sqlitePath(path)}')`)
    .join(' OR ');
  const row = db
    .prepare(
      `SELECT body, hash, ${changed.map((c) => c.column).join(', ')} FROM audit_events WHERE pos <= ? AND (${differs}) ORDER BY pos LIMIT 1`,
    )
    .get(lastPos) as ({ body: string; hash: string } & Record<string, unknown>) | undefined;
  if (row) {
    const event = rowToEvent(row.body, row.hash);
    for (const { column, path } of changed) {
      const hashed = bodyValue(event, path);
      if (row[column] !== hashed) {
        const message = columnMismatch(event, column, row[column], hashed);
        return { stream: event.stream, seq: event.seq, id: event.id, kind: 'edited', message };
      }
    }
  }
  return {
    stream: '',
    seq: 0,
    id: '',
    kind: 'edited',
    message: `the audit_events table was rebuilt: its ${changed.map((c) => c.column).join(', ')} column${changed.length === 1 ? ' is' : 's are'} no longer computed from the hashed event, so nothing keeps queries by ${changed.length === 1 ? 'it' : 'them'} truthful`,
  };
}

/** Whether the table's definition computes `column` from the body, as MeshGuard made it. */
function generatedFromBody(sql: string, column: string, path: readonly string[]): boolean {
  const at = sqlitePath(path).replaceAll('.', '\\.').replace('$', '\\$');
  return new RegExp(
    `[\\s(,]${column}\\s+(?:TEXT|INTEGER)\\s+GENERATED\\s+ALWAYS\\s+AS\\s+\\(body\\s*->>\\s*'${at}'\\)\\s+VIRTUAL\\s*[,)]`,
  ).test(sql);
}

/**
 * The agent names of the events up to `lastPos` against those audit_agents records. audit_agents
 * only grows, and a writer records an agent with its first event: a pair recorded for no event up
 * to `lastPos` is looked up among the events appended since before it is called extra.
 */
function checkAgentNames(db: SqliteDatabase, lastPos: number): ChainProblem | undefined {
  const events = db
    .prepare(
      "SELECT DISTINCT body ->> '$.agent.name' AS name, agent_id AS id FROM audit_events WHERE pos <= ?",
    )
    .all(lastPos) as Array<{ name: string; id: string }>;
  const have = new Set(events.map((r) => agentKey(r.name, r.id)));
  const later = db.prepare<[number, string, string]>(
    "SELECT 1 FROM audit_events WHERE pos > ? AND agent_id = ? AND body ->> '$.agent.name' = ? LIMIT 1",
  );
  const recorded = (
    db.prepare('SELECT name, id FROM audit_agents').all() as Array<{ name: string; id: string }>
  ).filter((r) => have.has(agentKey(r.name, r.id)) || later.get(lastPos, r.id, r.name) === undefined);
  return agentNamesProblem(recorded, have);
}
