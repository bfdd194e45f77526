import type { Effect } from '../protocol/decision';
import { type ActionMatcher, compileActionPattern, isWildcard } from './action-pattern';
import { approvalPolicy, type CompiledPolicy, type CompiledRule } from './compiled-policy';
import { compileConditions } from './conditions';

const EFFECT_RANK: Record<Effect, number> = { deny: 0, require_approval: 1, allow: 2 };

/** Every rule of a policy set, and the rules an action matches in order of precedence. */
export interface RuleIndex {
  readonly allRules: readonly CompiledRule[];
  /** The rules whose action patterns match `action`, deny first, then approval, then allow. */
  candidates(action: string): readonly CompiledRule[];
}

/**
 * Compiles the rules of `compiled`, indexed by exact action; wildcard rules are matched once per
 * distinct action and cached (at most `cacheSize` actions).
 */
export function createRuleIndex(compiled: readonly CompiledPolicy[], cacheSize: number): RuleIndex {
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
        approval: rule.effect === 'require_approval' ? approvalPolicy(rule.approval) : undefined,
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

  return { allRules, candidates };
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
