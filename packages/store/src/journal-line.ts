import type { ApprovalRequest, AuditEventBody } from '@meshguard/core';

/**
 * What one line of a SQLite store's journal holds: a caller's events (a JSON array, contexts
 * redacted) or an approval request to store (`{"approval": ...}`, as `createApproval` was given
 * it: its arguments unredacted, as the approval table keeps them). Both are committed in journal
 * order, the lines of one commit in one transaction.
 */
export type JournalEntry = AuditEventBody[] | { approval: ApprovalRequest };

/** The line (without its newline) that journals an approval request. */
export function approvalLine(request: ApprovalRequest): string {
  return JSON.stringify({ approval: request });
}

/** A line's entry; throws on a torn or foreign line (a replay skips it). */
export function parseJournalLine(line: string): JournalEntry {
  const entry = JSON.parse(line) as unknown;
  if (Array.isArray(entry)) return entry as AuditEventBody[];
  const approval = (entry as { approval?: unknown } | null)?.approval;
  if (approval !== null && typeof approval === 'object') return { approval: approval as ApprovalRequest };
  throw new Error('not a journal line');
}
