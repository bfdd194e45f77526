import { Agent, handoff, Runner } from '@openai/agents';
import { assistantMessage, functionCall, modelResponder, ScriptedModel } from '@openai/agents/testing';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { governAgent } from './govern-agent';
import { SUPPORT_ACTIONS, seedGuard, supportTools, trail } from './support-fixtures';

const TEAM_POLICY = `
name: support-team
version: "1"
appliesTo:
  tags: [support]
rules:
  - id: no-low-priority-escalation
    effect: deny
    actions: ["handoff:Escalation Manager"]
    conditions:
      context:
        priority: { eq: low }
    reason: Escalations need a priority above low
delegation:
  permissionCeiling: ["read:*", "write:refund", "handoff:*"]
`;

const IDENTITIES = {
  'Tier 1 Support': { tags: ['openai', 'support'], tier: 'basic' as const },
  'Billing Specialist': { tags: ['openai', 'support'], tier: 'verified' as const },
  'Escalation Manager': { tags: ['openai', 'support'], tier: 'trusted' as const },
  'Refund Bot': { tags: ['openai'], tier: 'basic' as const },
};

function team(model: ScriptedModel) {
  const tools = supportTools();
  const escalation = new Agent({
    name: 'Escalation Manager',
    instructions: 'You handle escalated issues.',
    model,
    tools: [tools.lookupCustomer, tools.processRefund, tools.escalateToHuman],
  });
  const billing = new Agent({
    name: 'Billing Specialist',
    instructions: 'You handle billing and refunds up to $100.',
    model,
    tools: [tools.lookupCustomer, tools.processRefund, tools.sendEmail],
    handoffs: [
      handoff(escalation, {
        inputType: z.object({ priority: z.string(), reason: z.string() }),
        onHandoff: () => {},
      }),
    ],
  });
  const refundBot = new Agent({ name: 'Refund Bot', instructions: 'Refunds anything.', model });
  const tier1 = new Agent({
    name: 'Tier 1 Support',
    instructions: 'You handle initial inquiries; hand refunds to billing.',
    model,
    tools: [tools.lookupCustomer],
    handoffs: [billing, escalation, refundBot],
  });
  return { tools, tier1, billing, escalation };
}

const toolNames = (request: { tools: Array<{ name?: string }>; handoffs: Array<{ toolName: string }> }) => [
  ...request.tools.map((t) => t.name ?? '?'),
  ...request.handoffs.map((h) => h.toolName),
];

describe('governed handoffs in a tiered support team', () => {
  it('allows a handoff, hides one policy never allows, denies one at call time, and carries the delegation chain', async () => {
    const { guard, store } = seedGuard([TEAM_POLICY]);
    const offered: string[][] = [];
    let denialSeen = '';
    const model = new ScriptedModel([
      modelResponder((call) => {
        offered.push(toolNames(call.request as never));
        return [functionCall('transfer_to_Billing_Specialist', {}, { callId: 'call_h1' })];
      }),
      [
        functionCall(
          'process_refund',
          { order_id: 'ORD-1', amount: 79.99, reason: 'broken' },
          { callId: 'call_r1' },
        ),
      ],
      [
        functionCall(
          'send_email',
          { to: 'john@example.com', subject: 'Refund', body: 'Done' },
          { callId: 'call_e1' },
        ),
      ],
      modelResponder((call) => {
        offered.push(toolNames(call.request as never));
        return [
          functionCall(
            'transfer_to_Escalation_Manager',
            { priority: 'low', reason: 'wants more' },
            { callId: 'call_h2' },
          ),
        ];
      }),
      modelResponder((call) => {
        const items = call.request.input as Array<{ type: string; output?: { text?: string } | string }>;
        const last = items.filter((i) => i.type === 'function_call_result').at(-1)!;
        denialSeen = typeof last.output === 'string' ? last.output : (last.output?.text ?? '');
        return [assistantMessage('Your $79.99 refund is done; I cannot escalate a low-priority request.')];
      }),
    ]);
    const { tools, tier1 } = team(model);
    const governed = governAgent(tier1, {
      guard,
      identities: IDENTITIES,
      actions: SUPPORT_ACTIONS,
      traceId: 'trace_team',
    });
    const result = await new Runner({ tracingDisabled: true }).run(
      governed,
      'Refund my broken headphones, order ORD-1',
    );
    model.assertComplete();

    // Tier 1 was never offered the handoff to Refund Bot; Billing keeps its escalation handoff.
    expect(offered[0]).toEqual([
      'lookup_customer',
      'transfer_to_Billing_Specialist',
      'transfer_to_Escalation_Manager',
    ]);
    expect(offered[1]).toContain('transfer_to_Escalation_Manager');
    // Denied at call time: the model reads the reason, and Billing carries on.
    expect(denialSeen).toBe(
      'Blocked by policy: Escalations need a priority above low (rule no-low-priority-escalation)',
    );
    expect(result.lastAgent?.name).toBe('Billing Specialist');
    expect(String(result.finalOutput)).toContain('cannot escalate');
    expect(tools.ran).toEqual(['process_refund ORD-1 79.99']);

    const events = (await store.query({ traceId: 'trace_team', order: 'asc' })).events;
    expect(trail(events)).toEqual([
      'decision Tier 1 Support handoff:Refund Bot deny',
      'decision Tier 1 Support handoff:Billing Specialist allow',
      'outcome Tier 1 Support handoff:Billing Specialist allow/success',
      'decision Billing Specialist write:refund allow',
      'outcome Billing Specialist write:refund allow/success',
      'decision Billing Specialist write:email deny',
      'outcome Billing Specialist write:email deny/blocked',
      'decision Billing Specialist handoff:Escalation Manager deny',
      'outcome Billing Specialist handoff:Escalation Manager deny/blocked',
    ]);
    expect(events[0]).toMatchObject({ kind: 'handoff', context: { stage: 'offer', to_agent: 'Refund Bot' } });
    expect(events[0]!.reason).toMatch(/^Nothing allows "handoff:Refund Bot" for agent "Tier 1 Support"/);
    // After the allowed handoff, Billing acts under Tier 1: the ceiling stops the email.
    expect(events[3]!.delegation?.map((a) => a.name)).toEqual(['Tier 1 Support']);
    expect(events[5]!.reason).toBe(
      '"write:email" is outside the permission ceiling [read:*, write:refund, handoff:*] that policy support-team sets for agents delegated by "Tier 1 Support"',
    );
    expect(events[7]).toMatchObject({ context: { priority: 'low', from_agent: 'Billing Specialist' } });
  });

  it('decides offers by a check when the guard cannot say what is reachable, and the run goes on', async () => {
    const { guard, store } = seedGuard([TEAM_POLICY]);
    // A guard whose reachability question fails (a custom guard, a closed one): it must not end the run.
    const flaky = {
      ...guard,
      reachable: async () => {
        throw new Error('reachability is down');
      },
    };
    const offered: string[][] = [];
    const model = new ScriptedModel([
      modelResponder((call) => {
        offered.push(toolNames(call.request as never));
        return [functionCall('transfer_to_Billing_Specialist', {}, { callId: 'call_h1' })];
      }),
      [assistantMessage('Billing here.')],
    ]);
    const { tier1 } = team(model);
    const governed = governAgent(tier1, {
      guard: flaky,
      identities: IDENTITIES,
      actions: SUPPORT_ACTIONS,
      traceId: 'trace_flaky',
    });
    const result = await new Runner({ tracingDisabled: true }).run(governed, 'Refund order ORD-1');
    model.assertComplete();

    // Offered exactly what a check allows now: the handoff policy never allows stays hidden.
    expect(offered[0]).toEqual([
      'lookup_customer',
      'transfer_to_Billing_Specialist',
      'transfer_to_Escalation_Manager',
    ]);
    expect(result.lastAgent?.name).toBe('Billing Specialist');
    const events = (await store.query({ traceId: 'trace_flaky', order: 'asc' })).events;
    const offers = events.filter((e) => e.context?.stage === 'offer');
    expect(trail(offers).sort()).toEqual([
      'decision Billing Specialist handoff:Escalation Manager allow',
      'decision Tier 1 Support handoff:Billing Specialist allow',
      'decision Tier 1 Support handoff:Escalation Manager allow',
      'decision Tier 1 Support handoff:Refund Bot deny',
    ]);
    // The handoff itself is still checked when the model makes it.
    expect(trail(events.filter((e) => e.context?.stage !== 'offer'))).toContain(
      'decision Tier 1 Support handoff:Billing Specialist allow',
    );
  });

  it('refuses a graph with an agent that has no identity, naming it', () => {
    const { guard } = seedGuard();
    const { tier1 } = team(new ScriptedModel([]));
    expect(() => governAgent(tier1, { guard, identities: { 'Tier 1 Support': {} } })).toThrow(
      /no MeshGuard identity for agent "(Billing Specialist|Escalation Manager|Refund Bot)"/,
    );
  });

  it('governs a graph with cycles without touching the original agents', () => {
    const { guard } = seedGuard();
    const a = new Agent({ name: 'Tier 1 Support', instructions: 'a' });
    const b = new Agent({ name: 'Billing Specialist', instructions: 'b', handoffs: [a] });
    a.handoffs = [b];
    const governed = governAgent(a, { guard, identities: IDENTITIES });
    expect(governed).not.toBe(a);
    const toB = governed.handoffs[0] as { agent: Agent };
    const back = toB.agent.handoffs[0] as { agent: Agent };
    expect(back.agent).toBe(governed);
    expect(a.handoffs[0]).toBe(b);
  });
});
