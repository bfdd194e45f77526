import type { AuditEvent, ChainProblem } from '@meshguard/core';

/**
 * The columns stored beside an event's hashed body that queries filter on (or that verification
 * reads), each with where its value lies in the body. The body is the one source of truth: a
 * column that disagrees with it makes a query lie (`--decision deny` missing a deny), so
 * verification compares every one of them with the body it hashed. SQLite computes most of them
 * from the body (generated columns), PostgreSQL stores them all; both verify the same list.
 */
export const DERIVED_COLUMNS: ReadonlyArray<{ column: string; path: readonly string[] }> = [
  { column: 'id', path: ['id'] },
  { column: 'stream', path: ['stream'] },
  { column: 'seq', path: ['seq'] },
  { column: 'ts', path: ['ts'] },
  { column: 'type', path: ['type'] },
  { column: 'trace_id', path: ['traceId'] },
  { column: 'decision_id', path: ['decisionId'] },
  { column: 'agent_id', path: ['agent', 'id'] },
  { column: 'agent_name', path: ['agent', 'name'] },
  { column: 'framework', path: ['framework'] },
  { column: 'kind', path: ['kind'] },
  { column: 'action', path: ['action'] },
  { column: 'effect', path: ['effect'] },
  { column: 'mode', path: ['mode'] },
];

/** The body's value for a derived column (undefined when the body has none). */
export function bodyValue(event: AuditEvent, path: readonly string[]): unknown {
  let value: unknown = event;
  for (const key of path) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** The SQLite JSON path of a derived column (`$.agent.id`). */
export function sqlitePath(path: readonly string[]): string {
  return `$.${path.join('.')}`;
}

/** What verification says of a column that disagrees with the hashed body. */
export function columnMismatch(event: AuditEvent, column: string, stored: unknown, hashed: unknown): string {
  return `event ${event.id} (seq ${event.seq}): its ${column} column holds ${JSON.stringify(stored)} but the hashed event says ${JSON.stringify(hashed ?? null)}: the column was edited, and queries by it would not tell the truth`;
}

/** The key of an agent's (name, id) pair in `agentNamesProblem`'s sets. */
export function agentKey(name: string, id: string): string {
  return `${name}\u0000${id}`;
}

/**
 * Queries by agent name read the ids recorded under each name (audit_agents): a pair no event has
 * makes such a query answer with another agent's events, a missing one hides this agent's.
 */
export function agentNamesProblem(
  recorded: ReadonlyArray<{ name: string; id: string }>,
  events: ReadonlySet<string>,
): ChainProblem | undefined {
  const problem = (message: string): ChainProblem => ({
    stream: '',
    seq: 0,
    id: '',
    kind: 'edited',
    message,
  });
  const names = new Set<string>();
  for (const { name, id } of recorded) {
    names.add(agentKey(name, id));
    if (!events.has(agentKey(name, id))) {
      return problem(
        `audit_agents records agent id "${id}" under the name "${name}", which no event has: it was edited, and queries by agent name would not tell the truth`,
      );
    }
  }
  for (const key of events) {
    if (!names.has(key)) {
      const [name, id] = key.split('\u0000');
      return problem(
        `events of agent id "${id}" named "${name}" are missing from audit_agents: it was edited, and queries by agent name would not find them`,
      );
    }
  }
  return undefined;
}
