import { ConfigError, type VerifyReport } from '@meshguard/core';
import type { SqliteDatabase } from './sqlite-driver';

/** The tables that hold the trail: without them there is nothing to verify or query. */
const TRAIL_TABLES = ['audit_events', 'audit_streams', 'audit_agents'];

/** The code of the error a store opened on a trail whose tables were dropped throws. */
const TRAIL_MISSING = 'store_trail_missing';

/** What verify says when a table of the trail is gone: every event was removed, not one edited. */
export function trailMissingReport(table: string, where: string): VerifyReport {
  return {
    ok: false,
    checked: 0,
    streams: [],
    problem: {
      stream: '',
      seq: 0,
      id: '',
      kind: 'truncated',
      message: `the ${table} table of ${where} is gone: the audit trail was deleted (nothing is left to verify)`,
    },
  };
}

/** The table a "no such table" / "relation does not exist" error names, if it is one of the trail's. */
export function missingTrailTable(error: unknown): string | undefined {
  const message = (error as Error | undefined)?.message ?? '';
  return TRAIL_TABLES.find(
    (table) =>
      message.includes(`no such table: ${table}`) ||
      new RegExp(`relation "[^"]*\\b${table}" does not exist`).test(message),
  );
}

/** Refuses a MeshGuard SQLite file whose trail tables were dropped, saying which one is gone. */
export function assertTrailTables(db: SqliteDatabase, path: string): void {
  const present = new Set(
    (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map(
      (r) => r.name,
    ),
  );
  const gone = TRAIL_TABLES.find((table) => !present.has(table));
  if (gone) {
    throw new ConfigError(`the ${gone} table of "${path}" is gone: the audit trail was deleted`, {
      code: TRAIL_MISSING,
    });
  }
}
