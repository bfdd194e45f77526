import type { AdapterCheckRequest, ApprovalState, CheckedAction, Guard } from '@meshguard/core';
import { awaitApprovalAnswer, failedCheckReason, notApprovedReason } from '@meshguard/core/internal';
import { kit } from './bedrock-governance';

// The approval helpers every adapter shares are core's.
export {
  answeredAtGateway,
  approvalStateOf,
  approvalsOf,
  isAllowed,
  withdrawApproval,
} from '@meshguard/core/internal';

// What the adapter does with approval requests core opens for `require_approval` decisions: the
// approver's path for an in-process answer, and the check that lets exactly the approved call run.

/**
 * Checks a call again with the `approvalId` its approval request has: allowed once when a person
 * approved exactly this call (same agent, action and context) and policy still asks for approval.
 * Fails closed like any `kit.check`: a check that throws is a deny saying so.
 */
export function checkWithApproval(request: AdapterCheckRequest, approvalId: string): Promise<CheckedAction> {
  return kit.check({ ...request, approvalId });
}

/**
 * Waits for an approver's answer to a gateway's request (this process cannot answer it), up to
 * its expiry or `sessionUntil` (the Bedrock session idles out soon after), whichever comes first:
 * who answered, and why the call does not run unless they approved (a read that fails is a no).
 */
export async function answerAtGateway(
  guard: Guard,
  ref: { id: string; expiresAt: string },
  sessionUntil: number | undefined,
): Promise<{
  approval?: { approved: boolean; by: string; message?: string };
  notApproved?: { reason: string };
}> {
  let state: ApprovalState | undefined;
  try {
    state = await awaitApprovalAnswer(guard, ref.id, ref.expiresAt, {
      ...(sessionUntil !== undefined ? { until: sessionUntil } : {}),
    });
  } catch (error) {
    return { notApproved: { reason: failedCheckReason('the approval could not be read', error) } };
  }
  if (state?.status === 'pending' && sessionUntil !== undefined && sessionUntil < Date.parse(ref.expiresAt)) {
    const at = new Date(sessionUntil).toISOString();
    const reason = `Approval ${ref.id} was not answered before the Bedrock session would idle out (${at})`;
    return { notApproved: { reason } };
  }
  const approval = state?.answeredBy
    ? {
        approved: state.status === 'approved',
        by: state.answeredBy,
        ...(state.comment !== undefined ? { message: state.comment } : {}),
      }
    : undefined;
  const said = approval ? { approval } : {};
  if (state?.status === 'approved') return said;
  return { ...said, notApproved: { reason: notApprovedReason(state, ref.id, ref.expiresAt) } };
}
