import createDebug from 'debug';
import { ConfigError } from '../errors/meshguard-error';
import { safeParseWithSchema } from '../errors/parse-with-schema';
import { type AgentIdentity, AgentIdentitySchema } from '../protocol/agent-identity';
import type { ActionKind, CheckContext, CheckRequest } from '../protocol/check-request';
import type { Decision } from '../protocol/decision';
import type { OutcomeEvent } from '../protocol/outcome-event';
import {
  failedCheckDecision,
  failedCheckReason,
  type IdentityDefaults,
  type IdentityInput,
} from './adapter-contract';
import type { Guard } from './guard';
import { judgeObservedCall, type ObservedCall, type ObservedVerdict } from './observed-call';

/** Who an adapter is: stamped on every decision and outcome it records. */
export interface AdapterKitOptions {
  /** The `framework` of every event, e.g. `'openai-agents'`. */
  framework: string;
  /** The adapter package and its version, e.g. `{ name: '@meshguard/vertex', version: '0.1.0' }`. */
  source: { name: string; version: string };
  /**
   * Where the kit logs what it must not throw (a failed check, an outcome it could not record):
   * the adapter's `debug` namespace. Default: `meshguard:<framework>`.
   */
  debug?: (formatter: string, ...args: unknown[]) => void;
}

/** One action to check, with everything its outcome events will need. */
export interface AdapterCheckRequest {
  /** The guard that decides and records (an agent given by token may have its own). */
  guard: Guard;
  agent: AgentIdentity;
  action: string;
  kind: ActionKind;
  traceId: string;
  /** The agents the request came through, root first (empty or absent: none). */
  delegation?: AgentIdentity[];
  context?: CheckContext;
  spanId?: string;
  /** The approval request of this exact call, once answered (see `CheckRequest.approvalId`). */
  approvalId?: string;
}

/**
 * A decision with what an outcome event needs to stand on its own, however late it is recorded
 * (a human's answer, a hosted call seen after the run).
 */
export interface CheckedAction {
  /** The guard that decided: outcomes go to the same one. */
  guard: Guard;
  decision: Decision;
  agent: AgentIdentity;
  action: string;
  kind: ActionKind;
  traceId: string;
  delegation: AgentIdentity[];
  /**
   * Set when the check itself threw: `decision` is then the kit's own deny, which no guard
   * recorded, so its outcomes are recorded on their own (with the failure as their `error`).
   */
  failed?: true;
}

/** What an outcome adds to its decision: the decision's own facts come from the `CheckedAction`. */
export type AdapterOutcome = Omit<
  OutcomeEvent,
  'decisionId' | 'agent' | 'action' | 'traceId' | 'kind' | 'effect'
>;

/** The plumbing every framework adapter shares, bound to one framework. */
export interface AdapterKit {
  readonly framework: string;
  readonly source: { name: string; version: string };
  /**
   * Checks (and so records) one action, stamped with the framework, the source and the
   * delegation. Fails closed: a check that throws (a broken store, a closed guard, a malformed
   * request) returns a deny whose reason says the check failed, never an allow and never a throw.
   */
  check(request: AdapterCheckRequest): Promise<CheckedAction>;
  /**
   * A deny no guard made, for an action whose check could not even be asked (its context could
   * not be built...): `failed`, so its outcomes are recorded on their own, with `reason`.
   */
  failed(request: Omit<AdapterCheckRequest, 'context' | 'spanId'>, reason: string): CheckedAction;
  /**
   * Records the outcome of a checked action, joined to its decision (agent, action, trace, kind,
   * effect and delegation come from it). A failure to record is logged, never thrown into the run.
   */
  recordOutcome(checked: CheckedAction, event: AdapterOutcome): Promise<void>;
  /**
   * Records activity no decision preceded (a hosted call seen afterwards, a span mirrored): the
   * event names its own agent and action. A failure to record is logged, never thrown.
   */
  recordObserved(guard: Guard, event: OutcomeEvent): Promise<void>;
  /**
   * What policy would have decided for a call that ran where nothing could stop it (a hosted
   * tool, a hand-off inside AWS), judged as it ran; records nothing. See `observe`.
   */
  judgeObserved(call: ObservedCall): Promise<ObservedVerdict>;
  /**
   * Records a call that ran where nothing could stop it as `observed`, with the effect policy
   * would have given it and a reason that says it was not gated: a call policy would have denied
   * is an observed `deny`, never an allow. Pass the `verdict` of `judgeObserved` to skip judging
   * again. A failure to record is logged, never thrown.
   *
   * @example
   * await kit.observe({ guard, agent, action: 'read:web_search', kind: 'builtin_tool', traceId,
   *   context: { query }, notGated: 'ran on the provider\'s side, where MeshGuard cannot stop it' });
   */
  observe(call: ObservedCall, verdict?: ObservedVerdict): Promise<ObservedVerdict>;
  /**
   * The text a model or agent receives for a refused action: the host's `denialMessage` when it
   * gives one, else `Blocked by policy: <reason>`.
   */
  denialText<S>(
    decision: Decision,
    subject: S,
    denialMessage?: (decision: Decision, subject: S) => string,
  ): string;
  /**
   * Validates an identity the host gave, `id`, `name`, `tags` and `tier` filled from `defaults`
   * where left out. An invalid one is a `ConfigError` (`identity_invalid`) whose message is
   * `invalid(<path>: <problem>)`, so it can name the agent and the option.
   */
  identity(
    given: IdentityInput,
    defaults: IdentityDefaults,
    invalid: (issue: string) => string,
  ): AgentIdentity;
  /** A new trace id, `trace_<32 hex>`, for a run the host gave none. */
  newTraceId(): string;
}

/**
 * The shared plumbing of a framework adapter: checks stamped with the framework and source that
 * fail closed, outcomes joined to their decision, recording that never throws into the agent's
 * run, the default denial text and identities with defaults. An adapter maps its framework's hooks
 * onto these and keeps only what is its own.
 *
 * @example
 * const kit = createAdapterKit({ framework: 'my-framework', source: { name: 'my-adapter', version: '1.0.0' } });
 * const checked = await kit.check({ guard, agent, action: 'write:refund', kind: 'tool', traceId, context: args });
 * if (!checked.decision.allowed) {
 *   await kit.recordOutcome(checked, { outcome: 'blocked' });
 *   return kit.denialText(checked.decision, 'write:refund');
 * }
 * const result = await runTool(args);
 * await kit.recordOutcome(checked, { outcome: 'success' });
 */
export function createAdapterKit(options: AdapterKitOptions): AdapterKit {
  const { framework } = options;
  const source = { name: options.source.name, version: options.source.version };
  const debug = options.debug ?? createDebug(`meshguard:${framework}`);

  const failed: AdapterKit['failed'] = (request, reason) => {
    const { guard, agent, action, kind, traceId } = request;
    return {
      guard,
      agent,
      action,
      kind,
      traceId,
      delegation: request.delegation ?? [],
      failed: true,
      decision: failedCheckDecision(reason),
    };
  };

  return {
    framework,
    source,

    async check(request) {
      // Built field by field: object rest and spread cost a few microseconds a call here.
      const { guard, agent, action, kind, traceId, context, spanId } = request;
      const delegation = request.delegation ?? [];
      const checkRequest: CheckRequest = { action, agent, kind, traceId, framework, source };
      if (context !== undefined) checkRequest.context = context;
      if (spanId !== undefined) checkRequest.spanId = spanId;
      if (request.approvalId !== undefined) checkRequest.approvalId = request.approvalId;
      if (delegation.length > 0) checkRequest.delegation = delegation;
      let decision: Decision;
      try {
        decision = await guard.check(checkRequest);
      } catch (error) {
        debug('check of %s failed, denying: %O', action, error);
        return failed(request, failedCheckReason('the policy check failed', error));
      }
      return { guard, agent, action, kind, traceId, delegation, decision };
    },

    failed,

    async recordOutcome(checked, event) {
      const outcome: OutcomeEvent = {
        framework,
        source,
        agent: checked.agent,
        action: checked.action,
        traceId: checked.traceId,
        kind: checked.kind,
        effect: checked.decision.effect,
        outcome: event.outcome,
      };
      // A failed check recorded no decision to join: the outcome stands alone and says why.
      if (checked.failed) outcome.error = checked.decision.reason;
      else outcome.decisionId = checked.decision.decisionId;
      if (checked.delegation.length > 0) outcome.delegation = checked.delegation;
      Object.assign(outcome, event);
      try {
        await checked.guard.record(outcome);
      } catch (error) {
        debug('could not record outcome %o: %O', event, error);
      }
    },

    async recordObserved(guard, event) {
      try {
        await guard.record({ framework, source, ...event });
      } catch (error) {
        debug('could not record %o: %O', event, error);
      }
    },

    judgeObserved(call) {
      return judgeObservedCall(call, { framework, source });
    },

    async observe(call, given) {
      const verdict = given ?? (await judgeObservedCall(call, { framework, source }));
      const event: OutcomeEvent = {
        framework,
        source,
        agent: call.agent,
        action: call.action,
        kind: call.kind,
        traceId: call.traceId,
        outcome: 'observed',
        effect: verdict.effect,
        reason: verdict.reason,
      };
      if (call.delegation && call.delegation.length > 0) event.delegation = call.delegation;
      if (call.context && Object.keys(call.context).length > 0) event.context = call.context;
      if (call.id !== undefined) event.id = call.id;
      if (call.spanId !== undefined) event.spanId = call.spanId;
      if (call.error !== undefined) event.error = call.error;
      try {
        await call.guard.record(event);
      } catch (error) {
        debug('could not record observed %s: %O', call.action, error);
      }
      return verdict;
    },

    denialText(decision, subject, denialMessage) {
      return denialMessage ? denialMessage(decision, subject) : `Blocked by policy: ${decision.reason}`;
    },

    identity(given, defaults, invalid) {
      const id = given.id ?? defaults.id;
      const identity = {
        ...(defaults.tags ? { tags: defaults.tags } : {}),
        ...(defaults.tier ? { tier: defaults.tier } : {}),
        ...given,
        id,
        name: given.name ?? defaults.name ?? id,
      };
      const parsed = safeParseWithSchema(AgentIdentitySchema, identity, 'identity');
      if (!parsed.success) {
        throw new ConfigError(invalid(parsed.error.message), {
          code: 'identity_invalid',
          cause: parsed.error,
        });
      }
      return parsed.data;
    },

    newTraceId() {
      return `trace_${crypto.randomUUID().replaceAll('-', '')}`;
    },
  };
}
