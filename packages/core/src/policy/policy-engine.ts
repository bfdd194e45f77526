import { isoTime, uuidv7 } from '../ids/uuidv7';
import type { AgentIdentity } from '../protocol/agent-identity';
import type { CheckContext } from '../protocol/check-request';
import type { Decision, ShadowOutcome } from '../protocol/decision';
import {
  type ApprovalPolicy,
  approvalPolicy,
  type CompiledPolicy,
  type CompiledRule,
  compilePolicy,
  type EngineOutcome,
} from './compiled-policy';
import type { CompiledCondition, ConditionInput } from './conditions';
import { checkDelegation } from './delegation-limits';
import {
  allDefaultAllow,
  applicablePolicies,
  firstApplicable,
  indexApplicability,
} from './policy-applicability';
import { type Explanation, explainDecision } from './policy-explanation';
import { checkUniqueNames, type LoadedPolicy } from './policy-loader';
import { createRuleIndex } from './rule-index';

export type { ApprovalPolicy } from './compiled-policy';
export type { Explanation, RuleExplanation } from './policy-explanation';

/** What the engine needs of a request (already validated at the boundary). */
export interface EngineRequest {
  action: string;
  agent: AgentIdentity;
  context?: CheckContext | undefined;
  delegation?: readonly AgentIdentity[] | undefined;
}

/** A clock in milliseconds since the epoch; inject a fixed one in tests and `policy explain --at`. */
export type Clock = () => number;

export interface PolicyEngineOptions {
  clock?: Clock;
  /** How many distinct actions keep their matched wildcard rules cached (default 10,000). */
  actionCacheSize?: number;
}

/**
 * Whether some context and time could let an action through (allow or require approval). Used at
 * offer time: a tool or handoff that can never be allowed is not shown to the model at all.
 */
export interface Reachability {
  reachable: boolean;
  /** Why not, when not reachable: the deciding rule, or that nothing allows it. */
  reason: string;
  /** Whether some request could come out as `require_approval` (adapters skip approval hooks when not). */
  approvalPossible: boolean;
}

/**
 * A compiled policy set. Rules are indexed by exact action; wildcard rules are matched once per
 * distinct action and cached, so a decision costs about the same with 10 or 10,000 rules.
 */
export interface PolicyEngine {
  readonly policies: readonly LoadedPolicy[];
  /** Decides (does not record): the caller records through a Guard. */
  decide(request: EngineRequest, now?: number): Decision;
  explain(request: EngineRequest, now?: number): Explanation;
  /**
   * Whether any context and time could allow the action for this agent and delegation chain
   * (ignores context and clock; conditions on them count as satisfiable). Records nothing.
   */
  reachable(request: Omit<EngineRequest, 'context'>): Reachability;
  /**
   * The approval settings of the `require_approval` rule that made a decision (the defaults when
   * this set has no such rule, e.g. after a policy push).
   */
  approvalPolicy(decision: Pick<Decision, 'policy' | 'rule'>): ApprovalPolicy;
}

/**
 * Compiles policies into an engine.
 *
 * @example
 * const engine = createPolicyEngine(await loadPolicies('policies/'));
 * engine.decide({ action: 'write:refund', agent, context: { amount: 150 } }).allowed // false
 */
export function createPolicyEngine(
  policies: readonly LoadedPolicy[],
  options: PolicyEngineOptions = {},
): PolicyEngine {
  checkUniqueNames(policies);
  const clock = options.clock ?? Date.now;
  const cacheSize = options.actionCacheSize ?? 10_000;
  const compiled = policies.map(compilePolicy);
  const enforcePolicies = compiled.filter((p) => p.mode === 'enforce');
  const hasShadow = compiled.some((p) => p.mode === 'shadow');
  // Which policies apply to an agent, found by key rather than by testing every policy, so the
  // default (no rule matched) costs the same with 1 or 1,000 policies.
  const enforceIndex = indexApplicability(enforcePolicies);
  const everyIndex = indexApplicability(compiled);
  const shadowIndex = indexApplicability(compiled.filter((p) => p.mode === 'shadow'));
  const delegating = compiled.filter((p) => p.maxDepth !== undefined || p.ceiling !== undefined);
  // A shadow policy with delegation limits takes effect through the delegators on the chain, so
  // it is trialled whenever it applies to one of them, not only to the acting agent.
  const shadowDelegating = delegating.filter((p) => p.mode === 'shadow');
  const shadowApplies = (req: EngineRequest): boolean =>
    firstApplicable(shadowIndex, req.agent) !== undefined ||
    (req.delegation !== undefined &&
      req.delegation.length > 0 &&
      shadowDelegating.some((p) => req.delegation!.some((a) => p.applies(a))));

  const { allRules, candidates } = createRuleIndex(compiled, cacheSize);

  function delegationViolation(req: EngineRequest, includeShadow: boolean): EngineOutcome | undefined {
    const chain = req.delegation;
    if (!chain || chain.length === 0) return undefined;
    for (const policy of delegating) {
      if (!includeShadow && policy.mode === 'shadow') continue;
      const violation = checkDelegation(policy, req, chain);
      if (violation) return violation;
    }
    return undefined;
  }

  function evaluate(req: EngineRequest, now: number, includeShadow: boolean): EngineOutcome {
    const violation = delegationViolation(req, includeShadow);
    if (violation) return violation;
    const rules = candidates(req.action);
    let input: ConditionInput | undefined;
    let near: { rule: CompiledRule; failed: CompiledCondition } | undefined;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      const policy = rule.policy;
      if (policy.mode === 'shadow' && !includeShadow) continue;
      if (!policy.applies(req.agent)) continue;
      const conditions = rule.conditions;
      if (conditions.length > 0) {
        input ??= { agent: req.agent, context: req.context, now };
        let failed: CompiledCondition | undefined;
        for (let c = 0; c < conditions.length; c++) {
          if (!conditions[c]!.test(input)) {
            failed = conditions[c];
            break;
          }
        }
        if (failed) {
          if (!near && rule.effect !== 'deny') near = { rule, failed };
          continue;
        }
      }
      return { effect: rule.effect, reason: rule.decisionReason, policy: policy.ref, rule: rule.ref };
    }
    return fallback(req, includeShadow, near, input ?? { agent: req.agent, context: req.context, now });
  }

  function fallback(
    req: EngineRequest,
    includeShadow: boolean,
    near: { rule: CompiledRule; failed: CompiledCondition } | undefined,
    input: ConditionInput,
  ): EngineOutcome {
    const index = includeShadow ? everyIndex : enforceIndex;
    const first = firstApplicable(index, req.agent);
    if (first === undefined) {
      return {
        effect: 'deny',
        reason: `No policy applies to agent "${req.agent.name}" (tags: ${req.agent.tags.join(', ') || 'none'}; tier: ${req.agent.tier}): denied by default`,
      };
    }
    if (index.defaultAllow.size > 0 && allDefaultAllow(index, req.agent)) {
      return {
        effect: 'allow',
        reason: `No rule matches "${req.action}": allowed by defaultEffect allow of ${policyList(applicablePolicies(index, req.agent))}`,
        policy: first!.ref,
      };
    }
    const why = near
      ? `rule ${near.rule.ref.id} allows it only when ${near.failed.requirement}${near.failed.observedInReason ? ` (${near.failed.observed(input)})` : ''}`
      : 'no rule matches it';
    return {
      effect: 'deny',
      reason: `Nothing allows "${req.action}" for agent "${req.agent.name}": ${why}; denied by default`,
      policy: near?.rule.policy.ref ?? first!.ref,
      ...(near ? { rule: near.rule.ref } : {}),
    };
  }

  function decide(req: EngineRequest, now: number = clock()): Decision {
    const outcome = evaluate(req, now, false);
    const decision: Decision = {
      decisionId: uuidv7(now),
      allowed: outcome.effect === 'allow',
      effect: outcome.effect,
      reason: outcome.reason,
      policy: outcome.policy,
      rule: outcome.rule,
      mode: 'enforce',
      evaluatedAt: isoTime(now),
    };
    if (hasShadow && shadowApplies(req)) {
      const shadow = evaluate(req, now, true);
      const out: ShadowOutcome = { effect: shadow.effect, reason: shadow.reason };
      if (shadow.policy) out.policy = shadow.policy;
      if (shadow.rule) out.rule = shadow.rule;
      decision.shadow = out;
    }
    return decision;
  }

  function explain(req: EngineRequest, now: number = clock()): Explanation {
    return explainDecision({ compiled, allRules, delegating }, req, now, decide(req, now));
  }

  function reachable(req: Omit<EngineRequest, 'context'>): Reachability {
    const violation = delegationViolation(req, false);
    if (violation) return { reachable: false, reason: violation.reason, approvalPossible: false };
    const input: ConditionInput = { agent: req.agent, context: undefined, now: 0 };
    // Rules come deny first, then require_approval, then allow.
    for (const rule of candidates(req.action)) {
      if (rule.policy.mode === 'shadow' || !rule.policy.applies(req.agent)) continue;
      // Conditions on the agent alone are decided now; any other may hold for some request.
      const agentFails = rule.conditions.some((c) => c.agentOnly === true && !c.test(input));
      if (agentFails) continue;
      const certain = rule.conditions.every((c) => c.agentOnly === true);
      if (rule.effect !== 'deny') {
        return {
          reachable: true,
          reason: rule.decisionReason,
          approvalPossible: rule.effect === 'require_approval',
        };
      }
      if (certain) return { reachable: false, reason: rule.decisionReason, approvalPossible: false };
    }
    const fallen = fallback(req, false, undefined, input);
    return { reachable: fallen.effect !== 'deny', reason: fallen.reason, approvalPossible: false };
  }

  const approvalRules = new Map<string, ApprovalPolicy>();
  const ruleKey = (policy: string, rule: string) => `${policy}\u0000${rule}`;
  for (const rule of allRules) {
    if (rule.approval) approvalRules.set(ruleKey(rule.policy.ref.name, rule.ref.id), rule.approval);
  }
  const defaultApproval = approvalPolicy(undefined);
  const approvalOf = (decision: Pick<Decision, 'policy' | 'rule'>): ApprovalPolicy =>
    (decision.policy && decision.rule
      ? approvalRules.get(ruleKey(decision.policy.name, decision.rule.id))
      : undefined) ?? defaultApproval;

  return { policies, decide, explain, reachable, approvalPolicy: approvalOf };
}

function policyList(applicable: readonly CompiledPolicy[]): string {
  const names = applicable.map((p) => p.ref.name);
  return names.length === 1 ? `policy ${names[0]}` : `policies ${names.join(', ')}`;
}
