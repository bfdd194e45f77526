import type {
  ApprovalDecisionInput,
  ApprovalRequest,
  ApprovalState,
  CheckedAction,
  EmbeddedGuard,
  Guard,
} from '@meshguard/core';
import { approvalState } from '@meshguard/core/internal';
import { debug } from './governance-context';

/**
 * How this adapter reaches the approval requests of a guard: reads them as the side that asked,
 * answers them in this process (`onApprovalRequired`, `approveToolCall`), and withdraws one nobody
 * can act on. The answer is recorded in the trail by the guard (`approval_granted` /
 * `approval_rejected`, the approver as `actor`).
 */
export interface ApprovalChannel {
  status(id: string): Promise<ApprovalState | undefined>;
  answer(id: string, answer: ApprovalDecisionInput): Promise<ApprovalRequest>;
  cancel(id: string, by: string, comment: string): Promise<unknown>;
}

const channels = new WeakMap<Guard, ApprovalChannel | undefined>();

/**
 * The approval channel of a guard, if it has one: an embedded guard whose store keeps approval
 * requests. A guard without one (a custom store, a remote guard) keeps the interruption-only
 * behaviour: the answer is recorded as an `approved` / `rejected` outcome. A remote guard fits
 * here once an agent's side of the gateway can answer: it reads (`approvalStatus`) already.
 */
export function approvalChannel(guard: Guard): ApprovalChannel | undefined {
  if (channels.has(guard)) return channels.get(guard);
  const approvals = (guard as Partial<Pick<EmbeddedGuard, 'approvals'>>).approvals;
  const channel: ApprovalChannel | undefined = approvals
    ? {
        status: async (id) => {
          const found = await approvals.get(id);
          return found && approvalState(found);
        },
        answer: (id, answer) => approvals.answer(id, answer),
        cancel: (id, by, comment) => approvals.cancel(id, by, comment),
      }
    : undefined;
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
