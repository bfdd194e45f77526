import type { AdapterCheckRequest, CheckedAction } from '@meshguard/core';
import { kit } from './vertex-governance';

// The approval helpers every adapter shares are core's.
export {
  answeredAtGateway,
  approvalStateOf,
  approvalsOf,
  awaitApprovalAnswer,
  isAllowed,
  notApprovedReason,
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
