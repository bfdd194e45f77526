import {
  type AgentIdentity,
  type AgentIdentityInput,
  AgentIdentitySchema,
  type CheckContext,
  type CheckRequest,
  ConfigError,
  type Decision,
  type Guard,
  type OutcomeEvent,
} from '@meshguard/core';
import createDebug from 'debug';
import { PACKAGE_NAME, PACKAGE_VERSION } from './package-info';

export const debug = createDebug('meshguard:vertex');

export const FRAMEWORK = 'vertex';
export const SOURCE = { name: PACKAGE_NAME, version: PACKAGE_VERSION };

/** The agent's identity: `id` defaults to `name`. */
export type IdentityInput = Omit<AgentIdentityInput, 'id'> & { id?: string };

/** What `governFunctions` and `governBuiltinTools` take. */
export interface GovernanceOptions {
  /** The guard that decides and records (`createGuard()` from `@meshguard/core`). */
  guard: Guard;
  /** Who the Gemini agent is to policy, e.g. `{ name: 'Support', tags: ['vertex', 'support'], tier: 'verified' }`. */
  identity: IdentityInput;
  /** The trace decisions are recorded under (default: a new `trace_<32 hex>`). */
  traceId?: string;
  /** The text the model receives when a call is denied (default `Blocked by policy: <reason>`). */
  denialMessage?: (decision: Decision, action: string) => string;
}

export function newTraceId(): string {
  return `trace_${crypto.randomUUID().replaceAll('-', '')}`;
}

/** Validates the options every entry point shares; errors name the function and the field. */
export function resolveGovernance(
  where: string,
  options: GovernanceOptions | undefined,
): { guard: Guard; agent: AgentIdentity; traceId: string } {
  if (!options || typeof options !== 'object') {
    throw new ConfigError(`${where}: options are required ({ guard, identity, ... })`, {
      code: 'options_missing',
    });
  }
  const guard = options.guard as Partial<Guard> | undefined;
  if (!guard || typeof guard.check !== 'function' || typeof guard.record !== 'function') {
    throw new ConfigError(
      `${where}: \`guard\` must be a MeshGuard guard (createGuard() from @meshguard/core)`,
      {
        code: 'guard_missing',
      },
    );
  }
  const given = options.identity as Partial<IdentityInput> | undefined;
  if (!given || typeof given !== 'object') {
    throw new ConfigError(`${where}: \`identity\` is required, e.g. { name: 'Support', tags: ['vertex'] }`, {
      code: 'identity_missing',
    });
  }
  const parsed = AgentIdentitySchema.safeParse({ id: given.name, ...given });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${where}: identity.${issue.path.join('.')}: ${issue.message}`, {
      code: 'identity_invalid',
    });
  }
  if (options.traceId !== undefined && (typeof options.traceId !== 'string' || options.traceId === '')) {
    throw new ConfigError(`${where}: \`traceId\` must be a non-empty string`, { code: 'trace_invalid' });
  }
  return { guard: options.guard, agent: parsed.data, traceId: options.traceId ?? newTraceId() };
}

/** A decision with what its outcome events need; `failed` when the check itself threw. */
export interface Checked {
  guard: Guard;
  decision: Decision;
  agent: AgentIdentity;
  action: string;
  kind: NonNullable<CheckRequest['kind']>;
  traceId: string;
  failed?: true;
}

/**
 * Checks one action. Fails closed: a check that throws (a broken store, a malformed request) is
 * a deny whose reason says so, never an allow.
 */
export async function checkAction(
  scope: { guard: Guard; agent: AgentIdentity; traceId: string },
  request: {
    action: string;
    kind: NonNullable<CheckRequest['kind']>;
    context: CheckContext;
    spanId?: string;
  },
): Promise<Checked> {
  const base = {
    guard: scope.guard,
    agent: scope.agent,
    action: request.action,
    kind: request.kind,
    traceId: scope.traceId,
  };
  try {
    const decision = await scope.guard.check({
      ...request,
      agent: scope.agent,
      traceId: scope.traceId,
      framework: FRAMEWORK,
      source: SOURCE,
    });
    return { ...base, decision };
  } catch (error) {
    debug('check of %s failed, denying: %O', request.action, error);
    const message = error instanceof Error ? error.message : String(error);
    return {
      ...base,
      failed: true,
      decision: {
        decisionId: `failed-${crypto.randomUUID()}`,
        allowed: false,
        effect: 'deny',
        reason: `the policy check failed, so the action is denied: ${message}`,
        mode: 'enforce',
        evaluatedAt: new Date().toISOString(),
      },
    };
  }
}

/**
 * Records the outcome of a checked action. A check that failed has no decision to join, so its
 * outcome is recorded on its own. A failure to record is logged, never thrown into the chat.
 */
export async function recordOutcome(
  checked: Checked,
  event: Omit<OutcomeEvent, 'decisionId' | 'agent' | 'action' | 'traceId' | 'kind' | 'effect'>,
): Promise<void> {
  try {
    await checked.guard.record({
      framework: FRAMEWORK,
      source: SOURCE,
      ...(checked.failed ? { error: checked.decision.reason } : { decisionId: checked.decision.decisionId }),
      agent: checked.agent,
      action: checked.action,
      traceId: checked.traceId,
      kind: checked.kind,
      effect: checked.decision.effect,
      ...event,
    });
  } catch (error) {
    debug('could not record outcome %o: %O', event, error);
  }
}

export function denialText(options: GovernanceOptions, decision: Decision, action: string): string {
  return options.denialMessage
    ? options.denialMessage(decision, action)
    : `Blocked by policy: ${decision.reason}`;
}
