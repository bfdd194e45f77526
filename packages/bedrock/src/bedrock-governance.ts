import {
  type AgentIdentity,
  type AgentIdentityInput,
  createAdapterKit,
  type Decision,
  FRAMEWORK_NAMES,
  type Guard,
  type IdentityDefaults,
} from '@meshguard/core';
import createDebug from 'debug';
import type { ActionGroupsHandlers, BedrockActionCall } from './action-group-handlers';
import { PACKAGE_NAME, PACKAGE_VERSION } from './package-info';

export const debug = createDebug('meshguard:bedrock');

/** The `framework` of every event this adapter records. */
export const FRAMEWORK = FRAMEWORK_NAMES.bedrock;

/** The adapter plumbing every MeshGuard adapter shares, bound to this one. */
export const kit = createAdapterKit({
  framework: FRAMEWORK,
  source: { name: PACKAGE_NAME, version: PACKAGE_VERSION },
  debug,
});

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
  defaults: IdentityDefaults,
  what: string,
): AgentIdentity {
  return kit.identity(given, defaults, (issue) => `the identity of ${what} is invalid: ${issue}`);
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
      (governance.identities && Object.hasOwn(governance.identities, collaboratorName)
        ? governance.identities[collaboratorName]
        : undefined) ?? {},
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
