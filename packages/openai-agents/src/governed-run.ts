import {
  type ApprovalAnswer as AdapterApprovalAnswer,
  ApprovalConflictError,
  type ApprovalRequest,
  type CheckedAction,
  type Decision,
  MeshGuardError,
  type RunParking,
  ValidationError,
} from '@meshguard/core';
import { approvalReason } from '@meshguard/core/internal';
import {
  type AgentInputItem,
  type NonStreamRunOptions,
  Runner,
  type RunResult,
  type RunState,
  type RunToolApprovalItem,
  type StreamedRunResult,
  type StreamRunOptions,
} from '@openai/agents';
import { approvalChannel, openedApproval } from './approval-requests';
import { callSpanId, governedToolInfo } from './govern-tool';
import {
  callApprovals,
  callIdOf,
  closeGovernance,
  debug,
  type GovernanceOptions,
  guardFor,
  identityOf,
  kit,
  pendingApprovals,
  runGovernance,
} from './governance-context';
import { builtinAction, recordHostedToolCalls } from './hosted-tools';
import { parkingOf, parkRun } from './parked-runs';
import type { AnyAgent } from './sdk-aliases';

/**
 * Who answered an approval, and (for a rejection) the text the model receives (default: the SDK's
 * rejection message): the adapter contract's answer, the verdict being the call made.
 */
export type ApprovalAnswer = Omit<AdapterApprovalAnswer, 'approve'>;

/** The MeshGuard decision behind an approval interruption, if MeshGuard raised it. */
export function approvalDecision<TContext, TAgent extends AnyAgent>(
  state: RunState<TContext, TAgent>,
  item: RunToolApprovalItem,
): Decision | undefined {
  const callId = callIdOf(item);
  return callId === undefined ? undefined : pendingApprovals(state._context).get(callId)?.checked.decision;
}

/** What `answerCall` found and did: the call's decision, and its approval request as answered. */
interface CallAnswer {
  /** The decision behind the interruption, when MeshGuard raised it. */
  checked?: CheckedAction;
  /** The call's approval request as the answer left it (answered here or, first, elsewhere). */
  request?: ApprovalRequest;
}

/**
 * Answers the MeshGuard side of an interrupted call: its approval request through the guard (the
 * trail records the approver), or, for a guard without approval requests, an `approved` /
 * `rejected` outcome joined to its decision. The first answer to a request wins: approving one
 * answered otherwise (or ended) is an `ApprovalConflictError`; rejecting one someone approved
 * first still stops the call here, recorded as a `rejected` outcome.
 */
async function answerCall<TContext, TAgent extends AnyAgent>(
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
  if (approvalId === undefined || !channel) {
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
    const request = error.current;
    if (outcome === 'approved' && request.status !== 'approved') {
      unanswered();
      throw error;
    }
    // Approved by someone else first, and rejected here: the call does not run all the same.
    if (outcome === 'rejected' && request.status === 'approved') await kit.recordOutcome(checked, common);
    return { checked, request };
  }
}

function isConflict(error: unknown): error is ApprovalConflictError {
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
 * Approves an interrupted call, then `run(agent, state)` resumes. With a guard that keeps
 * approval requests, this answers the call's request (`approval_granted`, `by` as the actor) and
 * the call is checked again with it right before it runs, so it runs once; a request answered
 * otherwise, or ended, first is an `ApprovalConflictError`. Otherwise the answer is recorded as an
 * `approved` outcome.
 *
 * @example
 * for (const item of result.interruptions) await approveToolCall(result.state, item, { by: 'alice' });
 * result = await runner.run(agent, result.state);
 */
export async function approveToolCall<TContext, TAgent extends AnyAgent>(
  state: RunState<TContext, TAgent>,
  item: RunToolApprovalItem,
  answer: ApprovalAnswer,
  options?: GovernanceOptions,
): Promise<void> {
  const callId = callIdOf(item);
  const denial = callId === undefined ? undefined : pendingApprovals(state._context).get(callId)?.denial;
  if (denial !== undefined) {
    // A policy deny that the SDK could only raise as an interruption (computer use): not a human's to lift.
    throw new ValidationError('item', `is a policy denial, not an approval request: ${denial}`);
  }
  await answerCall(state, item, 'approved', answer, options);
  state.approve(item);
}

/**
 * Rejects an interrupted call and records who rejected it (its approval request's
 * `approval_rejected`, or a `rejected` outcome). The model receives `message`, else, for an
 * approval request, `Blocked by policy: Rejected by <by> (approval <id>)`.
 */
export async function rejectToolCall<TContext, TAgent extends AnyAgent>(
  state: RunState<TContext, TAgent>,
  item: RunToolApprovalItem,
  answer: ApprovalAnswer,
  options?: GovernanceOptions,
): Promise<void> {
  const { checked, request } = await answerCall(state, item, 'rejected', answer, options);
  let message = answer.message;
  if (message === undefined && checked && request) {
    // Approved by someone else first: still rejected here, so the model reads who stopped it.
    const reason = request.status === 'approved' ? `Rejected by ${answer.by}` : approvalReason(request);
    const callId = callIdOf(item);
    const denialMessage = (
      options ?? (callId === undefined ? undefined : pendingApprovals(state._context).get(callId)?.options)
    )?.denialMessage;
    message = approvalDenialText(checked, reason, denialMessage);
  }
  state.reject(item, message !== undefined ? { message } : undefined);
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

/**
 * Rejects, with the policy's reason, the interruptions that are MeshGuard denials (computer use
 * has no automatic rejection in the SDK) and returns the ones left for a human.
 */
export function resolvePolicyInterruptions<TContext, TAgent extends AnyAgent>(result: {
  state: RunState<TContext, TAgent>;
  interruptions: RunToolApprovalItem[];
}): RunToolApprovalItem[] {
  const left: RunToolApprovalItem[] = [];
  for (const item of result.interruptions ?? []) {
    const callId = callIdOf(item);
    const denial =
      callId === undefined ? undefined : pendingApprovals(result.state._context).get(callId)?.denial;
    if (denial !== undefined) result.state.reject(item, { message: denial });
    else left.push(item);
  }
  return left;
}

/** What `runGoverned` runs from: the SDK's input, or a run state to resume. */
export type RunGovernedInput<TContext, TAgent extends AnyAgent> =
  | string
  | AgentInputItem[]
  | RunState<TContext, TAgent>;

/** `runGoverned`'s options: the governance, the runner, and how approvals are answered. */
export interface RunGovernedOptions<TContext = undefined, TAgent extends AnyAgent = AnyAgent>
  extends GovernanceOptions {
  /** The runner (default: a new `Runner()`). */
  runner?: Runner;
  /**
   * Answers approvals policy asks for (`require_approval`). Without it, `runGoverned` returns
   * with `result.interruptions` for the host to answer with `approveToolCall` / `rejectToolCall`.
   */
  onApprovalRequired?: (
    item: RunToolApprovalItem,
    decision: Decision | undefined,
  ) => Promise<AdapterApprovalAnswer> | AdapterApprovalAnswer;
  /** Options passed to `runner.run` (the run's `context`, `maxTurns`, ...; `stream: true` streams). */
  runOptions?: NonStreamRunOptions<TContext, TAgent>;
  /** How many times a run may resume after interruptions (default 10). */
  maxResumes?: number;
  /**
   * Parks the run when approvals are left unanswered (no `onApprovalRequired`) and the guard keeps
   * approval requests: the SDK's serialized run state, kept privately under each approval id
   * (`true`: `createFileParking()`, `.meshguard/parked`). `parkedApprovals(result)` names them;
   * once a person has answered, `resumeParkedRun(approvalId, ...)` goes on, in any process.
   */
  parking?: RunParking | true;
}

/**
 * `runGoverned` streaming: one leg of the run, up to its end or its first interruptions. Nothing
 * is answered for the host: resolve `result.interruptions` (`resolvePolicyInterruptions`, then
 * `approveToolCall` / `rejectToolCall`) and resume with `runGoverned(agent, result.state, options)`.
 */
export interface RunGovernedStreamOptions<TContext = undefined, TAgent extends AnyAgent = AnyAgent>
  extends Omit<
    RunGovernedOptions<TContext, TAgent>,
    'runOptions' | 'onApprovalRequired' | 'maxResumes' | 'parking'
  > {
  runOptions: StreamRunOptions<TContext, TAgent>;
  onApprovalRequired?: never;
  maxResumes?: never;
  parking?: never;
}

/**
 * Runs a governed agent to the end: policy denials the SDK raises as interruptions are rejected
 * with their reason, approvals go to `onApprovalRequired`, hosted tool calls are recorded, and the
 * agents' own guards (token identities) are closed. The result is the SDK's, typed as `run()`'s.
 *
 * @example
 * const result = await runGoverned(governAgent(agent, options), 'Refund order 42', {
 *   ...options, onApprovalRequired: async (item) => ({ approve: await askManager(item), by: 'manager@acme' }) });
 */
export function runGoverned<TAgent extends AnyAgent, TContext = undefined>(
  agent: TAgent,
  input: RunGovernedInput<TContext, TAgent>,
  options: RunGovernedOptions<TContext, TAgent>,
): Promise<RunResult<TContext, TAgent>>;
/**
 * Streams a governed run (`runOptions: { stream: true }`): the SDK's `StreamedRunResult`, whose
 * `completed` resolves once the run has ended and its hosted tool calls are recorded.
 *
 * @example
 * const result = await runGoverned(governed, 'Refund order 42', { ...options, runOptions: { stream: true } });
 * for await (const text of result.toTextStream()) process.stdout.write(text);
 * await result.completed;
 */
export function runGoverned<TAgent extends AnyAgent, TContext = undefined>(
  agent: TAgent,
  input: RunGovernedInput<TContext, TAgent>,
  options: RunGovernedStreamOptions<TContext, TAgent>,
): Promise<StreamedRunResult<TContext, TAgent>>;
export async function runGoverned<TAgent extends AnyAgent, TContext = undefined>(
  agent: TAgent,
  input: RunGovernedInput<TContext, TAgent>,
  options: RunGovernedOptions<TContext, TAgent> | RunGovernedStreamOptions<TContext, TAgent>,
): Promise<RunResult<TContext, TAgent> | StreamedRunResult<TContext, TAgent>> {
  if (isStreaming(options)) return streamGoverned(agent, input, options);
  try {
    return await runToEnd(agent, input, options);
  } finally {
    // The agents' own guards (token identities) end with the run; a later use opens them again.
    await closeGovernance(options);
  }
}

function isStreaming<TContext, TAgent extends AnyAgent>(
  options: RunGovernedOptions<TContext, TAgent> | RunGovernedStreamOptions<TContext, TAgent>,
): options is RunGovernedStreamOptions<TContext, TAgent> {
  return options.runOptions?.stream === true;
}

/** Runs to the end (or to interruptions nobody here answers, which `parking` parks). */
export async function runToEnd<TAgent extends AnyAgent, TContext>(
  agent: TAgent,
  input: RunGovernedInput<TContext, TAgent>,
  options: RunGovernedOptions<TContext, TAgent>,
): Promise<RunResult<TContext, TAgent>> {
  const runner = options.runner ?? new Runner();
  let result = await runner.run(agent, input, options.runOptions);
  for (let resumes = 0; resumes < (options.maxResumes ?? 10); resumes++) {
    const left = resolvePolicyInterruptions(result);
    if (result.interruptions.length === 0) break;
    const unanswered: RunToolApprovalItem[] = [];
    for (const item of left) {
      if (!options.onApprovalRequired) {
        unanswered.push(item);
        continue;
      }
      const answer = await options.onApprovalRequired(item, approvalDecision(result.state, item));
      if (answer.approve) await approveOrTellWhy(result.state, item, answer, options);
      else await rejectToolCall(result.state, item, answer, options);
    }
    if (unanswered.length > 0) {
      // The host (or, parked, a person and any process) answers these and resumes.
      if (options.parking) await parkRun(result.state, unanswered, options, parkingOf(options.parking));
      break;
    }
    result = await runner.run(agent, result.state, options.runOptions);
  }
  await recordHostedToolCalls(result, options);
  return result;
}

/**
 * Approves for `onApprovalRequired`; a request answered otherwise (or ended) first is no reason
 * to fail the run: the call is rejected and the model reads why (an approval someone gave first
 * lets it run).
 */
async function approveOrTellWhy<TContext, TAgent extends AnyAgent>(
  state: RunState<TContext, TAgent>,
  item: RunToolApprovalItem,
  answer: AdapterApprovalAnswer,
  options: GovernanceOptions,
): Promise<void> {
  try {
    await approveToolCall(state, item, answer, options);
  } catch (error) {
    if (!isConflict(error)) throw error;
    const callId = callIdOf(item);
    const checked = callId === undefined ? undefined : pendingApprovals(state._context).get(callId)?.checked;
    const reason = approvalReason(error.current);
    state.reject(item, {
      message: checked ? approvalDenialText(checked, reason, options.denialMessage) : reason,
    });
  }
}

async function streamGoverned<TAgent extends AnyAgent, TContext>(
  agent: TAgent,
  input: RunGovernedInput<TContext, TAgent>,
  options: RunGovernedStreamOptions<TContext, TAgent>,
): Promise<StreamedRunResult<TContext, TAgent>> {
  const runner = options.runner ?? new Runner();
  let result: StreamedRunResult<TContext, TAgent>;
  try {
    result = await runner.run(agent, input, options.runOptions);
  } catch (error) {
    await closeGovernance(options);
    throw error;
  }
  // The items exist once the host has read the stream: recorded then, before `completed` resolves.
  const streamed = result;
  const recorded = streamed.completed
    .then(() => recordHostedToolCalls(streamed, options))
    .finally(() => closeGovernance(options))
    .then(() => undefined);
  // As the SDK does for its own promise: a host that never awaits `completed` gets no unhandled rejection.
  recorded.catch((error: unknown) => debug('the streamed run failed: %O', error));
  Object.defineProperty(streamed, 'completed', { get: () => recorded });
  return streamed;
}
