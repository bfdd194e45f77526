import type { AuditEvent, AuditEventBody } from '@meshguard/core';
import { formatTable } from './audit-format';
import { isSingular, type paint, plural } from './cli-output';

/** Why an event is pending, said once above them. */
export function pendingNote(count: number): string {
  const one = isSingular(count);
  return `${plural(count, 'pending event')}: journaled by a writer that did not commit ${one ? 'it' : 'them'} (it crashed, or is committing now); not in the hash chain yet, ${one ? 'it is' : 'they are'} recorded when a writer next opens the store`;
}

/**
 * The lines that show events from a writer's journal, apart from the stored ones: JSON lines with
 * `"pending": true`, or a note and a table.
 */
export function pendingLines(
  events: readonly AuditEventBody[],
  c: ReturnType<typeof paint>,
  json: boolean | undefined,
): string[] {
  if (events.length === 0) return [];
  if (json) return events.map((e) => JSON.stringify({ ...e, pending: true }));
  // Not chained yet: no stream, seq or hash (the table shows none of them).
  const unchained = events.map((e): AuditEvent => ({ ...e, stream: '', seq: 0, prevHash: '', hash: '' }));
  return [c.yellow(pendingNote(events.length)), ...formatTable(unchained, c)];
}
