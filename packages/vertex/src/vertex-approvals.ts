import type {
  AdapterCheckRequest,
  ApprovalState,
  CheckedAction,
  Decision,
  Guard,
  GuardApprovals,
} from '@meshguard/core';
import { ConfigError } from '@meshguard/core';
import { debug, kit } from './vertex-governance';

// What the adapter does with approval requests core opens for `require_approval` decisions: the
// approver's path for an in-process answer, and the check that lets exactly the approved call run.

/** The guard's approval requests when it can answer them here (an embedded guard over a store that keeps them). */
export function approvalsOf(guard: Guard): GuardApprovals | undefined {
  const approvals = (guard as { approvals?: GuardApprovals }).approvals;
  return approvals && typeof approvals.answer === 'function' ? approvals : undefined;
}

/**
 * Checks a call again with the `approvalId` its approval request has: allowed once when a person
 * approved exactly this call (same agent, action and context) and policy still asks for approval.
 * Fails closed like any `kit.check`: a check that throws is a deny saying so.
 */
export function checkWithApproval(request: AdapterCheckRequest, approvalId: string): Promise<CheckedAction> {
  return kit.check({ ...request, approvalId });
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
export async function withdrawApproval(guard: Guard, approvalId: string, why: string) {
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
