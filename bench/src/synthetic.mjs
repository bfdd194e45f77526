// Synthetic policy sets of 10, 1,000 and 10,000 rules, and the request mix run against them.
//
// Rules come in policies of (at most) 100. Each policy governs its own namespace of resources
// (`p7.obj12`) and applies to agents tagged `team-<n>`, as a deployment with one policy per team
// or product would. Every block of ten rules has the same shape, modelled on the seed policy:
//
//   0-5  allow, one exact action each                      read:p7.obj0 ...
//   6    allow when amount_max 100                          write:p7.obj6
//   7    deny  when amount_min 100.01, same action as 6     write:p7.obj6
//   8    require_approval when context.target.env in [prod, staging]   execute:p7.obj8
//   9    a wildcard rule (10% of all rules), one of three shapes in turn:
//          `read:*`-style prefix   allow  read:p7.grp9.*
//          `*:email`-style suffix  deny   *:p7.email19
//          infix                   allow  write:p7.*.draft29

import { definePolicy } from '@meshguard/core';

const VERBS = ['read', 'write', 'delete', 'execute'];
export const RULES_PER_POLICY = 100;

/** Builds `totalRules` rules as validated policies (through the same schema as YAML files). */
export function buildPolicies(totalRules) {
  const perPolicy = Math.min(RULES_PER_POLICY, totalRules);
  const policyCount = Math.ceil(totalRules / perPolicy);
  const policies = [];
  let wildcards = 0;
  for (let p = 0; p < policyCount; p++) {
    const rules = [];
    for (let j = 0; j < perPolicy && p * perPolicy + j < totalRules; j++) {
      const rule = buildRule(p, j);
      if (rule.actions.some((a) => a.includes('*'))) wildcards++;
      rules.push(rule);
    }
    policies.push(
      definePolicy({
        name: `bench-team-${p}`,
        version: '1.0',
        appliesTo: { tags: [`team-${p}`] },
        rules,
        defaultEffect: 'deny',
      }),
    );
  }
  return { policies, policyCount, ruleCount: totalRules, wildcardRules: wildcards };
}

function buildRule(p, j) {
  const ns = `p${p}`;
  const kind = j % 10;
  const id = `r${j}`;
  switch (kind) {
    case 6:
      return { id, effect: 'allow', actions: [`write:${ns}.obj${j}`], conditions: { amount_max: 100 } };
    case 7:
      return {
        id,
        effect: 'deny',
        actions: [`write:${ns}.obj${j - 1}`],
        conditions: { amount_min: 100.01 },
        reason: 'Amounts over 100 need a manager',
      };
    case 8:
      return {
        id,
        effect: 'require_approval',
        actions: [`execute:${ns}.obj${j}`],
        conditions: { context: { 'target.env': { in: ['prod', 'staging'] } } },
        reason: 'Running against a shared environment needs a second pair of eyes',
      };
    case 9: {
      const shape = Math.floor(j / 10) % 3;
      if (shape === 0) return { id, effect: 'allow', actions: [`read:${ns}.grp${j}.*`] };
      if (shape === 1) {
        return { id, effect: 'deny', actions: [`*:${ns}.email${j}`], reason: 'Mailboxes are off limits' };
      }
      return { id, effect: 'allow', actions: [`write:${ns}.*.draft${j}`] };
    }
    default:
      return { id, effect: 'allow', actions: [`${VERBS[j % 4]}:${ns}.obj${j}`] };
  }
}

/**
 * The request mix, the same at every size: 8 agents, each tagged for one team's policy (spread
 * across the policies), plus one agent no policy applies to. Per agent, 17 requests:
 *
 *   - 6 exact allows;
 *   - amount condition: 42.5 (allowed), 150 (denied by the amount_min rule), missing (default deny);
 *   - context condition: env prod (require_approval), env dev (default deny);
 *   - 3 wildcard hits, one per shape where the policy has it (a 10-rule policy has one wildcard
 *     rule, so there all three hit that one);
 *   - 3 default denies: an unknown action in the team's namespace, an action no rule names
 *     (`mcp:github:create_issue`), an action of another team's policy, which does not apply.
 *
 * So the outcome mix, and the work per outcome, is the same at 10, 1,000 and 10,000 rules.
 */
export function buildRequests(policyCount, perPolicy) {
  const blocks = Math.max(1, Math.floor(perPolicy / 10)); // ten-rule blocks per policy
  const requests = [];
  for (let a = 0; a < 8; a++) {
    const team = (a * 13) % policyCount;
    const ns = `p${team}`;
    const agent = {
      id: `agent-${a}`,
      name: `Agent ${a}`,
      tags: [`team-${team}`, 'openai'],
      tier: 'verified',
    };
    const add = (action, context) => requests.push({ action, agent, context });
    const block = (n) => (n % blocks) * 10;
    for (let k = 0; k < 6; k++) {
      const j = block(k + team) + k;
      add(`${VERBS[j % 4]}:${ns}.obj${j}`, { requestId: `q${k}` });
    }
    const amountRule = block(team + 1) + 6;
    add(`write:${ns}.obj${amountRule}`, { amount: 42.5 });
    add(`write:${ns}.obj${amountRule}`, { amount: 150 });
    add(`write:${ns}.obj${amountRule}`, {});
    const envRule = block(team + 2) + 8;
    add(`execute:${ns}.obj${envRule}`, { target: { env: 'prod' } });
    add(`execute:${ns}.obj${envRule}`, { target: { env: 'dev' } });
    // The wildcard rule of block b has shape b % 3.
    const shapeBlock = (shape) => (blocks > shape ? shape * 10 + 9 : undefined);
    const prefix = shapeBlock(0);
    const suffix = shapeBlock(1);
    const infix = shapeBlock(2);
    add(`read:${ns}.grp${prefix}.quarterly-report`, {});
    add(suffix === undefined ? `read:${ns}.grp${prefix}.audit-log` : `delete:${ns}.email${suffix}`, {});
    add(infix === undefined ? `read:${ns}.grp${prefix}.roadmap` : `write:${ns}.invoices.draft${infix}`, {});
    add(`read:${ns}.unknown-${a}`, {});
    add('mcp:github:create_issue', { repo: 'meshguard' });
    add(`read:p${(team + 1) % Math.max(2, policyCount)}.obj0`, {});
  }
  const stranger = { id: 'agent-x', name: 'Stranger', tags: ['internal'], tier: 'basic' };
  requests.push({ action: 'read:p0.obj0', agent: stranger, context: {} });
  return requests;
}

/**
 * Requests whose actions are all different (`count` of them, more than the engine's cache of
 * 10,000 actions holds), so every decision looks its action up afresh: the exact index, then
 * every wildcard rule. Half hit a `read:*`-style wildcard rule, half match nothing.
 */
export function buildUncachedRequests(policyCount, count) {
  const requests = [];
  const agents = [];
  for (let a = 0; a < 8; a++) {
    const team = (a * 13) % policyCount;
    agents.push({
      id: `agent-${a}`,
      name: `Agent ${a}`,
      tags: [`team-${team}`, 'openai'],
      tier: 'verified',
      team,
    });
  }
  for (let n = 0; n < count; n++) {
    const { team, ...agent } = agents[n % agents.length];
    const action = n % 2 === 0 ? `read:p${team}.grp9.item-${n}` : `read:p${team}.item-${n}`;
    requests.push({ action, agent, context: {} });
  }
  return requests;
}
