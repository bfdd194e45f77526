import {
  type ApprovalAnswer as AdapterApprovalAnswer,
  type CheckedAction,
  type Decision,
  ValidationError,
} from '@meshguard/core';
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
import { callSpanId, governedToolInfo } from './govern-tool';
import {
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
import type { AnyAgent } from './sdk-aliases';

/**
 * Who answered an approval, and (for a rejection) the text the model receives (default: the SDK's
 * rejection message): the adapter contract's answer, the verdict being the call made.
 */
export type ApprovalAnswer = Omit<AdapterApprovalAnswer, 'approve'>;

function callIdOf(item: RunToolApprovalItem): string | undefined {
  const raw = item.rawItem as { callId?: string; id?: string };
  return raw.callId ?? raw.id;
}

/** The MeshGuard decision behind an approval interruption, if MeshGuard raised it. */
export function approvalDecision<TContext, TAgent extends AnyAgent>(
  state: RunState<TContext, TAgent>,
  item: RunToolApprovalItem,
): Decision | undefined {
  const callId = callIdOf(item);
  return callId === undefined ? undefined : pendingApprovals(state._context).get(callId)?.checked.decision;
}

async function recordAnswer<TContext, TAgent extends AnyAgent>(
  state: RunState<TContext, TAgent>,
  item: RunToolApprovalItem,
  outcome: 'approved' | 'rejected',
  answer: ApprovalAnswer,
  fallback: GovernanceOptions | undefined,
): Promise<void> {
  const callId = callIdOf(item);
  const pending = callId === undefined ? undefined : pendingApprovals(state._context).get(callId);
  const common = { outcome, actor: answer.by, ...(answer.message ? { reason: answer.message } : {}) };
  if (pending) {
    if (pending.answered) return;
    pending.answered = true;
    await kit.recordOutcome(pending.checked, common);
    return;
  }
  // Resumed from a serialized RunState: the decision is in the trail, not in this process.
  const toolName = item.toolName ?? (item.rawItem as { name?: string }).name ?? 'unknown';
  const governed = item.agent.tools.find((t: { name: string }) => t.name === toolName);
  const info = governedToolInfo(governed);
  const options = info?.options ?? fallback;
  if (!options) return;
  const action = info?.action ?? builtinAction(options, toolName);
  const agent = identityOf(options, item.agent.name);
  const traceId = state._trace?.traceId ?? runGovernance(state._context, options).traceId;
  const checked = await findDecision(options, traceId, agent.id, action, item);
  if (checked && callId !== undefined) {
    // The resumed call runs under this decision (no second check), and is not recorded twice.
    pendingApprovals(state._context).set(callId, { checked, options, answered: true });
  }
  if (checked) {
    await kit.recordOutcome(checked, common);
  } else {
    await kit.recordObserved(guardFor(options, item.agent.name), {
      ...common,
      agent,
      action,
      traceId,
      kind: info ? 'tool' : 'builtin_tool',
    });
  }
}

/** The newest `require_approval` decision in the trace for this call (same agent, action, arguments). */
async function findDecision(
  options: GovernanceOptions,
  traceId: string,
  agentId: string,
  action: string,
  item: RunToolApprovalItem,
): Promise<CheckedAction | undefined> {
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
  return {
    guard: guardFor(options, item.agent.name),
    decision,
    agent: event.agent,
    action: event.action,
    kind: event.kind,
    traceId: event.traceId,
    delegation: event.delegation ?? [],
  };
}

/**
 * Approves an interrupted call and records who approved it, then `run(agent, state)` resumes.
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
  await recordAnswer(state, item, 'approved', answer, options);
  state.approve(item);
}

/** Rejects an interrupted call and records who rejected it; the model receives `message`. */
export async function rejectToolCall<TContext, TAgent extends AnyAgent>(
  state: RunState<TContext, TAgent>,
  item: RunToolApprovalItem,
  answer: ApprovalAnswer,
  options?: GovernanceOptions,
): Promise<void> {
  await recordAnswer(state, item, 'rejected', answer, options);
  state.reject(item, answer.message ? { message: answer.message } : undefined);
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
}

/**
 * `runGoverned` streaming: one leg of the run, up to its end or its first interruptions. Nothing
 * is answered for the host: resolve `result.interruptions` (`resolvePolicyInterruptions`, then
 * `approveToolCall` / `rejectToolCall`) and resume with `runGoverned(agent, result.state, options)`.
 */
export interface RunGovernedStreamOptions<TContext = undefined, TAgent extends AnyAgent = AnyAgent>
  extends Omit<RunGovernedOptions<TContext, TAgent>, 'runOptions' | 'onApprovalRequired' | 'maxResumes'> {
  runOptions: StreamRunOptions<TContext, TAgent>;
  onApprovalRequired?: never;
  maxResumes?: never;
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

async function runToEnd<TAgent extends AnyAgent, TContext>(
  agent: TAgent,
  input: RunGovernedInput<TContext, TAgent>,
  options: RunGovernedOptions<TContext, TAgent>,
): Promise<RunResult<TContext, TAgent>> {
  const runner = options.runner ?? new Runner();
  let result = await runner.run(agent, input, options.runOptions);
  for (let resumes = 0; resumes < (options.maxResumes ?? 10); resumes++) {
    const left = resolvePolicyInterruptions(result);
    if (result.interruptions.length === 0) break;
    let unanswered = false;
    for (const item of left) {
      if (!options.onApprovalRequired) {
        unanswered = true;
        continue;
      }
      const answer = await options.onApprovalRequired(item, approvalDecision(result.state, item));
      if (answer.approve) await approveToolCall(result.state, item, answer, options);
      else await rejectToolCall(result.state, item, answer, options);
    }
    if (unanswered) break; // the host answers these and resumes
    result = await runner.run(agent, result.state, options.runOptions);
  }
  await recordHostedToolCalls(result, options);
  return result;
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
