import type { ApprovalRequest, AuditEventBody } from '@meshguard/core';

/**
 * What one line of a SQLite store's journal holds: a caller's events (contexts redacted) and
 * approval requests (their arguments unredacted, as the approval table keeps them). A line is
 * committed whole, in one transaction, its requests first; lines are committed in journal order.
 *
 * On disk a line is one of:
 * - `[...]`: events alone;
 * - `{"approvals": [...], "events": []}`: requests alone (`createApproval`; whoever created them
 *   records their events);
 * - `{"opened": [...], "events": [...]}`: a guard's `require_approval`, the decision's events and
 *   the requests they open, whose `approval_requested` events the store records after them
 *   (`approvalRequestedBody`: built from the request, so a replay records the same events).
 */
export interface JournalEntry {
  approvals: readonly ApprovalRequest[];
  /** Redacted already. */
  events: AuditEventBody[];
  /** The requests were opened by these events: their `approval_requested` events follow. */
  opened?: boolean;
}

/** The line (without its newline) that journals `events` (redacted already) and `approvals`. */
export function journalLine(
  events: readonly AuditEventBody[],
  approvals: readonly ApprovalRequest[],
  opened: boolean,
): string {
  if (approvals.length === 0) return JSON.stringify(events);
  return opened ? JSON.stringify({ opened: approvals, events }) : JSON.stringify({ approvals, events });
}

/** A line's entry; throws on a torn or foreign line (a replay skips it). */
export function parseJournalLine(line: string): JournalEntry {
  const entry = JSON.parse(line) as unknown;
  if (Array.isArray(entry)) return { approvals: [], events: entry as AuditEventBody[] };
  const { approvals, opened, events } = (entry ?? {}) as Record<string, unknown>;
  const requests = opened ?? approvals;
  if (Array.isArray(requests) && Array.isArray(events)) {
    return {
      approvals: requests as ApprovalRequest[],
      events: events as AuditEventBody[],
      ...(opened ? { opened: true } : {}),
    };
  }
  throw new Error('not a journal line');
}
