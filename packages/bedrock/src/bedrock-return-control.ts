import type { InvocationResultMember } from '@aws-sdk/client-bedrock-agent-runtime';
import type {
  AgentIdentity,
  ApprovalAnswer,
  ApprovalRequest,
  CheckedAction,
  Decision,
  GuardApprovals,
} from '@meshguard/core';
import {
  approvalFailedDecision,
  approvalReason,
  checkApprovalAnswer,
  failedCheckReason,
  NO_APPROVER,
  parseWithSchema,
} from '@meshguard/core/internal';
import type { BedrockActionCall } from './action-group-handlers';
import {
  answerAtGateway,
  answeredAtGateway,
  approvalsOf,
  checkWithApproval,
  isAllowed,
  withdrawApproval,
} from './bedrock-approvals';
import { type CallInHand, describeCall, done, inHand, refuse, runAllowed } from './bedrock-call-in-hand';
import { debug, type Governance, kit } from './bedrock-governance';
import {
  INVOCATION_TYPES,
  type InvocationInputMember,
  type ReturnControlPayload,
  ReturnControlPayloadSchema,
} from './bedrock-payloads';
import type { GovernedCall, TurnState } from './bedrock-turn';

/** Parses a `returnControl` event; one MeshGuard cannot read is an error, never guessed at. */
export function parseReturnControl(raw: unknown): ReturnControlPayload {
  return parseWithSchema(ReturnControlPayloadSchema, raw, {
    under: 'returnControl',
    hint: 'MeshGuard cannot answer a return of control it cannot read',
  });
}

/** An input left waiting for a person's answer to its approval request (the turn is parked). */
interface WaitingInput {
  index: number;
  member: InvocationInputMember;
  call: BedrockActionCall;
  approval: { id: string; expiresAt: string };
  /** The `require_approval` decision that opened the request. */
  decisionId: string;
}

/** One return of control answered: a result per input, in order, except the inputs left waiting. */
export interface AnsweredReturnControl {
  results: Array<InvocationResultMember | undefined>;
  waiting: WaitingInput[];
}

/**
 * Answers one return of control: each input is checked for the agent that asked (a
 * collaborator's under the delegation supervisor -> collaborator), allowed ones run their
 * handler, refused ones get the reason with `responseState: 'REPROMPT'` so the agent can tell
 * the user. Results echo what the service matches them on: action group, function or API path
 * and method, and agent id. With `parking` and no `onApprovalRequired`, an input whose approval
 * request is open waits (no result) for the turn to be parked.
 */
export async function answerReturnControl(
  governance: Governance,
  turn: TurnState,
  payload: ReturnControlPayload,
): Promise<AnsweredReturnControl> {
  const answered: AnsweredReturnControl = { results: [], waiting: [] };
  // One at a time: handlers may depend on each other's effects, and the trail keeps their order.
  for (const [index, member] of payload.invocationInputs.entries()) {
    const answer = await answerInput(governance, turn, payload.invocationId, member, index);
    if ('approval' in answer && 'member' in answer) {
      answered.waiting.push(answer);
      answered.results.push(undefined);
    } else answered.results.push(answer);
  }
  return answered;
}

async function answerInput(
  governance: Governance,
  turn: TurnState,
  invocationId: string,
  member: InvocationInputMember,
  index: number,
): Promise<InvocationResultMember | WaitingInput> {
  const { call, spec } = describeCall(governance, turn, invocationId, member);
  const hand = inHand(governance, turn, call, spec, index);
  let checked: CheckedAction;
  try {
    hand.request.context = spec?.context ? spec.context(hand.input, call) : hand.input;
    checked = await kit.check(hand.request);
  } catch (error) {
    // The host's context mapping threw: nothing can be decided, so the call is refused.
    checked = kit.failed(hand.request, failedCheckReason("the check's context could not be built", error));
  }
  const { decision } = checked;

  if (!(INVOCATION_TYPES as readonly string[]).includes(call.invocationType)) {
    // Unknown to this version: refused whatever policy says (there is no telling what answering it would do).
    debug('unsupported actionInvocationType %s for %s', call.invocationType, call.action);
    const text = `MeshGuard cannot answer an action of invocation type ${call.invocationType}`;
    return refuse(hand, checked, text, { outcome: 'blocked', reason: text });
  }
  if (decision.effect === 'deny') {
    return refuse(hand, checked, kit.denialText(decision, call, governance.denialMessage), {
      outcome: 'blocked',
    });
  }
  if (decision.effect === 'require_approval') {
    const ref = decision.approval;
    if (ref && !governance.onApprovalRequired && governance.parking) {
      // A person answers later, elsewhere: the turn is parked and resumed once they have.
      const waiting = `Waiting for approval ${ref.id} (until ${ref.expiresAt})`;
      turn.decisions.push({ call, decision, outcome: 'awaiting_approval', response: waiting });
      return {
        index,
        member,
        call,
        approval: { id: ref.id, expiresAt: ref.expiresAt },
        decisionId: decision.decisionId,
      };
    }
    if (!governance.onApprovalRequired) {
      // Nothing runs unapproved: with no one to ask, the call is refused (and its request withdrawn).
      const text = `${kit.denialText(decision, call, governance.denialMessage)} (${NO_APPROVER})`;
      if (ref) await withdrawApproval(governance.guard, ref.id, NO_APPROVER);
      return refuse(hand, checked, text, { outcome: 'blocked', reason: text });
    }
    const approvals = ref ? approvalsOf(governance.guard) : undefined;
    if (ref && approvals) return approveHere(hand, checked, ref.id, approvals);
    if (ref && answeredAtGateway(governance.guard)) return approveAtGateway(hand, checked, ref);
    if (ref) {
      // A request this guard can neither answer nor read (a guard written by hand around a
      // gateway's): no answer given here could let the call through.
      const failed = `approval ${ref.id} can be neither answered nor read through this guard`;
      const text = kit.denialText(approvalFailedDecision(decision, failed), call, governance.denialMessage);
      return refuse(hand, checked, text, { outcome: 'blocked', error: failed });
    }
    // No approval request to answer (a store that keeps none): the answer is an outcome.
    return answerLocally(hand, checked, await askApproval(governance, checked, call));
  }
  return runAllowed(hand, checked);
}

/** The host's answer where there is no request to answer (or it refused at once): an outcome. */
function answerLocally(
  hand: CallInHand,
  checked: CheckedAction,
  answer: Awaited<ReturnType<typeof askApproval>>,
): Promise<InvocationResultMember> {
  const { governance, call } = hand;
  const { decision } = checked;
  if ('failed' in answer) {
    const text = kit.denialText(
      approvalFailedDecision(decision, answer.failed),
      call,
      governance.denialMessage,
    );
    return refuse(hand, checked, text, { outcome: 'blocked', error: answer.failed });
  }
  hand.approval = answer;
  if (!answer.approved) return refuse(hand, checked, answer.message ?? `Not approved: ${decision.reason}`);
  return runAllowed(hand, checked);
}

/**
 * A gateway's request, answered there by an approver: the host is asked first (a rejection here
 * refuses at once), then the call waits for the approver's answer, up to the request's expiry,
 * and runs only if they approved (checked again with the request's id).
 */
async function approveAtGateway(
  hand: CallInHand,
  checked: CheckedAction,
  ref: { id: string; expiresAt: string },
): Promise<InvocationResultMember> {
  const answer = await askApproval(hand.governance, checked, hand.call, false);
  if ('failed' in answer || !answer.approved) return answerLocally(hand, checked, answer);
  const { approval, notApproved } = await answerAtGateway(hand.governance.guard, ref, hand.turn.answerBy);
  if (approval) hand.approval = approval;
  return settleApproved(hand, ref.id, notApproved);
}

/**
 * An in-process answer, given the approver's way: recorded on the approval request (who, and
 * why), then the call is checked again with the request's id right before it runs, so exactly
 * the approved call runs, once.
 */
async function approveHere(
  hand: CallInHand,
  checked: CheckedAction,
  approvalId: string,
  approvals: GuardApprovals,
): Promise<InvocationResultMember> {
  const { governance, call } = hand;
  const { decision } = checked;
  let answer: ApprovalAnswer;
  try {
    answer = checkApprovalAnswer(await governance.onApprovalRequired!(call, decision));
  } catch (error) {
    debug('approval of %s failed: %O', call.action, error);
    const failed = errorText(error);
    await withdrawApproval(governance.guard, approvalId, `the approver failed: ${failed}`);
    const text = kit.denialText(approvalFailedDecision(decision, failed), call, governance.denialMessage);
    return refuse(hand, checked, text, { outcome: 'blocked', error: failed });
  }
  let answered: ApprovalRequest;
  try {
    answered = await approvals.answer(approvalId, {
      approve: answer.approve,
      by: answer.by,
      comment: answer.message,
    });
  } catch (error) {
    // Answered already elsewhere, expired meanwhile, or not recorded: this answer approved nothing.
    debug('answering approval %s failed: %O', approvalId, error);
    const failed = errorText(error);
    const text = kit.denialText(approvalFailedDecision(decision, failed), call, governance.denialMessage);
    return refuse(hand, checked, text, { outcome: 'blocked', error: failed });
  }
  hand.approval = {
    approved: answer.approve,
    by: answer.by,
    ...(answer.message !== undefined ? { message: answer.message } : {}),
  };
  return settleApproved(
    hand,
    approvalId,
    answer.approve ? undefined : { reason: approvalReason(answered), message: answer.message },
  );
}

/** Why a person's answer let nothing run: the request's answer in words, or the approver's message. */
export interface NotApproved {
  /** `Rejected by maria (approval apr_...)`, `Approval apr_... expired at ...`: the model hears it as a denial. */
  reason: string;
  /** The approver's own words for the agent (an in-process answer's `message`), heard as they are. */
  message?: string | undefined;
}

/**
 * Checks a call whose approval request was answered again with its id, right before it would
 * run: allowed once for exactly the approved call; a deny (changed arguments, a policy that now
 * denies, a rejection, an expiry) is answered like any refusal. `notApproved` says why when the
 * person did not approve: the call is refused whatever the check says (it records the deny).
 */
async function settleApproved(
  hand: CallInHand,
  approvalId: string,
  notApproved: NotApproved | undefined,
): Promise<InvocationResultMember> {
  const checked = await checkWithApproval(hand.request, approvalId);
  if (notApproved !== undefined) {
    const text =
      notApproved.message ??
      kit.denialText(
        { ...checked.decision, allowed: false, effect: 'deny', reason: notApproved.reason },
        hand.call,
        hand.governance.denialMessage,
      );
    return refuse(hand, checked, text, { outcome: 'blocked' });
  }
  if (!isAllowed(checked.decision)) {
    const text = kit.denialText(checked.decision, hand.call, hand.governance.denialMessage);
    return refuse(hand, checked, text, { outcome: 'blocked' });
  }
  return runAllowed(hand, checked);
}

/**
 * Answers a parked input once its approval request was answered (a resumed turn): checked again
 * with the request's id, then run, confirmed or refused like any call. `notApproved` says why
 * when the person did not approve.
 */
export async function answerApprovedInput(
  governance: Governance,
  turn: TurnState,
  parked: { invocationId: string; member: InvocationInputMember; delegation: AgentIdentity[]; index: number },
  approvalId: string,
  answer: {
    approval: NonNullable<GovernedCall['approval']> | undefined;
    notApproved: NotApproved | undefined;
  },
): Promise<InvocationResultMember> {
  const { call, spec } = describeCall(
    governance,
    turn,
    parked.invocationId,
    parked.member,
    parked.delegation,
  );
  const hand = inHand(governance, turn, call, spec, parked.index);
  if (answer.approval) hand.approval = answer.approval;
  try {
    hand.request.context = spec?.context ? spec.context(hand.input, call) : hand.input;
  } catch (error) {
    const checked = kit.failed(
      hand.request,
      failedCheckReason("the check's context could not be built", error),
    );
    return refuse(hand, checked, kit.denialText(checked.decision, call, governance.denialMessage), {
      outcome: 'blocked',
    });
  }
  return settleApproved(hand, approvalId, answer.notApproved);
}

/**
 * Refuses a parked input without checking it again (its session is gone, say): recorded as a
 * `blocked` outcome of the decision that opened its approval request, with `reason`.
 */
export async function refuseParkedInput(
  governance: Governance,
  turn: TurnState,
  parked: { invocationId: string; member: InvocationInputMember; delegation: AgentIdentity[]; index: number },
  decisionId: string,
  reason: string,
): Promise<void> {
  const { call, spec } = describeCall(
    governance,
    turn,
    parked.invocationId,
    parked.member,
    parked.delegation,
  );
  const hand = inHand(governance, turn, call, spec, parked.index);
  const decision: Decision = {
    decisionId,
    allowed: false,
    effect: 'deny',
    reason,
    mode: 'enforce',
    evaluatedAt: new Date().toISOString(),
  };
  const { context: _context, spanId: _spanId, ...request } = hand.request;
  // Joined to the decision that asked for approval, whose effect it keeps, in any process.
  const asked: Decision = { ...decision, effect: 'require_approval' };
  await kit.recordOutcome(
    { ...request, delegation: call.delegation, decision: asked },
    { outcome: 'blocked', reason },
  );
  done(hand, decision, { outcome: 'blocked', response: reason });
}

/**
 * Asks the host's `onApprovalRequired` and records who answered what, where there is no approval
 * request to answer. An approver that throws or answers anything but `{ approve: boolean, by:
 * string }` approved nothing (`failed` says why).
 */
async function askApproval(
  governance: Governance,
  checked: CheckedAction,
  call: BedrockActionCall,
  recordApproval = true,
): Promise<NonNullable<GovernedCall['approval']> | { failed: string }> {
  let answer: ApprovalAnswer;
  try {
    answer = checkApprovalAnswer(await governance.onApprovalRequired!(call, checked.decision));
  } catch (error) {
    debug('approval of %s failed: %O', call.action, error);
    return { failed: errorText(error) };
  }
  // A gateway's request: an approval here is no answer (the approver's is recorded there).
  if (recordApproval || !answer.approve)
    await kit.recordOutcome(checked, {
      outcome: answer.approve ? 'approved' : 'rejected',
      actor: answer.by,
      ...(answer.message ? { reason: answer.message } : {}),
    });
  return {
    approved: answer.approve,
    by: answer.by,
    ...(answer.message !== undefined ? { message: answer.message } : {}),
  };
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));
