import {
  type AgentIdentity,
  type ApprovalAnswer,
  createAdapterKit,
  type Decision,
  type Guard,
  type IdentityInput,
  type RunParking,
} from '@meshguard/core';
import { createIdentityCache, FRAMEWORK_NAMES, type IdentityDefaults } from '@meshguard/core/internal';
import createDebug from 'debug';
import type { ActionGroupsHandlers, BedrockActionCall } from './action-group-handlers';
import { PACKAGE_SOURCE } from './package-info';

// The adapter contract's own types, under the names this package has always exported.
export type { ApprovalAnswer, IdentityInput };

export const debug = createDebug('meshguard:bedrock');

/** The `framework` of every event this adapter records. */
export const FRAMEWORK = FRAMEWORK_NAMES.bedrock;

/** The adapter plumbing every MeshGuard adapter shares, bound to this one. */
export const kit = createAdapterKit({ framework: FRAMEWORK, source: PACKAGE_SOURCE, debug });

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
   * Answers `require_approval` decisions (a human in the loop). With a store that keeps approval
   * requests, the answer is recorded on the decision's request (the approver's way) and the call
   * is checked again with its `approvalId` right before it runs. Without it such calls are
   * refused with the policy's reason (or, with `parking`, the turn is parked for a person to
   * answer): nothing runs unapproved. On a rejection the agent is told the answer's `message`
   * (default: `Blocked by policy: Rejected by <by> (approval apr_...)`, or `Not approved:
   * <reason>` where the store keeps no requests).
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
  /** Where turns waiting for a person's approval are parked (`createGovernedAgent`'s `parking`). */
  parking?: RunParking;
}

/** Validates an identity, filling `id` and `name`; a bad one is a `ConfigError` naming the agent. */
export function resolveIdentity(
  given: IdentityInput,
  defaults: IdentityDefaults,
  what: string,
): AgentIdentity {
  return kit.identity(given, defaults, (issue) => `the identity of ${what} is invalid: ${issue}`);
}

/** The identity a collaborator acts as (see `identities`), resolved once per governance. */
export const collaboratorIdentity = createIdentityCache((governance: Governance, collaboratorName: string) =>
  resolveIdentity(
    (governance.identities && Object.hasOwn(governance.identities, collaboratorName)
      ? governance.identities[collaboratorName]
      : undefined) ?? {},
    { id: collaboratorName, tags: governance.self.tags, tier: governance.self.tier },
    `collaborator "${collaboratorName}"`,
  ),
);

/** The handoff action for a collaborator: `handoff:<its identity's name>` (the collaborator name by default). */
export function handoffAction(governance: Governance, collaboratorName: string): string {
  return `handoff:${collaboratorIdentity(governance, collaboratorName).name}`;
}
