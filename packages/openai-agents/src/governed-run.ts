import {
  type ApprovalAnswer as AdapterApprovalAnswer,
  type Decision,
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
import {
  answerCall,
  approvalDenialText,
  awaitGatewayAnswer,
  gatewayRequest,
  isConflict,
} from './answer-call';
import {
  callIdOf,
  closeGovernance,
  debug,
  type GovernanceOptions,
  pendingApprovals,
} from './governance-context';
import { recordHostedToolCalls } from './hosted-tools';
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
    const reason = request.status === 'approved' ? `Rejected by ${answer.by}` : request.reason;
    const callId = callIdOf(item);
    const denialMessage = (
      options ?? (callId === undefined ? undefined : pendingApprovals(state._context).get(callId)?.options)
    )?.denialMessage;
    message = approvalDenialText(checked, reason, denialMessage);
  }
  state.reject(item, message !== undefined ? { message } : undefined);
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
   * With a gateway guard the request is answered at the gateway, by an approver: rejecting here
   * refuses the call at once; approving lets the run wait for the approver's answer there (up to
   * the request's expiry), and the call runs only if they approve.
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
      // A gateway's request is answered there, by an approver: approved here, the run waits for it.
      const atGateway = answer.approve ? gatewayRequest(result.state, item) : undefined;
      if (atGateway) await awaitGatewayAnswer(result.state, item, atGateway, options.denialMessage);
      else if (answer.approve) await approveOrTellWhy(result.state, item, answer, options);
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
