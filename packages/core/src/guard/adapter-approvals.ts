import createDebug from 'debug';
import type { ApprovalState } from '../approvals/approval-flow';
import type { GuardApprovals } from '../approvals/guard-approvals';
import { ConfigError } from '../errors/meshguard-error';
import type { Decision } from '../protocol/decision';
import type { Guard } from './guard';

// What every adapter does with the approval requests core opens for `require_approval`
// decisions, written once: find who can answer here, withdraw a request nobody can act on, read
// one as the side that asked.

const debug = createDebug('meshguard:approvals');

/** The guard's approval requests when it can answer them here (an embedded guard over a store that keeps them). */
export function approvalsOf(guard: Guard): GuardApprovals | undefined {
  const approvals = (guard as { approvals?: GuardApprovals }).approvals;
  return approvals && typeof approvals.answer === 'function' ? approvals : undefined;
}

/** Only an allow runs anything, whatever else a guard may answer. */
export function isAllowed(decision: Decision): boolean {
  return decision.effect === 'allow' && decision.allowed === true;
}

/**
 * Withdraws an approval request nobody can act on any more (the call was refused here), so it
 * leaves the approvers' inbox; recorded as `approval_cancelled` by `meshguard`. Best effort: a
 * request answered meanwhile stays as it is.
 */
export async function withdrawApproval(guard: Guard, approvalId: string, why: string): Promise<void> {
  const approvals = approvalsOf(guard);
  if (!approvals) return;
  try {
    await approvals.cancel(approvalId, 'meshguard', why);
  } catch (error) {
    debug('withdrawing approval %s failed: %O', approvalId, error);
  }
}

/** An approval request as the side that asked sees it (embedded or remote guard). */
export async function approvalStateOf(guard: Guard, approvalId: string): Promise<ApprovalState | undefined> {
  if (typeof guard.approvalStatus !== 'function') {
    throw new ConfigError(
      'resuming an approved call needs a guard that reads approval requests (createGuard() from @meshguard/core)',
      { code: 'approval_unsupported' },
    );
  }
  return guard.approvalStatus(approvalId);
}
