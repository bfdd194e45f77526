import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditEventBody } from '@meshguard/core';
import createDebug from 'debug';
import { journalDir, segmentNumber } from './journal-files';
import { openSqlite } from './sqlite-driver';

const debug = createDebug('meshguard:store');

/**
 * The events in the journals beside a SQLite database that are not in it: decisions a writer
 * journaled and had not committed when it crashed (or is still committing). Read only: nothing is
 * replayed, no lock is taken, so a live writer's journal is never disturbed; the next writer to
 * open the store replays the journals of writers that are gone. Oldest first within a journal;
 * contexts are redacted already (a journal holds the redacted form). An unreadable or torn line
 * (a crash can leave one at the end of a file) is skipped, as a replay would.
 *
 * @example
 * for (const body of readPendingEvents('.meshguard/meshguard.db')) console.log(body.action);
 */
export function readPendingEvents(databasePath: string): AuditEventBody[] {
  const dir = journalDir(databasePath);
  if (!existsSync(dir)) return [];
  const journalId = (file: string) => file.slice(0, file.indexOf('.'));
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.jsonl'))
      .sort((a, b) => journalId(a).localeCompare(journalId(b)) || segmentNumber(a) - segmentNumber(b));
  } catch (error) {
    debug('cannot list the journals in %s: %O', dir, error);
    return [];
  }
  const found = new Map<string, AuditEventBody>();
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(join(dir, file), 'utf8');
    } catch (error) {
      // Committed and removed by its writer meanwhile.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      let bodies: unknown;
      try {
        bodies = JSON.parse(line);
      } catch {
        debug('skipping a torn line in %s', file);
        continue;
      }
      if (!Array.isArray(bodies)) continue;
      for (const body of bodies as AuditEventBody[]) {
        if (body && typeof body.id === 'string' && !found.has(body.id)) found.set(body.id, body);
      }
    }
  }
  if (found.size === 0) return [];
  // A line committed before its writer died (or by a live writer meanwhile) is in the store.
  const db = openSqlite(databasePath, { readonly: true });
  try {
    const stored = db.prepare<[string], { n: number }>('SELECT 1 AS n FROM audit_events WHERE id = ?');
    return [...found.values()].filter((body) => stored.get(body.id) === undefined);
  } finally {
    db.close();
  }
}
