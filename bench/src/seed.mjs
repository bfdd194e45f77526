// The seed policy (examples/policies/openai-support.yaml) in MeshGuard and in Cedar, and the
// request mix both are given.

import { readFileSync } from 'node:fs';
import { parsePolicies } from '@meshguard/core';

export const SEED_FILE = new URL('../../examples/policies/openai-support.yaml', import.meta.url);

export function loadSeed() {
  return parsePolicies(readFileSync(SEED_FILE, 'utf8'), { file: 'examples/policies/openai-support.yaml' });
}

/**
 * The seed policy in Cedar, rule for rule. Translation notes:
 * - `appliesTo: { tags: [openai, support] }`: MeshGuard gets the agent's tags in its identity;
 *   Cedar is called with `entities: []`, so the tags travel in `context.agentTags` and every
 *   policy checks `containsAny`.
 * - Amounts are integer cents (Cedar has only 64-bit integers): `amount_max: 100` is
 *   `amountCents <= 10000`, `amount_min: 100.01` is `amountCents >= 10001`. A missing amount
 *   fails the condition in both (`context has amountCents`).
 * - `time_range: "09:00-18:00"` (UTC) is `context.minuteOfDay` in [540, 1080). Cedar has no
 *   clock: the caller computes the minute; MeshGuard reads its clock on every decision.
 * - Cedar has no wildcard over action names; the seed has none either, so each action is one
 *   `Action::"verb:resource"` entity. Anything no `permit` names is denied by default, as with
 *   `defaultEffect: deny`.
 */
export const SEED_CEDAR = `
// Allow customer data reads
permit (principal, action in [Action::"read:customer_data", Action::"read:order_data"], resource)
when { context.agentTags.containsAny(["openai", "support"]) };

// Allow web search
permit (principal, action == Action::"read:web_search", resource)
when { context.agentTags.containsAny(["openai", "support"]) };

// Allow file search on approved vector stores
permit (principal, action == Action::"read:file_search", resource)
when { context.agentTags.containsAny(["openai", "support"]) };

// Allow refunds under $100
permit (principal, action == Action::"write:refund", resource)
when {
  context.agentTags.containsAny(["openai", "support"]) &&
  context has amountCents && context.amountCents <= 10000
};

// Block large refunds
@reason("Refunds over $100 require manager approval")
forbid (principal, action == Action::"write:refund", resource)
when {
  context.agentTags.containsAny(["openai", "support"]) &&
  context has amountCents && context.amountCents >= 10001
};

// Allow email sending during business hours (UTC)
permit (principal, action == Action::"write:email", resource)
when {
  context.agentTags.containsAny(["openai", "support"]) &&
  context.minuteOfDay >= 540 && context.minuteOfDay < 1080
};

// Block computer use by default
@reason("Computer use requires explicit admin approval")
forbid (principal, action == Action::"execute:computer_use", resource)
when { context.agentTags.containsAny(["openai", "support"]) };

// Allow handoff to billing and to escalation
permit (
  principal,
  action in [Action::"handoff:Billing Specialist", Action::"handoff:Escalation Manager"],
  resource
)
when { context.agentTags.containsAny(["openai", "support"]) };
`;

const SUPPORT = { id: 'agent-support-1', name: 'Support Bot', tags: ['openai', 'support'], tier: 'verified' };
const TRIAGE = { id: 'agent-triage-2', name: 'Triage Bot', tags: ['support'], tier: 'basic' };
const INTERNAL = { id: 'agent-internal-3', name: 'Internal Bot', tags: ['internal'], tier: 'basic' };

/**
 * The request mix: [agent, action, amount in dollars or undefined, expected allowed]. Every
 * rule of the seed is hit, both sides of each condition, and the default deny.
 */
const MIX = [
  [SUPPORT, 'read:customer_data', undefined, true],
  [SUPPORT, 'read:order_data', undefined, true],
  [TRIAGE, 'read:web_search', undefined, true],
  [SUPPORT, 'read:file_search', undefined, true],
  [SUPPORT, 'write:refund', 42.5, true],
  [TRIAGE, 'write:refund', 100, true],
  [SUPPORT, 'write:refund', 100.01, false],
  [SUPPORT, 'write:refund', 150, false],
  [SUPPORT, 'write:refund', undefined, false],
  [SUPPORT, 'write:email', undefined, true],
  [SUPPORT, 'execute:computer_use', undefined, false],
  [SUPPORT, 'handoff:Billing Specialist', undefined, true],
  [TRIAGE, 'handoff:Escalation Manager', undefined, true],
  [SUPPORT, 'delete:customer_data', undefined, false],
  [SUPPORT, 'handoff:Legal', undefined, false],
  [INTERNAL, 'read:customer_data', undefined, false],
];

/**
 * The same requests for both engines, built once (neither side pays for building requests in
 * the timed loop). `minuteOfDay` is the minute of `clock()` when the requests are built.
 */
export function buildSeedRequests(minuteOfDay) {
  return MIX.map(([agent, action, amount, expected]) => {
    const context = { sessionId: 'sess-42' };
    if (amount !== undefined) context.amount = amount;
    const cedarContext = { agentTags: agent.tags, minuteOfDay };
    if (amount !== undefined) cedarContext.amountCents = Math.round(amount * 100);
    const colon = action.indexOf(':');
    return {
      expected,
      meshguard: { action, agent, context },
      cedar: {
        principal: { type: 'Agent', id: agent.id },
        action: { type: 'Action', id: action },
        resource: { type: 'Resource', id: action.slice(colon + 1) },
        context: cedarContext,
        preparsedPolicySetId: 'openai-support',
        entities: [],
      },
    };
  });
}
