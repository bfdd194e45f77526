import {
  type ApprovalDecisionInput,
  type ApprovalState,
  type CheckedAction,
  type Guard,
  MeshGuardError,
} from '@meshguard/core';
import { answeredAtGateway, approvalState, approvalStateOf, approvalsOf } from '@meshguard/core/internal';
import { debug } from './governance-context';

/**
 * How this adapter reaches the approval requests of a guard: reads them as the side that asked,
 * answers them in this process (`onApprovalRequired`, `approveToolCall`) when the guard can
 * (embedded), and withdraws one nobody can act on. The answer is recorded in the trail by the
 * guard (`approval_granted` / `approval_rejected`, the approver as `actor`). A gateway's requests
 * are answered there, by an approver: `answer` then only reads the answer given there.
 */
export interface ApprovalChannel {
  /** Answered in this process (an embedded guard); false: at the gateway, by an approver. */
  answersHere: boolean;
  status(id: string): Promise<ApprovalState | undefined>;
  answer(id: string, answer: ApprovalDecisionInput): Promise<ApprovalState>;
  cancel(id: string, by: string, comment: string): Promise<unknown>;
}

const channels = new WeakMap<Guard, ApprovalChannel | undefined>();

/**
 * The approval channel of a guard, if it has one: an embedded guard whose store keeps approval
 * requests, or a gateway guard (which reads its requests and waits for approvers' answers). A
 * guard without one (a custom store) keeps the interruption-only behaviour: the answer is
 * recorded as an `approved` / `rejected` outcome.
 */
export function approvalChannel(guard: Guard): ApprovalChannel | undefined {
  if (channels.has(guard)) return channels.get(guard);
  const approvals = approvalsOf(guard);
  let channel: ApprovalChannel | undefined;
  if (approvals) {
    channel = {
      answersHere: true,
      status: async (id) => {
        const found = await approvals.get(id);
        return found && approvalState(found);
      },
      answer: async (id, answer) => approvalState(await approvals.answer(id, answer)),
      cancel: (id, by, comment) => approvals.cancel(id, by, comment),
    };
  } else if (answeredAtGateway(guard)) {
    const status = (id: string) => approvalStateOf(guard, id);
    channel = {
      answersHere: false,
      status,
      answer: async (id, answer) => {
        const current = await status(id);
        if (!current) {
          throw new MeshGuardError(`there is no approval request ${id} at the gateway`, {
            code: 'approval_not_found',
          });
        }
        if (!answer.approve || current.status === 'approved') return current;
        throw new MeshGuardError(
          `approval ${id} is ${current.status} at the gateway, where an approver answers it (meshguard approvals approve ${id}); an agent's process cannot approve its own request`,
          { code: current.status === 'pending' ? 'approval_pending' : 'approval_not_approved' },
        );
      },
      // An agent cannot withdraw a gateway's request: unanswered, it expires.
      cancel: async () => undefined,
    };
  }
  channels.set(guard, channel);
  return channel;
}

/** The approval request a `require_approval` decision opened, when this adapter can answer it. */
export function openedApproval(checked: CheckedAction): string | undefined {
  const id = checked.decision.approval?.id;
  return id !== undefined && approvalChannel(checked.guard) ? id : undefined;
}

/**
 * Withdraws the approval request of a decision nobody can act on (a handoff, an offer, a call
 * refused for another reason), so it does not sit in the approvers' inbox; recorded as
 * `approval_cancelled`. Never throws into the run.
 */
export async function withdrawApproval(checked: CheckedAction, why: string): Promise<void> {
  const id = openedApproval(checked);
  if (id === undefined) return;
  try {
    await approvalChannel(checked.guard)?.cancel(id, 'meshguard', why);
  } catch (error) {
    // Answered or ended meanwhile: nothing to withdraw.
    debug('could not withdraw approval %s: %O', id, error);
  }
}
