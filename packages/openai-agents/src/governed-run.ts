import {
  type ApprovalAnswer as AdapterApprovalAnswer,
  type CheckedAction,
  type Decision,
  ValidationError,
} from '@meshguard/core';
import { type Agent, Runner, type RunResult, type RunState, type RunToolApprovalItem } from '@openai/agents';
import { callSpanId, governedToolInfo } from './govern-tool';
import {
  flushGovernance,
  type GovernanceOptions,
  guardFor,
  identityOf,
  kit,
  pendingApprovals,
  runGovernance,
} from './governance-context';
import { builtinAction, recordHostedToolCalls } from './hosted-tools';

type AnyState = RunState<any, any>;

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
export function approvalDecision(state: AnyState, item: RunToolApprovalItem): Decision | undefined {
  const callId = callIdOf(item);
  return callId === undefined ? undefined : pendingApprovals(state._context).get(callId)?.checked.decision;
}

async function recordAnswer(
  state: AnyState,
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
export async function approveToolCall(
  state: AnyState,
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
export async function rejectToolCall(
  state: AnyState,
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
export function resolvePolicyInterruptions(result: {
  state: AnyState;
  interruptions: RunToolApprovalItem[];
}) {
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

export interface RunGovernedOptions extends GovernanceOptions {
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
  /** Options passed to `runner.run` (not `stream`: stream with `runner.run` and call `recordHostedToolCalls`). */
  runOptions?: Record<string, unknown>;
  /** How many times a run may resume after interruptions (default 10). */
  maxResumes?: number;
}

/**
 * Runs a governed agent to the end: policy denials the SDK raises as interruptions are rejected
 * with their reason, approvals go to `onApprovalRequired`, and hosted tool calls are recorded.
 *
 * @example
 * const result = await runGoverned(governAgent(agent, options), 'Refund order 42', {
 *   ...options, onApprovalRequired: async (item) => ({ approve: await askManager(item), by: 'manager@acme' }) });
 */
export async function runGoverned(
  agent: Agent<any, any>,
  input: Parameters<Runner['run']>[1],
  options: RunGovernedOptions,
): Promise<RunResult<any, any>> {
  const runner = options.runner ?? new Runner();
  const runOptions = (options.runOptions ?? {}) as Record<string, never>;
  let result = (await runner.run(agent, input as string, runOptions)) as RunResult<any, any>;
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
    result = (await runner.run(agent, result.state, runOptions)) as RunResult<any, any>;
  }
  await recordHostedToolCalls(result, options);
  await flushGovernance(options);
  return result;
}
