import { ValidationError } from '../errors/meshguard-error';
import { compileActionPattern } from '../policy/action-pattern';
import type { AuditEvent } from '../protocol/audit-event';
import type { ParsedAuditFilter } from '../protocol/audit-filter';
import { frameworkSpellings } from '../protocol/framework-names';

/** A predicate for the filter fields (everything but order, limit and cursor). */
export function compileAuditFilter(filter: ParsedAuditFilter): (event: AuditEvent) => boolean {
  const action = filter.action ? compileActionPattern(filter.action) : undefined;
  const since = filter.since ? parseTime('since', filter.since) : undefined;
  const until = filter.until ? parseTime('until', filter.until) : undefined;
  // Either spelling of a renamed framework finds its events, old and new.
  const frameworks = filter.framework === undefined ? undefined : frameworkSpellings(filter.framework);
  return (e) =>
    (filter.agent === undefined || e.agent.id === filter.agent || e.agent.name === filter.agent) &&
    (action === undefined || action(e.action)) &&
    (filter.effect === undefined || e.effect === filter.effect) &&
    (frameworks === undefined || frameworks.includes(e.framework)) &&
    (filter.kind === undefined || e.kind === filter.kind) &&
    (filter.type === undefined || e.type === filter.type) &&
    (filter.traceId === undefined || e.traceId === filter.traceId) &&
    (filter.decisionId === undefined || e.decisionId === filter.decisionId) &&
    (since === undefined || Date.parse(e.ts) >= since) &&
    (until === undefined || Date.parse(e.ts) < until);
}

function parseTime(field: string, text: string): number {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new ValidationError(field, `"${text}" is not an ISO time`);
  return ms;
}

/** Cursors are opaque to callers: base64url of the last event's (ts, id). */
export function encodeCursor(event: Pick<AuditEvent, 'ts' | 'id'>): string {
  return Buffer.from(JSON.stringify([event.ts, event.id])).toString('base64url');
}

export function decodeCursor(cursor: string): { ts: string; id: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && typeof value[0] === 'string' && typeof value[1] === 'string') {
      return { ts: value[0], id: value[1] };
    }
  } catch {
    // fall through to the error below
  }
  throw new ValidationError('cursor', 'not a cursor returned by a previous query');
}

/** Orders events by (ts, id), the order every store pages in. */
export function compareEvents(a: Pick<AuditEvent, 'ts' | 'id'>, b: Pick<AuditEvent, 'ts' | 'id'>): number {
  return a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
