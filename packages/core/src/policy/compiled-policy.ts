import type { AgentIdentity } from '../protocol/agent-identity';
import type { Effect, PolicyMode, PolicyRef, RuleRef } from '../protocol/decision';
import { type ActionMatcher, compileActionPattern } from './action-pattern';
import type { CompiledCondition } from './conditions';
import { parseDuration } from './duration';
import type { LoadedPolicy } from './policy-loader';
import { type ApprovalSettings, DEFAULT_APPROVAL_EXPIRY, type PolicyDocument } from './policy-schema';

/** A policy as the engine holds it: who it applies to and its delegation limits, compiled once. */
export interface CompiledPolicy {
  readonly order: number;
  readonly loaded: LoadedPolicy;
  readonly ref: PolicyRef;
  readonly mode: PolicyMode;
  readonly defaultEffect: 'allow' | 'deny';
  readonly applies: (agent: AgentIdentity) => boolean;
  readonly appliesText: string;
  readonly maxDepth: number | undefined;
  readonly ceiling: { patterns: readonly string[]; matchers: readonly ActionMatcher[] } | undefined;
}

/** A rule as the engine holds it, with its policy and its place in precedence. */
export interface CompiledRule {
  readonly policy: CompiledPolicy;
  readonly ref: RuleRef;
  readonly order: number;
  readonly rank: number;
  readonly effect: Effect;
  readonly patterns: readonly string[];
  readonly conditions: readonly CompiledCondition[];
  readonly reason: string | undefined;
  /** The reason text a decision carries, built once at compile time. */
  readonly decisionReason: string;
  /** For a `require_approval` rule: its approval settings with the defaults filled in. */
  readonly approval: ApprovalPolicy | undefined;
}

/** A `require_approval` rule's approval settings, defaults filled in (see `ApprovalSettingsSchema`). */
export interface ApprovalPolicy {
  expiresInMs: number;
  /** Empty: any approver may answer. */
  approvers: readonly string[];
  /** Undefined: every channel the gateway has. */
  notify: readonly string[] | undefined;
}

/** Resolves a rule's approval settings (`DEFAULT_APPROVAL_EXPIRY` when it says none). */
export function approvalPolicy(settings: ApprovalSettings | undefined): ApprovalPolicy {
  return {
    expiresInMs: parseDuration(settings?.expiresIn ?? DEFAULT_APPROVAL_EXPIRY)!,
    approvers: settings?.approvers ?? [],
    notify: settings?.notify,
  };
}

/** What one evaluation comes to, before it becomes a `Decision`. */
export interface EngineOutcome {
  effect: Effect;
  reason: string;
  policy?: PolicyRef | undefined;
  rule?: RuleRef | undefined;
}

export function compilePolicy(loaded: LoadedPolicy, order: number): CompiledPolicy {
  const doc: PolicyDocument = loaded.document;
  const ceiling = doc.delegation?.permissionCeiling;
  return {
    order,
    loaded,
    ref: { name: doc.name, version: doc.version },
    mode: doc.mode,
    defaultEffect: doc.defaultEffect,
    ...compileAppliesTo(doc),
    maxDepth: doc.delegation?.maxDepth,
    ceiling: ceiling ? { patterns: ceiling, matchers: ceiling.map(compileActionPattern) } : undefined,
  };
}

function compileAppliesTo(doc: PolicyDocument): {
  applies: (agent: AgentIdentity) => boolean;
  appliesText: string;
} {
  const to = doc.appliesTo;
  if (!to || (!to.tags && !to.agents && !to.tiers))
    return { applies: () => true, appliesText: 'every agent' };
  const tags = to.tags ? new Set(to.tags) : undefined;
  const agents = to.agents ? new Set(to.agents) : undefined;
  const tiers = to.tiers ? new Set<string>(to.tiers) : undefined;
  const text = [
    tags && `tags any of [${to.tags!.join(', ')}]`,
    agents && `agent any of [${to.agents!.join(', ')}]`,
    tiers && `tier any of [${to.tiers!.join(', ')}]`,
  ]
    .filter(Boolean)
    .join(' and ');
  return {
    applies: (agent) => {
      if (tiers && !tiers.has(agent.tier)) return false;
      if (agents && !agents.has(agent.id) && !agents.has(agent.name)) return false;
      if (tags) {
        let any = false;
        for (const tag of agent.tags) {
          if (tags.has(tag)) {
            any = true;
            break;
          }
        }
        if (!any) return false;
      }
      return true;
    },
    appliesText: text,
  };
}
