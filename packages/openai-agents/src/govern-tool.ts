import { type AdapterOutcome, type CheckContext, type CheckedAction, ConfigError } from '@meshguard/core';
import {
  defineToolInputGuardrail,
  defineToolOutputGuardrail,
  getCurrentSpan,
  type RunContext,
  type ToolInputParameters,
  type ToolOptions,
  type ToolOutputSchema,
  tool,
  type UnknownContext,
  ToolGuardrailFunctionOutputFactory as Verdict,
} from '@openai/agents';
import { openedApproval, withdrawApproval } from './approval-requests';
import {
  actionOf,
  callApprovals,
  checkFor,
  contextOf,
  type GovernanceOptions,
  kit,
  parseArguments,
  pendingApprovals,
} from './governance-context';
import type { AnyFunctionTool } from './sdk-aliases';

/** What a governed tool copy carries, so approvals and `governAgent` can find its governance. */
export interface GovernedToolInfo {
  readonly options: GovernanceOptions;
  readonly action: string;
  readonly agentName: string;
  readonly original: AnyFunctionTool;
  /**
   * The same governed tool without a MeshGuard approval hook: `governAgent` offers it in runs
   * where policy cannot ask for approval, so the SDK keeps its static-approval fast path.
   */
  readonly withoutApprovalHook: AnyFunctionTool;
}

interface CallRecord {
  checked: CheckedAction;
  /** The context the call was checked with (checked again with it under its approval). */
  context: CheckContext;
  /** The approval hook asked the SDK to interrupt for this call. */
  approvalAsked?: boolean;
  startedAt?: number;
  finished?: boolean;
  /** What the tool threw (known for `governedTool`; the SDK turned it into text for the model). */
  error?: string;
}

const GOVERNED = Symbol.for('meshguard.openai-agents.governed-tool');

/** The governance of a tool `governTool` made, if it is one. */
export function governedToolInfo(candidate: unknown): GovernedToolInfo | undefined {
  return candidate !== null && typeof candidate === 'object'
    ? ((candidate as Record<symbol, GovernedToolInfo | undefined>)[GOVERNED] ?? undefined)
    : undefined;
}

export interface GovernToolOptions extends GovernanceOptions {
  /** The policy action (default: `actions[name]`, else `tool:<name>`). */
  action?: string;
  /**
   * The SDK agent that calls this copy of the tool (its identity comes from `identities`).
   * Default: the name of `identity`. `governAgent` sets it for every agent of a graph.
   */
  agent?: string;
}

// One record per call, per run (the SDK's RunContext is one object per run).
const calls = new WeakMap<object, Map<string, Promise<CallRecord>>>();

/** The span id a tool decision carries: the SDK's call id (what approvals after a round trip look for). */
export function callSpanId(callId: string): string {
  return `call:${callId}`.slice(0, 256);
}

function callKey(toolName: string, callId: string): string {
  return `${toolName}\u0000${callId}`;
}

/**
 * Governs a function tool: every call is checked before it runs and its outcome recorded.
 * Denied: the model receives the policy's reason as the tool's result and the run goes on.
 * `require_approval`: the SDK's own approval interruption (`result.interruptions`), answered with
 * `approveToolCall` / `rejectToolCall` so the answer and who gave it are recorded.
 * Returns a copy; the tool passed in is not changed.
 *
 * @example
 * const refund = governTool(processRefund, { guard, action: 'write:refund',
 *   identity: { name: 'Customer Support', tags: ['openai', 'support'], tier: 'verified' } });
 */
export function governTool<T extends AnyFunctionTool>(original: T, options: GovernToolOptions): T {
  if (original?.type !== 'function') {
    throw new ConfigError(`governTool expects a function tool, got ${describe(original)}`, {
      code: 'not_function_tool',
    });
  }
  const existing = governedToolInfo(original);
  const base = existing ? (existing.original as T) : original;
  const agentName = options.agent ?? options.identity?.name;
  if (!agentName) {
    throw new ConfigError(
      `governTool(${base.name}): say which agent calls it: pass \`agent\` (an agent name in \`identities\`) or an \`identity\` with a name, or use governAgent`,
      { code: 'agent_missing' },
    );
  }
  const action = options.action ?? actionOf(options, base.name);
  const info: { -readonly [K in keyof GovernedToolInfo]: GovernedToolInfo[K] } = {
    options,
    action,
    agentName,
    original: base,
    withoutApprovalHook: base, // replaced below, once the governed copy exists
  };

  const decide = (runContext: RunContext<unknown>, callId: string, args: unknown): Promise<CallRecord> => {
    let perRun = calls.get(runContext);
    if (!perRun) {
      perRun = new Map();
      calls.set(runContext, perRun);
    }
    const key = callKey(base.name, callId);
    let record = perRun.get(key);
    if (!record) {
      record = (async () => {
        const context = contextOf(options, args, { toolName: base.name, agentName, action });
        // A call with an approval request (resumed from a parked run, or answered after a RunState
        // round trip) is checked naming it: pending, it stays that request (no second one opens);
        // approved, it is let through once; otherwise denied with why.
        const approvalId = callApprovals(runContext).get(callId);
        // The SDK's call id is the decision's span: an approval answered after a RunState round
        // trip finds its own decision by it.
        const checked = await checkFor(options, runContext, agentName, {
          action,
          kind: 'tool',
          context,
          spanId: callSpanId(callId),
          ...(approvalId !== undefined ? { approvalId } : {}),
        });
        // A check that failed (a deny, fail closed) is not cached: a retry of the call checks again.
        if (checked.failed) perRun.delete(key);
        // A guard without approval requests, approved after a round trip: checked again now (a
        // deny, e.g. a policy pushed since or a revoked agent, still wins); otherwise the call runs
        // under the decision that was approved.
        const prior = pendingApprovals(runContext).get(callId);
        if (
          approvalId === undefined &&
          prior?.answered &&
          prior.checked.decision.effect === 'require_approval' &&
          checked.decision.effect !== 'deny'
        ) {
          return { checked: prior.checked, context };
        }
        const call: CallRecord = { checked, context };
        if (checked.decision.effect === 'require_approval') {
          const opened = openedApproval(checked);
          if (opened !== undefined) callApprovals(runContext).set(callId, opened);
          if (!prior) pendingApprovals(runContext).set(callId, { checked, options });
        }
        return call;
      })();
      perRun.set(key, record);
      // Nor is a check that threw before deciding (a config error): the SDK fails the run.
      record.catch(() => perRun.delete(key));
    }
    return record;
  };

  /**
   * The SDK approved a call MeshGuard asked a person about: it runs only if its approval request
   * lets it through, checked now, right before it runs (once; a policy that now denies, changed
   * arguments, a rejected, expired or used approval are denies). The outcome joins this decision.
   */
  const useApproval = async (runContext: RunContext<unknown>, callId: string, call: CallRecord) => {
    const approvalId = callApprovals(runContext).get(callId);
    if (approvalId === undefined) return;
    call.checked = await checkFor(options, runContext, agentName, {
      action,
      kind: 'tool',
      context: call.context,
      spanId: callSpanId(callId),
      approvalId,
    });
  };

  const finish = async (
    runContext: RunContext<unknown>,
    callId: string,
    call: CallRecord,
    outcome: 'success' | 'error',
    error?: string,
  ) => {
    if (call.finished) return;
    call.finished = true;
    // Done with: a provider that reuses call ids must not meet this decision again.
    calls.get(runContext)?.delete(callKey(base.name, callId));
    pendingApprovals(runContext).delete(callId);
    callApprovals(runContext).delete(callId);
    const event: AdapterOutcome = { outcome };
    if (call.startedAt !== undefined) event.durationMs = Date.now() - call.startedAt;
    if (error) event.error = error;
    await kit.recordOutcome(call.checked, event);
  };

  /** Refuses a call that waits on an approval nobody gave it; its request, if any, is withdrawn. */
  const refuse = async (call: CallRecord, reason: string) => {
    const { decision } = call.checked;
    await withdrawApproval(call.checked, 'the call was refused without an answer to this request');
    await kit.recordOutcome(call.checked, { outcome: 'blocked' });
    return Verdict.rejectContent(kit.denialText({ ...decision, reason }, action, options.denialMessage), {
      meshguard: decision,
    });
  };

  const gate = defineToolInputGuardrail({
    name: 'meshguard',
    run: async ({ context: runContext, agent, toolCall }) => {
      if (agent.name !== agentName) {
        // This copy checks as `agentName`: another agent calling it would borrow that identity.
        return Verdict.rejectContent(
          `Blocked: this tool is governed for agent "${agentName}", not "${agent.name}" (use governAgent, or governTool per agent)`,
        );
      }
      const call = await decide(runContext, toolCall.callId, parseArguments(toolCall.arguments));
      const sdkApproved = () =>
        runContext.isToolApproved({ toolName: base.name, callId: toolCall.callId }) === true;
      if (call.checked.decision.effect === 'require_approval' && sdkApproved()) {
        await useApproval(runContext, toolCall.callId, call);
      }
      const { decision } = call.checked;
      if (decision.effect === 'deny') {
        await kit.recordOutcome(call.checked, { outcome: 'blocked' });
        return Verdict.rejectContent(kit.denialText(decision, action, options.denialMessage), {
          meshguard: decision,
        });
      }
      if (decision.effect === 'require_approval') {
        if (!sdkApproved()) {
          // Before the approval (toolExecution.preApprovalInputGuardrails): the SDK interrupts next.
          if (call.approvalAsked) return Verdict.allow({ meshguard: decision });
          // No approval was asked for (the policy changed during the run): never run unapproved.
          return refuse(call, `${decision.reason} (approval is required and was not given)`);
        }
        if (callApprovals(runContext).has(toolCall.callId)) {
          // Approved in the run (`state.approve`) while its request is still pending: only an
          // answer to the request lets the call through.
          return refuse(
            call,
            `${decision.reason} (approved in the run, but not through MeshGuard: answer the approval request with approveToolCall, guard.approvals.answer or \`meshguard approvals approve\`)`,
          );
        }
        const pending = pendingApprovals(runContext).get(toolCall.callId);
        if (!pending?.answered) {
          // Approved through the SDK directly (not approveToolCall): recorded without who.
          if (pending) pending.answered = true;
          await kit.recordOutcome(call.checked, { outcome: 'approved' });
        }
      }
      call.startedAt = Date.now();
      return Verdict.allow({ meshguard: decision });
    },
  });

  const done = defineToolOutputGuardrail({
    name: 'meshguard-outcome',
    run: async ({ context: runContext, toolCall }) => {
      const record = calls.get(runContext)?.get(callKey(base.name, toolCall.callId));
      if (record) {
        const call = await record;
        // `tool()` turns a thrown error into text for the model: `governedTool` saw it; for other
        // tools the SDK marks the function span (when tracing is on).
        const failed = call.error ?? getCurrentSpan()?.error?.message;
        // Written behind: an outcome is not a gate, so the run does not wait for its commit
        // (the guard's queries and close wait for it).
        void finish(runContext, toolCall.callId, call, failed !== undefined ? 'error' : 'success', failed);
      }
      return Verdict.allow();
    },
  });

  const governed = {
    ...base,
    needsApproval: async (runContext: RunContext<unknown>, input: unknown, callId?: string) => {
      const own = await base.needsApproval(runContext, input as never, callId);
      if (callId === undefined) return own;
      const call = await decide(runContext, callId, input);
      if (call.checked.decision.effect !== 'require_approval') return own;
      call.approvalAsked = true;
      return true;
    },
    inputGuardrails: [gate, ...(base.inputGuardrails ?? [])],
    outputGuardrails: [...(base.outputGuardrails ?? []), done],
    [GOVERNED]: info,
  } as T;
  info.withoutApprovalHook = { ...governed, needsApproval: base.needsApproval };
  return governed;
}

/**
 * Defines a governed function tool in one step: `tool()`'s options plus the policy action.
 * Errors the tool throws are recorded as `error` outcomes (with their message) before the SDK
 * turns them into text for the model.
 *
 * @example
 * const refund = governedTool({ name: 'process_refund', description: 'Refund an order',
 *   parameters: z.object({ order_id: z.string(), amount: z.number() }), action: 'write:refund',
 *   execute: ({ order_id, amount }) => payments.refund(order_id, amount) }, { guard, identity });
 */
export function governedTool<
  TParameters extends ToolInputParameters = undefined,
  Context = UnknownContext,
  Result = string,
  TOutputSchema extends ToolOutputSchema | undefined = undefined,
>(
  toolOptions: ToolOptions<TParameters, Context, TOutputSchema> & { action?: string },
  options: GovernToolOptions,
): ToolOf<TParameters, Context, Result, TOutputSchema> {
  const { action, ...rest } = toolOptions;
  const execute = rest.execute as (
    input: unknown,
    runContext?: RunContext<Context>,
    details?: unknown,
  ) => unknown;
  const made = tool<TParameters, Context, Result, TOutputSchema>({
    ...rest,
    execute: async (
      input: unknown,
      runContext?: RunContext<Context>,
      details?: { toolCall?: { callId: string } },
    ) => {
      try {
        return await execute(input, runContext, details);
      } catch (error) {
        const callId = details?.toolCall?.callId;
        if (runContext && callId) {
          const record = calls.get(runContext)?.get(callKey(made.name, callId));
          if (record) (await record).error = error instanceof Error ? error.message : String(error);
        }
        throw error;
      }
    },
  } as ToolOptions<TParameters, Context, TOutputSchema>);
  return governTool(made, { ...options, ...(action ? { action } : {}) });
}

/** What `tool()` makes of these type parameters (its result type is not exported by name). */
type ToolOf<
  TParameters extends ToolInputParameters,
  Context,
  Result,
  TOutputSchema extends ToolOutputSchema | undefined,
> = ReturnType<typeof tool<TParameters, Context, Result, TOutputSchema>>;

function describe(value: unknown): string {
  if (value === null || typeof value !== 'object') return String(value);
  const type = (value as { type?: unknown }).type;
  return typeof type === 'string' ? `a ${type} tool` : 'an object that is not a tool';
}
