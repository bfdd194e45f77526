import {
  ApprovalConflictError,
  type ApprovalState,
  type CheckedAction,
  type Decision,
  MeshGuardError,
} from '@meshguard/core';
import {
  approvalState,
  awaitApprovalAnswer,
  failedCheckReason,
  notApprovedReason,
} from '@meshguard/core/internal';
import type { RunState, RunToolApprovalItem } from '@openai/agents';
import { approvalChannel, openedApproval } from './approval-requests';
import { callSpanId, governedToolInfo } from './govern-tool';
import {
  callApprovals,
  callIdOf,
  type GovernanceOptions,
  guardFor,
  identityOf,
  kit,
  pendingApprovals,
  runGovernance,
} from './governance-context';
import type { ApprovalAnswer } from './governed-run';
import { builtinAction } from './hosted-tools';
import type { AnyAgent } from './sdk-aliases';

// Answering the MeshGuard side of an interrupted call: in this process (an embedded guard's
// request), or by waiting for the approver's answer at a gateway.

/** What `answerCall` found and did: the call's decision, and its approval request as answered. */
export interface CallAnswer {
  /** The decision behind the interruption, when MeshGuard raised it. */
  checked?: CheckedAction;
  /** The call's approval request as the answer left it (answered here or, first, elsewhere). */
  request?: ApprovalState;
}

/**
 * Answers the MeshGuard side of an interrupted call: its approval request through the guard (the
 * trail records the approver), or, for a guard without approval requests, an `approved` /
 * `rejected` outcome joined to its decision. The first answer to a request wins: approving one
 * answered otherwise (or ended) is an `ApprovalConflictError`; rejecting one someone approved
 * first still stops the call here, recorded as a `rejected` outcome. A gateway's request is
 * answered there, by an approver: approving here only goes on with one approved there (anything
 * else throws: `approval_pending`, `approval_not_approved`); rejecting here stops the call,
 * recorded as a `rejected` outcome, and leaves the request to expire.
 */
export async function answerCall<TContext, TAgent extends AnyAgent>(
  state: RunState<TContext, TAgent>,
  item: RunToolApprovalItem,
  outcome: 'approved' | 'rejected',
  answer: ApprovalAnswer,
  fallback: GovernanceOptions | undefined,
): Promise<CallAnswer> {
  const callId = callIdOf(item);
  const common = { outcome, actor: answer.by, ...(answer.message ? { reason: answer.message } : {}) };
  const pending = callId === undefined ? undefined : pendingApprovals(state._context).get(callId);
  if (pending?.answered) return { checked: pending.checked };
  let checked = pending?.checked;
  let approvalId = callId === undefined ? undefined : callApprovals(state._context).get(callId);
  if (!checked) {
    // Resumed from a serialized RunState: the decision is in the trail, not in this process.
    const toolName = item.toolName ?? (item.rawItem as { name?: string }).name ?? 'unknown';
    const governed = item.agent.tools.find((t: { name: string }) => t.name === toolName);
    const info = governedToolInfo(governed);
    const options = info?.options ?? fallback;
    if (!options) return {};
    const action = info?.action ?? builtinAction(options, toolName);
    const agent = identityOf(options, item.agent.name);
    const traceId = state._trace?.traceId ?? runGovernance(state._context, options).traceId;
    const found = await findDecision(options, traceId, agent.id, action, item);
    if (!found) {
      await kit.recordObserved(guardFor(options, item.agent.name), {
        ...common,
        agent,
        action,
        traceId,
        kind: info ? 'tool' : 'builtin_tool',
      });
      return {};
    }
    checked = found.checked;
    approvalId ??= found.approvalId;
    if (callId !== undefined) {
      // The resumed call runs under this decision (or its request), and is not recorded twice.
      pendingApprovals(state._context).set(callId, { checked, options, answered: true });
      if (approvalId !== undefined) callApprovals(state._context).set(callId, approvalId);
    }
  } else if (pending) {
    pending.answered = true;
    // A built-in tool's request (function tools have theirs in callApprovals already).
    approvalId ??= openedApproval(checked);
  }
  const channel = approvalId === undefined ? undefined : approvalChannel(checked.guard);
  if (outcome === 'approved' && !channel && checked.decision.approval) {
    // A request this guard can neither answer nor read (a guard written by hand around a gateway's):
    // an answer here would approve nothing, so the call is not let through.
    throw new MeshGuardError(
      `approval ${checked.decision.approval.id} can be neither answered nor read through this guard (it has no approvalStatus): answer it where it was opened`,
      { code: 'approval_unsupported' },
    );
  }
  if (approvalId === undefined || !channel || (!channel.answersHere && outcome === 'rejected')) {
    await kit.recordOutcome(checked, common);
    return { checked };
  }
  try {
    const request = await channel.answer(approvalId, {
      approve: outcome === 'approved',
      by: answer.by,
      comment: answer.message,
    });
    return { checked, request };
  } catch (error) {
    const unanswered = () => {
      // Not answered here: the host may answer again (reject it, say).
      const entry = callId === undefined ? undefined : pendingApprovals(state._context).get(callId);
      if (entry) entry.answered = false;
    };
    if (!isConflict(error)) {
      unanswered();
      throw error;
    }
    const request = approvalState(error.current);
    if (outcome === 'approved' && request.status !== 'approved') {
      unanswered();
      throw error;
    }
    // Approved by someone else first, and rejected here: the call does not run all the same.
    if (outcome === 'rejected' && request.status === 'approved') await kit.recordOutcome(checked, common);
    return { checked, request };
  }
}

export function isConflict(error: unknown): error is ApprovalConflictError {
  return (
    error instanceof ApprovalConflictError ||
    (MeshGuardError.isInstance(error) && error.code === 'approval_conflict' && 'current' in error)
  );
}

/**
 * The newest `require_approval` decision in the trace for this call (same agent, action, its span
 * the call id), and the approval request it opened, if any.
 */
async function findDecision(
  options: GovernanceOptions,
  traceId: string,
  agentId: string,
  action: string,
  item: RunToolApprovalItem,
): Promise<{ checked: CheckedAction; approvalId?: string } | undefined> {
  const candidates = (
    await options.guard.query({
      traceId,
      // An agent given by token is whoever the gateway says: its local id means nothing there.
      ...(typeof options.identities?.[item.agent.name] === 'string' ? {} : { agent: agentId }),
      type: 'decision',
      effect: 'require_approval',
      limit: 200,
    })
  ).filter((e) => e.action === action && e.mode === 'enforce');
  // The decision made for this very call (its span is the call id); no guessing by arguments.
  const callId = (item.rawItem as { callId?: string }).callId;
  const event = callId === undefined ? undefined : candidates.find((e) => e.spanId === callSpanId(callId));
  if (!event) return undefined;
  const decision: Decision = {
    decisionId: event.decisionId,
    allowed: false,
    effect: 'require_approval',
    reason: event.reason ?? '',
    mode: 'enforce',
    evaluatedAt: event.ts,
    ...(event.policy ? { policy: event.policy } : {}),
    ...(event.rule ? { rule: event.rule } : {}),
  };
  const checked: CheckedAction = {
    guard: guardFor(options, item.agent.name),
    decision,
    agent: event.agent,
    action: event.action,
    kind: event.kind,
    traceId: event.traceId,
    delegation: event.delegation ?? [],
  };
  return event.approvalId === undefined ? { checked } : { checked, approvalId: event.approvalId };
}

/**
 * The interrupted call's approval request when it is answered at a gateway (by an approver, not
 * in this process): its decision and request id.
 */
export function gatewayRequest<TContext, TAgent extends AnyAgent>(
  state: RunState<TContext, TAgent>,
  item: RunToolApprovalItem,
): { checked: CheckedAction; approvalId: string; expiresAt: string } | undefined {
  const callId = callIdOf(item);
  if (callId === undefined) return undefined;
  const pending = pendingApprovals(state._context).get(callId);
  const ref = pending?.checked.decision.approval;
  // A built-in tool's request is its decision's own (function tools keep theirs in callApprovals).
  const approvalId = callApprovals(state._context).get(callId) ?? ref?.id;
  if (!pending || pending.answered || approvalId === undefined || !ref || ref.id !== approvalId)
    return undefined;
  return approvalChannel(pending.checked.guard)?.answersHere === false
    ? { checked: pending.checked, approvalId, expiresAt: ref.expiresAt }
    : undefined;
}

/**
 * Waits for an approver's answer at the gateway (long polls, up to the request's expiry), then
 * approves the call in the SDK (it is checked again with its `approvalId` right before it runs, so
 * it runs once) or rejects it with why.
 */
export async function awaitGatewayAnswer<TContext, TAgent extends AnyAgent>(
  state: RunState<TContext, TAgent>,
  item: RunToolApprovalItem,
  request: { checked: CheckedAction; approvalId: string; expiresAt: string },
  denialMessage: GovernanceOptions['denialMessage'],
): Promise<void> {
  const { checked, approvalId, expiresAt } = request;
  let answered: ApprovalState | undefined;
  let failed: string | undefined;
  try {
    answered = await awaitApprovalAnswer(checked.guard, approvalId, expiresAt);
  } catch (error) {
    // Fails closed, and says why: the run goes on without the call.
    failed = failedCheckReason('the approval could not be read', error);
  }
  const callId = callIdOf(item);
  const pending = callId === undefined ? undefined : pendingApprovals(state._context).get(callId);
  if (pending) pending.answered = true;
  if (answered?.status === 'approved') {
    state.approve(item);
    return;
  }
  const reason = failed ?? notApprovedReason(answered, approvalId, expiresAt);
  state.reject(item, { message: approvalDenialText(checked, reason, denialMessage) });
}

/** What the model reads of a call its approval request did not let through (`reason`). */
export function approvalDenialText(
  checked: CheckedAction,
  reason: string,
  denialMessage: GovernanceOptions['denialMessage'],
): string {
  return kit.denialText(
    { ...checked.decision, allowed: false, effect: 'deny', reason },
    checked.action,
    denialMessage,
  );
}
