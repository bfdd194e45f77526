import { isoTime } from '../ids/uuidv7';
import type { AgentIdentity } from '../protocol/agent-identity';
import type { CheckContext } from '../protocol/check-request';
import type { Decision, Effect, PolicyMode } from '../protocol/decision';
import { compileActionPattern } from './action-pattern';
import type { CompiledPolicy, CompiledRule } from './compiled-policy';
import type { ConditionInput } from './conditions';
import { checkDelegation, describeLimits } from './delegation-limits';

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

/** What an explanation is built from: the engine's compiled policies and rules. */
export interface ExplainedPolicySet {
  compiled: readonly CompiledPolicy[];
  allRules: readonly CompiledRule[];
  /** The policies with delegation limits. */
  delegating: readonly CompiledPolicy[];
}

/** Explains `decision` (made for `req` at `now`): every policy, delegation limit and rule. */
export function explainDecision(
  set: ExplainedPolicySet,
  req: {
    action: string;
    agent: AgentIdentity;
    context?: CheckContext | undefined;
    delegation?: readonly AgentIdentity[] | undefined;
  },
  now: number,
  decision: Decision,
): Explanation {
  const input: ConditionInput = { agent: req.agent, context: req.context, now };
  const rules: RuleExplanation[] = set.allRules.map((rule) => {
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
  for (const policy of set.delegating) {
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
    policies: set.compiled.map((p) => ({
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
