import {
  type AgentIdentity,
  type AgentIdentityInput,
  AgentIdentitySchema,
  type CheckRequest,
  ConfigError,
  type Decision,
  type Guard,
  type OutcomeEvent,
} from '@meshguard/core';
import createDebug from 'debug';
import type { ActionGroupsHandlers, BedrockActionCall } from './action-group-handlers';
import { PACKAGE_NAME, PACKAGE_VERSION } from './package-info';

export const debug = createDebug('meshguard:bedrock');

/** The `framework` of every event this adapter records. */
export const FRAMEWORK = 'bedrock-agents';
export const SOURCE = { name: PACKAGE_NAME, version: PACKAGE_VERSION };

/** An identity where `id` and `name` may be left out (they default to the agent's id or name). */
export type IdentityInput = Partial<AgentIdentityInput>;

/** A human's answer to a `require_approval` decision. */
export interface ApprovalAnswer {
  approve: boolean;
  /** Who decided (a user id or name), recorded as the outcome's actor. */
  by: string;
  /** What the agent is told on a rejection (default: the policy's reason). */
  message?: string;
}

/** What both `createGovernedAgent` and `invokeGovernedInlineAgent` take. */
export interface GovernanceOptions {
  /** The guard that decides and records (`createGuard()` from `@meshguard/core`). */
  guard: Guard;
  /** The MeshGuard identity of the invoked agent (`id` defaults to the agent id, `name` to `id`). */
  identity: IdentityInput;
  /**
   * Identities of collaborators, by collaborator name. A collaborator not listed acts with the
   * invoked agent's tags and tier under its own name (always with the invoked agent as its
   * delegation, so policy ceilings apply).
   */
  identities?: Record<string, IdentityInput>;
  /**
   * Answers `require_approval` decisions (a human in the loop). Without it such calls are refused
   * with the policy's reason: nothing runs unapproved.
   */
  onApprovalRequired?: (
    call: BedrockActionCall,
    decision: Decision,
  ) => Promise<ApprovalAnswer> | ApprovalAnswer;
  /** The text the agent receives when a call is refused (default `Blocked by policy: <reason>`). */
  denialMessage?: (decision: Decision, call: BedrockActionCall) => string;
  /** How many return-of-control rounds one turn may take before it fails (default 10). */
  maxRounds?: number;
}

/** Governance options with the handlers resolved, as the invocation loop uses them. */
export interface Governance extends GovernanceOptions {
  handlers: ActionGroupsHandlers;
  /** The invoked agent's identity, resolved once. */
  self: AgentIdentity;
}

/** Validates an identity, filling `id` and `name`; a bad one is a `ConfigError` naming the agent. */
export function resolveIdentity(
  given: IdentityInput,
  defaults: { id: string; name?: string; tags?: string[]; tier?: AgentIdentity['tier'] },
  what: string,
): AgentIdentity {
  const id = given.id ?? defaults.id;
  const parsed = AgentIdentitySchema.safeParse({
    ...(defaults.tags ? { tags: defaults.tags } : {}),
    ...(defaults.tier ? { tier: defaults.tier } : {}),
    ...given,
    id,
    name: given.name ?? defaults.name ?? id,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`the identity of ${what} is invalid: ${issue.path.join('.')}: ${issue.message}`, {
      code: 'identity_invalid',
    });
  }
  return parsed.data;
}

const collaboratorIdentities = new WeakMap<Governance, Map<string, AgentIdentity>>();

/** The identity a collaborator acts as (see `identities`). */
export function collaboratorIdentity(governance: Governance, collaboratorName: string): AgentIdentity {
  let known = collaboratorIdentities.get(governance);
  if (!known) {
    known = new Map();
    collaboratorIdentities.set(governance, known);
  }
  let identity = known.get(collaboratorName);
  if (!identity) {
    identity = resolveIdentity(
      governance.identities?.[collaboratorName] ?? {},
      { id: collaboratorName, tags: governance.self.tags, tier: governance.self.tier },
      `collaborator "${collaboratorName}"`,
    );
    known.set(collaboratorName, identity);
  }
  return identity;
}

/** The handoff action for a collaborator: `handoff:<its identity's name>` (the collaborator name by default). */
export function handoffAction(governance: Governance, collaboratorName: string): string {
  return `handoff:${collaboratorIdentity(governance, collaboratorName).name}`;
}

export function denialText(governance: Governance, decision: Decision, call: BedrockActionCall): string {
  return governance.denialMessage
    ? governance.denialMessage(decision, call)
    : `Blocked by policy: ${decision.reason}`;
}

/** A decision with what an outcome event needs to stand on its own (however late it is recorded). */
export interface Checked {
  decision: Decision;
  agent: AgentIdentity;
  action: string;
  kind: NonNullable<CheckRequest['kind']>;
  traceId: string;
  delegation: AgentIdentity[];
}

/** Checks (and so records) one action. */
export async function check(
  guard: Guard,
  request: {
    action: string;
    agent: AgentIdentity;
    kind: NonNullable<CheckRequest['kind']>;
    traceId: string;
    delegation: AgentIdentity[];
    context?: Record<string, unknown>;
    spanId?: string;
  },
): Promise<Checked> {
  const { delegation, ...rest } = request;
  const decision = await guard.check({
    ...rest,
    framework: FRAMEWORK,
    source: SOURCE,
    ...(delegation.length > 0 ? { delegation } : {}),
  });
  return {
    decision,
    agent: request.agent,
    action: request.action,
    kind: request.kind,
    traceId: request.traceId,
    delegation,
  };
}

/** Records the outcome of a checked action; a failure to record is logged, never thrown into the turn. */
export async function recordOutcome(
  guard: Guard,
  checked: Checked,
  event: Omit<OutcomeEvent, 'decisionId' | 'agent' | 'action' | 'traceId' | 'kind' | 'effect'>,
): Promise<void> {
  try {
    await guard.record({
      framework: FRAMEWORK,
      source: SOURCE,
      decisionId: checked.decision.decisionId,
      agent: checked.agent,
      action: checked.action,
      traceId: checked.traceId,
      kind: checked.kind,
      effect: checked.decision.effect,
      ...(checked.delegation.length > 0 ? { delegation: checked.delegation } : {}),
      ...event,
    });
  } catch (error) {
    debug('could not record outcome %o: %O', event, error);
  }
}
