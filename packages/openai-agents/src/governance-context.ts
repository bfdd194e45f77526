import {
  type ActionKind,
  type AdapterCheckRequest,
  type AgentIdentity,
  type CheckContext,
  type CheckedAction,
  type CheckRequest,
  ConfigError,
  createAdapterKit,
  type Decision,
  type Guard,
  type IdentityInput,
} from '@meshguard/core';
import { createIdentityCache, FRAMEWORK_NAMES, failedCheckReason } from '@meshguard/core/internal';
import { getCurrentTrace, type RunContext, type RunToolApprovalItem } from '@openai/agents';
import createDebug from 'debug';
import { agentGuard, closeAgentGuards, flushAgentGuards } from './agent-guards';
import { PACKAGE_SOURCE } from './package-info';

export const debug = createDebug('meshguard:openai-agents');

export const FRAMEWORK = FRAMEWORK_NAMES.openaiAgents;

/** The adapter plumbing every MeshGuard adapter shares, bound to this one. */
export const kit = createAdapterKit({ framework: FRAMEWORK, source: PACKAGE_SOURCE, debug });

// The adapter contract's identity (`id` and `name` default to the agent's name), under the name
// this package has always exported.
export type { IdentityInput };

/** What every `govern*` function takes. */
export interface GovernanceOptions {
  /** The guard that decides and records (`createGuard()` from `@meshguard/core`). */
  guard: Guard;
  /**
   * The MeshGuard identity of each SDK agent, by agent name: an identity (`id` and `name`
   * default to the agent's name, so `{ tags: ['support'], tier: 'basic' }` is enough), or, with
   * a gateway guard, the agent's token (the gateway decides who it is).
   */
  identities?: Record<string, IdentityInput | string>;
  /** The identity of agents not named in `identities` (again `id`/`name` default to the agent's name). */
  identity?: IdentityInput;
  /** Policy actions by tool name (default `tool:<name>`), e.g. `{ process_refund: 'write:refund' }`. */
  actions?: Record<string, string>;
  /**
   * Reshapes a call's arguments into the check's context (default: the arguments object itself,
   * or `{ input }` when they are not an object).
   */
  context?: (args: unknown, call: { toolName: string; agentName: string; action: string }) => CheckContext;
  /** The trace id decisions are recorded under (default: the SDK's current trace, else one per run). */
  traceId?: string;
  /** The text the model receives when a call is denied (default `Blocked by policy: <reason>`). */
  denialMessage?: (decision: Decision, action: string) => string;
}

/** Per-run state: the trace id, who delegated to whom, and the decision of each call. */
export interface RunGovernance {
  traceId: string;
  /** The delegation chain (root first) each agent of the run acts under, by agent name. */
  delegation: Map<string, AgentIdentity[]>;
  /** Offer-time verdicts already recorded (`agent\u0000action`), so each is recorded once per run. */
  offered: Map<string, Promise<boolean>>;
}

const runs = new WeakMap<object, RunGovernance>();

/**
 * Gives a run resumed from a parked state the trace and delegation chains it was parked with, so
 * its decisions join the same trace and a delegating agent's ceiling still narrows the target.
 */
export function resumeRunGovernance(
  runContext: object,
  parked: { traceId: string; delegation: Record<string, AgentIdentity[]> },
): void {
  runs.set(runContext, {
    traceId: parked.traceId,
    delegation: new Map(Object.entries(parked.delegation)),
    offered: new Map(),
  });
}

/** The governance state of one run, keyed by the SDK's `RunContext` (one per run). */
export function runGovernance(
  runContext: RunContext<unknown> | object,
  options: GovernanceOptions,
): RunGovernance {
  let state = runs.get(runContext);
  if (!state) {
    state = { traceId: resolveTraceId(options), delegation: new Map(), offered: new Map() };
    runs.set(runContext, state);
  }
  return state;
}

function resolveTraceId(options: GovernanceOptions): string {
  if (options.traceId) return options.traceId;
  const current = getCurrentTrace()?.traceId;
  if (current && current !== 'no-op') return current;
  return kit.newTraceId();
}

/** The MeshGuard identity of an SDK agent, validated once per options object. */
export const identityOf = createIdentityCache(resolveIdentity);

function resolveIdentity(options: GovernanceOptions, agentName: string): AgentIdentity {
  const entry = options.identities?.[agentName];
  if (typeof entry === 'string') {
    // The gateway takes the identity from the token; this one only names the agent locally.
    guardFor(options, agentName);
    return { id: agentName, name: agentName, tags: [], tier: 'untrusted' };
  }
  const given = entry ?? options.identity;
  if (!given) {
    throw new ConfigError(
      `no MeshGuard identity for agent "${agentName}": add it to \`identities\` or give a default \`identity\``,
      { code: 'identity_missing' },
    );
  }
  return kit.identity(
    given,
    { id: agentName, name: agentName },
    (issue) => `the identity of agent "${agentName}" is invalid: ${issue}`,
  );
}

/**
 * The guard that decides for an SDK agent: `options.guard`, or, for an agent given by token, a
 * guard of the same gateway and settings holding that agent's token (see `agentGuard`).
 */
export function guardFor(options: GovernanceOptions, agentName: string): Guard {
  const token = options.identities?.[agentName];
  return typeof token === 'string' ? agentGuard(options.guard, token, agentName) : options.guard;
}

function agentTokens(options: GovernanceOptions): string[] {
  return Object.values(options.identities ?? {}).filter((entry) => typeof entry === 'string');
}

/** Sends what the agents' own guards (token identities) still hold: call before the process exits. */
export async function flushGovernance(options: GovernanceOptions): Promise<void> {
  await flushAgentGuards(options.guard, agentTokens(options));
}

/**
 * Flushes and closes the agents' own guards (token identities); `runGoverned` does it when its run
 * ends. A later run (or approval) opens them again. `options.guard` stays open: it is the host's.
 */
export async function closeGovernance(options: GovernanceOptions): Promise<void> {
  await closeAgentGuards(options.guard, agentTokens(options));
}

export function actionOf(options: GovernanceOptions, toolName: string): string {
  return options.actions?.[toolName] ?? `tool:${toolName}`;
}

/** Turns tool arguments into a check context. */
export function contextOf(
  options: GovernanceOptions,
  args: unknown,
  call: { toolName: string; agentName: string; action: string },
): CheckContext {
  if (options.context) return options.context(args, call);
  if (args !== null && typeof args === 'object' && !Array.isArray(args)) return args as CheckContext;
  return args === undefined ? {} : { input: args };
}

/** Parses a tool call's JSON arguments; anything unparsable is kept as text. */
export function parseArguments(raw: string | undefined): unknown {
  if (raw === undefined || raw === '') return {};
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Checks one action for an SDK agent inside a run, with its delegation chain and trace, through
 * the agent's own guard when it has a token (fails closed: see `AdapterKit.check`).
 */
export async function checkFor(
  options: GovernanceOptions,
  runContext: RunContext<unknown> | object,
  agentName: string,
  request: Pick<CheckRequest, 'action' | 'context' | 'spanId' | 'approvalId'> & { kind: ActionKind },
): Promise<CheckedAction> {
  const run = runGovernance(runContext, options);
  const checking: AdapterCheckRequest = {
    guard: guardFor(options, agentName),
    agent: identityOf(options, agentName),
    action: request.action,
    kind: request.kind,
    traceId: run.traceId,
    delegation: run.delegation.get(agentName) ?? [],
    context: request.context,
    spanId: request.spanId,
  };
  return request.approvalId === undefined
    ? kit.check(checking)
    : checkNamingApproval(checking, request.approvalId);
}

/**
 * `kit.check` with the approval request the call was approved under (the kit's request has no
 * `approvalId`): the same stamps, and it fails closed the same way.
 */
async function checkNamingApproval(request: AdapterCheckRequest, approvalId: string): Promise<CheckedAction> {
  const { guard, agent, action, kind, traceId, context, spanId } = request;
  const delegation = request.delegation ?? [];
  const checkRequest: CheckRequest = {
    action,
    agent,
    kind,
    traceId,
    framework: kit.framework,
    source: kit.source,
    approvalId,
  };
  if (context !== undefined) checkRequest.context = context;
  if (spanId !== undefined) checkRequest.spanId = spanId;
  if (delegation.length > 0) checkRequest.delegation = delegation;
  try {
    return { guard, agent, action, kind, traceId, delegation, decision: await guard.check(checkRequest) };
  } catch (error) {
    debug('check of %s with approval %s failed, denying: %O', action, approvalId, error);
    return kit.failed(request, failedCheckReason('the policy check failed', error));
  }
}

/**
 * Whether `action` could ever be allowed for this agent in this run; when not, records the
 * refusal once per run (a deny decision) so the audit trail says why the model was not offered it.
 */
export function offerable(
  options: GovernanceOptions,
  runContext: RunContext<unknown> | object,
  agentName: string,
  action: string,
  kind: 'tool' | 'handoff' | 'builtin_tool',
  context: CheckContext,
): Promise<boolean> {
  const run = runGovernance(runContext, options);
  const delegation = run.delegation.get(agentName) ?? [];
  // Keyed by the delegation chain too: an agent handed back to under a ceiling is asked again.
  const key = `${agentName}\u0000${action}\u0000${delegation.map((a) => a.id).join('>')}`;
  let verdict = run.offered.get(key);
  if (!verdict) {
    verdict = (async () => {
      const agent = identityOf(options, agentName);
      const offer = { action, kind, context: { ...context, stage: 'offer' } };
      let reachable: boolean;
      try {
        ({ reachable } = await guardFor(options, agentName).reachable({
          action,
          agent,
          kind,
          ...(delegation.length > 0 ? { delegation } : {}),
        }));
      } catch (error) {
        // A guard that cannot answer "could this ever be allowed?" must not end the run: the offer
        // is decided (and recorded) by a check instead, which fails closed, so the action is
        // offered only if it is allowed (or may be approved) now. The call is checked again.
        debug('reachable() of %s failed, checking the offer instead: %O', action, error);
        const checked = await checkFor(options, runContext, agentName, offer);
        return !checked.failed && checked.decision.effect !== 'deny';
      }
      if (reachable) return true;
      // Recorded as a decision: the model was not offered the action, and why.
      await checkFor(options, runContext, agentName, offer);
      return false;
    })();
    run.offered.set(key, verdict);
  }
  return verdict;
}

/** The SDK's id of the call an approval interruption is about. */
export function callIdOf(item: RunToolApprovalItem): string | undefined {
  const raw = item.rawItem as { callId?: string; id?: string };
  return raw.callId ?? raw.id;
}

/** A call waiting on a human, or denied where the SDK can only interrupt: by run, by call id. */
export interface PendingApproval {
  checked: CheckedAction;
  options: GovernanceOptions;
  /** The text the model gets when a policy denial is turned into a rejection. */
  denial?: string;
  /** Set once the approval or rejection has been recorded. */
  answered?: boolean;
}

const approvals = new WeakMap<object, Map<string, PendingApproval>>();

export function pendingApprovals(runContext: object): Map<string, PendingApproval> {
  let map = approvals.get(runContext);
  if (!map) {
    map = new Map();
    approvals.set(runContext, map);
  }
  return map;
}

const requests = new WeakMap<object, Map<string, string>>();

/**
 * The MeshGuard approval request each call of a run waits on (or was approved under), by the
 * SDK's call id: only for guards whose approval requests this adapter can answer
 * (`approvalChannel`). A call with one is checked again with its `approvalId` before it runs.
 */
export function callApprovals(runContext: object): Map<string, string> {
  let map = requests.get(runContext);
  if (!map) {
    map = new Map();
    requests.set(runContext, map);
  }
  return map;
}
