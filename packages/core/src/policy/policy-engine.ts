import { isoTime, uuidv7 } from '../ids/uuidv7';
import type { AgentIdentity } from '../protocol/agent-identity';
import type { CheckContext } from '../protocol/check-request';
import type { Decision, Effect, PolicyMode, PolicyRef, RuleRef, ShadowOutcome } from '../protocol/decision';
import { type ActionMatcher, compileActionPattern, isWildcard } from './action-pattern';
import { type CompiledCondition, type ConditionInput, compileConditions } from './conditions';
import { checkUniqueNames, type LoadedPolicy } from './policy-loader';
import type { PolicyDocument } from './policy-schema';

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

interface CompiledPolicy {
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

interface CompiledRule {
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
}

interface Outcome {
  effect: Effect;
  reason: string;
  policy?: PolicyRef | undefined;
  rule?: RuleRef | undefined;
}

const EFFECT_RANK: Record<Effect, number> = { deny: 0, require_approval: 1, allow: 2 };

/** One rule as an explanation shows it. */
export interface RuleExplanation {
  policy: string;
  policyMode: PolicyMode;
  policyApplies: boolean;
  rule: string;
  index: number;
  effect: Effect;
  actionMatched: boolean;
  matchedPattern?: string;
  conditions: Array<{ key: string; requirement: string; holds: boolean; observed: string }>;
  matched: boolean;
}

/** Why a decision came out as it did: every policy and rule considered. */
export interface Explanation {
  decision: Decision;
  request: { action: string; agent: AgentIdentity; context?: CheckContext; delegation?: AgentIdentity[] };
  evaluatedAt: string;
  policies: Array<{ name: string; version: string; mode: PolicyMode; applies: boolean; appliesTo: string }>;
  delegation: Array<{ policy: string; holds: boolean; detail: string }>;
  rules: RuleExplanation[];
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

  const exact = new Map<string, CompiledRule[]>();
  const wildcard: Array<{ match: ActionMatcher; rule: CompiledRule }> = [];
  const allRules: CompiledRule[] = [];
  let order = 0;
  for (const policy of compiled) {
    policy.loaded.document.rules.forEach((rule, index) => {
      const id = rule.id ?? `${policy.ref.name}#${index}`;
      const compiledRule: CompiledRule = {
        policy,
        ref: { id, index },
        order: order++,
        rank: EFFECT_RANK[rule.effect],
        effect: rule.effect,
        patterns: rule.actions,
        conditions: compileConditions(rule.conditions),
        reason: rule.reason,
        decisionReason: ruleReason(rule.effect, rule.reason, id, policy.ref.name),
      };
      allRules.push(compiledRule);
      const seen = new Set<string>();
      for (const pattern of rule.actions) {
        if (seen.has(pattern)) continue;
        seen.add(pattern);
        if (isWildcard(pattern)) {
          wildcard.push({ match: compileActionPattern(pattern), rule: compiledRule });
        } else {
          const list = exact.get(pattern);
          if (list) list.push(compiledRule);
          else exact.set(pattern, [compiledRule]);
        }
      }
    });
  }

  const cache = new Map<string, readonly CompiledRule[]>();
  const byPrecedence = (a: CompiledRule, b: CompiledRule) => a.rank - b.rank || a.order - b.order;

  /** The rules whose action patterns match `action`, deny first, then approval, then allow. */
  function candidates(action: string): readonly CompiledRule[] {
    let list = cache.get(action);
    if (list) return list;
    const found = new Set<CompiledRule>(exact.get(action));
    for (const w of wildcard) if (w.match(action)) found.add(w.rule);
    list = [...found].sort(byPrecedence);
    if (cache.size >= cacheSize) cache.clear(); // bounded: hostile action names cannot grow memory
    cache.set(action, list);
    return list;
  }

  function delegationViolation(req: EngineRequest, includeShadow: boolean): Outcome | undefined {
    const chain = req.delegation;
    if (!chain || chain.length === 0) return undefined;
    for (const policy of delegating) {
      if (!includeShadow && policy.mode === 'shadow') continue;
      const violation = checkDelegation(policy, req, chain);
      if (violation) return violation;
    }
    return undefined;
  }

  function evaluate(req: EngineRequest, now: number, includeShadow: boolean): Outcome {
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
  ): Outcome {
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
    const decision = decide(req, now);
    const input: ConditionInput = { agent: req.agent, context: req.context, now };
    const rules: RuleExplanation[] = allRules.map((rule) => {
      const matchedPattern = rule.patterns.find((p) => compileActionPattern(p)(req.action));
      const policyApplies = rule.policy.applies(req.agent);
      const conditions = rule.conditions.map((c) => ({
        key: c.key,
        requirement: c.requirement,
        holds: c.test(input),
        observed: c.observed(input),
      }));
      const entry: RuleExplanation = {
        policy: rule.policy.ref.name,
        policyMode: rule.policy.mode,
        policyApplies,
        rule: rule.ref.id,
        index: rule.ref.index,
        effect: rule.effect,
        actionMatched: matchedPattern !== undefined,
        conditions,
        matched: policyApplies && matchedPattern !== undefined && conditions.every((c) => c.holds),
      };
      if (matchedPattern !== undefined) entry.matchedPattern = matchedPattern;
      return entry;
    });
    const delegation: Explanation['delegation'] = [];
    for (const policy of delegating) {
      const violation = checkDelegation(policy, req, req.delegation ?? []);
      delegation.push({
        policy: policy.ref.name,
        holds: violation === undefined,
        detail: violation ? violation.reason : describeLimits(policy),
      });
    }
    const request: Explanation['request'] = { action: req.action, agent: req.agent };
    if (req.context) request.context = req.context;
    if (req.delegation) request.delegation = [...req.delegation];
    return {
      decision,
      request,
      evaluatedAt: isoTime(now),
      policies: compiled.map((p) => ({
        name: p.ref.name,
        version: p.ref.version,
        mode: p.mode,
        applies: p.applies(req.agent),
        appliesTo: p.appliesText,
      })),
      delegation,
      rules,
    };
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

  return { policies, decide, explain, reachable };
}

/** The limits one policy puts on a delegation chain (root first; the acting agent not in it). */
function checkDelegation(
  policy: CompiledPolicy,
  req: EngineRequest,
  chain: readonly AgentIdentity[],
): Outcome | undefined {
  if (chain.length === 0) return undefined;
  const delegator = chain.find((a) => policy.applies(a));
  if (
    policy.maxDepth !== undefined &&
    chain.length > policy.maxDepth &&
    (delegator || policy.applies(req.agent))
  ) {
    return {
      effect: 'deny',
      reason: `Delegation chain of ${chain.length} agent${chain.length === 1 ? '' : 's'} (${chainText(chain)}) exceeds maxDepth ${policy.maxDepth} of policy ${policy.ref.name}`,
      policy: policy.ref,
    };
  }
  if (policy.ceiling && delegator && !policy.ceiling.matchers.some((m) => m(req.action))) {
    return {
      effect: 'deny',
      reason: `"${req.action}" is outside the permission ceiling [${policy.ceiling.patterns.join(', ')}] that policy ${policy.ref.name} sets for agents delegated by "${delegator.name}"`,
      policy: policy.ref,
    };
  }
  return undefined;
}

function compilePolicy(loaded: LoadedPolicy, order: number): CompiledPolicy {
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

function ruleReason(effect: Effect, reason: string | undefined, id: string, policy: string): string {
  const ref = `rule ${id}`;
  if (reason) return `${reason} (${ref})`;
  switch (effect) {
    case 'deny':
      return `Denied by ${ref} of policy ${policy}`;
    case 'require_approval':
      return `Approval required by ${ref} of policy ${policy}`;
    case 'allow':
      return `Allowed by ${ref} of policy ${policy}`;
  }
}

function chainText(chain: readonly AgentIdentity[]): string {
  return chain.map((a) => a.name).join(' -> ');
}

function policyList(applicable: readonly CompiledPolicy[]): string {
  const names = applicable.map((p) => p.ref.name);
  return names.length === 1 ? `policy ${names[0]}` : `policies ${names.join(', ')}`;
}

/**
 * The policies of a pool filed under the one key each requires of an agent: a policy with
 * `appliesTo.tags` under each tag (an agent must have one of them), else under each of its
 * `agents`, else under each of its `tiers`; a policy without `appliesTo` applies to all. The
 * policies filed under an agent's keys are the only ones that can apply to it; each is still
 * tested in full.
 */
interface ApplicabilityIndex {
  readonly universal: readonly CompiledPolicy[];
  readonly byTag: ReadonlyMap<string, readonly CompiledPolicy[]>;
  readonly byAgent: ReadonlyMap<string, readonly CompiledPolicy[]>;
  readonly byTier: ReadonlyMap<string, readonly CompiledPolicy[]>;
  /** The policies of the pool with `defaultEffect: allow`. */
  readonly defaultAllow: ReadonlySet<CompiledPolicy>;
}

function indexApplicability(pool: readonly CompiledPolicy[]): ApplicabilityIndex {
  const universal: CompiledPolicy[] = [];
  const byTag = new Map<string, CompiledPolicy[]>();
  const byAgent = new Map<string, CompiledPolicy[]>();
  const byTier = new Map<string, CompiledPolicy[]>();
  const file = (map: Map<string, CompiledPolicy[]>, keys: readonly string[], policy: CompiledPolicy) => {
    for (const key of new Set(keys)) {
      const list = map.get(key);
      if (list) list.push(policy);
      else map.set(key, [policy]);
    }
  };
  for (const policy of pool) {
    const to = policy.loaded.document.appliesTo;
    if (to?.tags) file(byTag, to.tags, policy);
    else if (to?.agents) file(byAgent, to.agents, policy);
    else if (to?.tiers) file(byTier, to.tiers, policy);
    else universal.push(policy);
  }
  return {
    universal,
    byTag,
    byAgent,
    byTier,
    defaultAllow: new Set(pool.filter((p) => p.defaultEffect === 'allow')),
  };
}

/** The first policy of the pool (in load order) that applies to `agent`, if any. */
function firstApplicable(index: ApplicabilityIndex, agent: AgentIdentity): CompiledPolicy | undefined {
  let first = earliest(index.universal, agent, undefined);
  if (index.byTag.size > 0) {
    const tags = agent.tags;
    for (let i = 0; i < tags.length; i++) {
      const list = index.byTag.get(tags[i]!);
      if (list) first = earliest(list, agent, first);
    }
  }
  if (index.byAgent.size > 0) {
    const byId = index.byAgent.get(agent.id);
    if (byId) first = earliest(byId, agent, first);
    const byName = agent.name === agent.id ? undefined : index.byAgent.get(agent.name);
    if (byName) first = earliest(byName, agent, first);
  }
  if (index.byTier.size > 0) {
    const byTier = index.byTier.get(agent.tier);
    if (byTier) first = earliest(byTier, agent, first);
  }
  return first;
}

function earliest(
  list: readonly CompiledPolicy[],
  agent: AgentIdentity,
  first: CompiledPolicy | undefined,
): CompiledPolicy | undefined {
  for (let i = 0; i < list.length; i++) {
    const policy = list[i]!;
    if (first !== undefined && policy.order >= first.order) break; // lists are in load order
    if (policy.applies(agent)) return policy;
  }
  return first;
}

/** Every policy of the pool that applies to `agent`, in load order. */
function applicablePolicies(index: ApplicabilityIndex, agent: AgentIdentity): CompiledPolicy[] {
  const found = new Set<CompiledPolicy>();
  const add = (list: readonly CompiledPolicy[] | undefined) => {
    if (list) for (const policy of list) if (policy.applies(agent)) found.add(policy);
  };
  add(index.universal);
  for (const tag of agent.tags) add(index.byTag.get(tag));
  add(index.byAgent.get(agent.id));
  add(index.byAgent.get(agent.name));
  add(index.byTier.get(agent.tier));
  return [...found].sort((a, b) => a.order - b.order);
}

/** Whether every policy of the pool that applies to `agent` says `defaultEffect: allow`. */
function allDefaultAllow(index: ApplicabilityIndex, agent: AgentIdentity): boolean {
  for (const policy of applicablePolicies(index, agent)) if (!index.defaultAllow.has(policy)) return false;
  return true;
}

function describeLimits(policy: CompiledPolicy): string {
  const parts: string[] = [];
  if (policy.maxDepth !== undefined) parts.push(`maxDepth ${policy.maxDepth}`);
  if (policy.ceiling) parts.push(`permissionCeiling [${policy.ceiling.patterns.join(', ')}]`);
  return `within ${parts.join(' and ')}`;
}
