import { describe, expect, it } from 'vitest';
import { testAgent } from '../testing';
import { createPolicyEngine, type EngineRequest } from './policy-engine';
import { definePolicy, parsePolicies } from './policy-loader';
import type { PolicyDocumentInput } from './policy-schema';

const MONDAY_10 = Date.parse('2026-01-05T10:00:00Z');
const support = testAgent({ name: 'support-bot', tags: ['openai', 'support'], tier: 'verified' });

function engineOf(...docs: PolicyDocumentInput[]) {
  return createPolicyEngine(
    docs.map((d) => definePolicy(d)),
    { clock: () => MONDAY_10 },
  );
}

function decide(
  engine: ReturnType<typeof engineOf>,
  req: Partial<EngineRequest> & { action: string },
  at?: string,
) {
  return engine.decide({ agent: support, ...req }, at ? Date.parse(at) : undefined);
}

describe('policy engine', () => {
  it('matches exact and wildcard actions, deny winning over allow', () => {
    const engine = engineOf({
      name: 'p',
      version: '1',
      rules: [
        { effect: 'allow', actions: ['read:*'] },
        { id: 'no-secrets', effect: 'deny', actions: ['read:secrets'], reason: 'Secrets are off limits' },
        { effect: 'allow', actions: ['*:email'] },
      ],
    });
    expect(decide(engine, { action: 'read:orders' })).toMatchObject({
      allowed: true,
      effect: 'allow',
      rule: { id: 'p#0', index: 0 },
    });
    expect(decide(engine, { action: 'read:secrets' })).toMatchObject({
      allowed: false,
      effect: 'deny',
      reason: 'Secrets are off limits (rule no-secrets)',
      policy: { name: 'p', version: '1' },
      rule: { id: 'no-secrets', index: 1 },
    });
    expect(decide(engine, { action: 'write:email' }).effect).toBe('allow');
    expect(decide(engine, { action: 'write:sms' })).toMatchObject({
      effect: 'deny',
      reason: 'Nothing allows "write:sms" for agent "support-bot": no rule matches it; denied by default',
    });
  });

  it('require_approval beats allow, deny beats require_approval', () => {
    const engine = engineOf({
      name: 'p',
      version: '1',
      rules: [
        { effect: 'allow', actions: ['write:*'] },
        { effect: 'require_approval', actions: ['write:refund'], reason: 'A human signs off refunds' },
        { effect: 'deny', actions: ['write:refund'], conditions: { amount_min: 1000 } },
      ],
    });
    const approval = decide(engine, { action: 'write:refund', context: { amount: 50 } });
    expect(approval).toMatchObject({
      allowed: false,
      effect: 'require_approval',
      reason: 'A human signs off refunds (rule p#1)',
    });
    expect(decide(engine, { action: 'write:refund', context: { amount: 5000 } })).toMatchObject({
      effect: 'deny',
      reason: 'Denied by rule p#2 of policy p',
    });
  });

  it('says which condition failed when nothing allowed the action', () => {
    const engine = engineOf({
      name: 'p',
      version: '1',
      rules: [{ effect: 'allow', actions: ['write:refund'], conditions: { amount_max: 100 } }],
    });
    expect(decide(engine, { action: 'write:refund', context: { amount: 150 } }).reason).toBe(
      'Nothing allows "write:refund" for agent "support-bot": rule p#0 allows it only when amount <= 100 (amount is 150); denied by default',
    );
    expect(decide(engine, { action: 'write:refund' }).reason).toContain('(amount is missing)');
    expect(decide(engine, { action: 'write:refund', context: { amount: '50' } }).reason).toContain(
      '(amount is "50", not a number)',
    );
    expect(decide(engine, { action: 'write:refund', context: { amount: 100 } }).allowed).toBe(true);
  });

  it('evaluates time ranges in UTC or a named zone, wrapping midnight, with days', () => {
    const engine = engineOf(
      {
        name: 'utc',
        version: '1',
        appliesTo: { tags: ['utc'] },
        rules: [{ effect: 'allow', actions: ['write:email'], conditions: { time_range: '09:00-18:00' } }],
      },
      {
        name: 'night',
        version: '1',
        appliesTo: { tags: ['night'] },
        rules: [
          {
            effect: 'allow',
            actions: ['run:batch'],
            conditions: { time_range: '22:00-06:00', timezone: 'America/New_York' },
          },
        ],
      },
      {
        name: 'weekdays',
        version: '1',
        appliesTo: { tags: ['paris'] },
        rules: [
          {
            effect: 'allow',
            actions: ['write:email'],
            conditions: {
              time_range: '09:00-18:00',
              timezone: 'Europe/Paris',
              days: ['mon', 'tue', 'wed', 'thu', 'fri'],
            },
          },
        ],
      },
    );
    const utc = testAgent({ name: 'u', tags: ['utc'] });
    const night = testAgent({ name: 'n', tags: ['night'] });
    const paris = testAgent({ name: 'p', tags: ['paris'] });
    const at = (agent: typeof utc, action: string, iso: string) =>
      engine.decide({ agent, action }, Date.parse(iso)).effect;
    expect(at(utc, 'write:email', '2026-01-05T09:00:00Z')).toBe('allow');
    expect(at(utc, 'write:email', '2026-01-05T17:59:00Z')).toBe('allow');
    expect(at(utc, 'write:email', '2026-01-05T18:00:00Z')).toBe('deny');
    expect(at(utc, 'write:email', '2026-01-05T08:59:00Z')).toBe('deny');
    // 03:00 UTC is 22:00 in New York (EST): inside the wrapped range; 12:00 UTC is 07:00 there.
    expect(at(night, 'run:batch', '2026-01-05T03:00:00Z')).toBe('allow');
    expect(at(night, 'run:batch', '2026-01-05T10:30:00Z')).toBe('allow'); // 05:30 EST
    expect(at(night, 'run:batch', '2026-01-05T12:00:00Z')).toBe('deny');
    // 08:30 UTC on a Monday is 09:30 in Paris (CET); on Saturday it is the weekend.
    expect(at(paris, 'write:email', '2026-01-05T08:30:00Z')).toBe('allow');
    expect(at(paris, 'write:email', '2026-01-05T17:30:00Z')).toBe('deny'); // 18:30 Paris
    expect(at(paris, 'write:email', '2026-01-10T10:00:00Z')).toBe('deny');
    expect(
      engine.decide({ agent: paris, action: 'write:email' }, Date.parse('2026-01-10T10:00:00Z')).reason,
    ).toContain('only when day is mon, tue, wed, thu, fri (Europe/Paris) (day is sat (Europe/Paris))');
  });

  it('checks trust tiers and general context conditions', () => {
    const engine = engineOf({
      name: 'p',
      version: '1',
      rules: [
        { effect: 'allow', actions: ['admin:*'], conditions: { trust_tier_min: 'trusted' } },
        {
          effect: 'allow',
          actions: ['write:ticket'],
          conditions: {
            context: {
              'customer.plan': { in: ['gold', 'platinum'] },
              priority: { gte: 2, lt: 5 },
              subject: { matches: '^\\[urgent\\]' },
              internal: { exists: false },
              region: { ne: 'embargoed' },
            },
          },
        },
      ],
    });
    expect(decide(engine, { action: 'admin:reset' }).effect).toBe('deny');
    expect(engine.decide({ agent: testAgent({ tier: 'privileged' }), action: 'admin:reset' }).effect).toBe(
      'allow',
    );
    const good = { customer: { plan: 'gold' }, priority: 3, subject: '[urgent] help', region: 'eu' };
    expect(decide(engine, { action: 'write:ticket', context: good }).effect).toBe('allow');
    for (const bad of [
      { ...good, customer: { plan: 'free' } },
      { ...good, priority: 5 },
      { ...good, priority: '3' },
      { ...good, subject: 'help' },
      { ...good, internal: true },
      { ...good, region: 'embargoed' },
      { priority: 3, subject: '[urgent] x', region: 'eu' },
    ]) {
      expect(decide(engine, { action: 'write:ticket', context: bad }).effect).toBe('deny');
    }
    const { region: _r, ...noRegion } = good;
    expect(decide(engine, { action: 'write:ticket', context: noRegion }).effect).toBe('deny'); // ne on a missing value does not hold
  });

  it('applies policies by tags, agents and tiers; no applicable policy means deny', () => {
    const engine = engineOf(
      {
        name: 'p',
        version: '1',
        appliesTo: { tags: ['support'], tiers: ['verified', 'trusted'] },
        rules: [{ effect: 'allow', actions: ['*'] }],
      },
      {
        name: 'named',
        version: '1',
        appliesTo: { agents: ['billing-1', 'Escalation Manager'] },
        rules: [{ effect: 'allow', actions: ['write:refund'] }],
      },
    );
    expect(decide(engine, { action: 'x:y' }).effect).toBe('allow');
    const basic = testAgent({ name: 'b', tags: ['support'], tier: 'basic' });
    expect(engine.decide({ agent: basic, action: 'x:y' })).toMatchObject({
      effect: 'deny',
      reason: 'No policy applies to agent "b" (tags: support; tier: basic): denied by default',
    });
    expect(
      engine.decide({ agent: testAgent({ id: 'billing-1', name: 'Billing' }), action: 'write:refund' })
        .effect,
    ).toBe('allow');
    expect(
      engine.decide({ agent: testAgent({ id: 'e', name: 'Escalation Manager' }), action: 'write:refund' })
        .effect,
    ).toBe('allow');
  });

  it('allows by default only when every applicable policy says defaultEffect: allow', () => {
    const open = {
      name: 'open',
      version: '1',
      defaultEffect: 'allow' as const,
      rules: [{ effect: 'deny' as const, actions: ['delete:*'] }],
    };
    const closed = { name: 'closed', version: '1', rules: [] };
    expect(decide(engineOf(open), { action: 'read:x' })).toMatchObject({
      effect: 'allow',
      reason: 'No rule matches "read:x": allowed by defaultEffect allow of policy open',
    });
    expect(decide(engineOf(open), { action: 'delete:x' }).effect).toBe('deny');
    expect(decide(engineOf(open, closed), { action: 'read:x' }).effect).toBe('deny');
  });

  it('records what shadow policies would decide without changing the enforced decision', () => {
    const base = {
      name: 'base',
      version: '1',
      rules: [{ effect: 'allow' as const, actions: ['write:refund'] }],
    };
    const candidate = {
      name: 'candidate',
      version: '2',
      mode: 'shadow' as const,
      rules: [
        {
          id: 'cap',
          effect: 'deny' as const,
          actions: ['write:refund'],
          conditions: { amount_min: 100 },
          reason: 'Cap',
        },
      ],
    };
    const engine = engineOf(base, candidate);
    const big = decide(engine, { action: 'write:refund', context: { amount: 500 } });
    expect(big).toMatchObject({
      allowed: true,
      effect: 'allow',
      mode: 'enforce',
      shadow: { effect: 'deny', reason: 'Cap (rule cap)', rule: { id: 'cap' } },
    });
    expect(decide(engine, { action: 'write:refund', context: { amount: 5 } }).shadow).toMatchObject({
      effect: 'allow',
    });
    expect(
      decide(engineOf(base), { action: 'write:refund', context: { amount: 500 } }).shadow,
    ).toBeUndefined();
    // Only a shadow policy applies: the enforced decision is still "no policy applies".
    expect(decide(engineOf(candidate), { action: 'write:refund', context: { amount: 5 } })).toMatchObject({
      effect: 'deny',
      reason: expect.stringContaining('No policy applies'),
      shadow: { effect: 'deny' },
    });
  });

  it('enforces delegation depth and permission ceilings along the chain', () => {
    const engine = engineOf(
      {
        name: 'tier1',
        version: '1',
        appliesTo: { agents: ['Tier 1 Support'] },
        delegation: { maxDepth: 2, permissionCeiling: ['read:*', 'write:refund'] },
        rules: [{ effect: 'allow', actions: ['handoff:*'] }],
      },
      {
        name: 'billing',
        version: '1',
        appliesTo: { agents: ['Billing Specialist'] },
        rules: [{ effect: 'allow', actions: ['read:*', 'write:refund', 'write:email'] }],
      },
    );
    const tier1 = testAgent({ name: 'Tier 1 Support' });
    const billing = testAgent({ name: 'Billing Specialist' });
    const other = testAgent({ name: 'Other' });
    expect(engine.decide({ agent: billing, action: 'write:email' }).effect).toBe('allow');
    expect(engine.decide({ agent: billing, action: 'write:refund', delegation: [tier1] }).effect).toBe(
      'allow',
    );
    expect(engine.decide({ agent: billing, action: 'write:email', delegation: [tier1] })).toMatchObject({
      effect: 'deny',
      reason:
        '"write:email" is outside the permission ceiling [read:*, write:refund] that policy tier1 sets for agents delegated by "Tier 1 Support"',
      policy: { name: 'tier1' },
    });
    expect(
      engine.decide({ agent: billing, action: 'read:orders', delegation: [tier1, other, other] }),
    ).toMatchObject({
      effect: 'deny',
      reason:
        'Delegation chain of 3 agents (Tier 1 Support -> Other -> Other) exceeds maxDepth 2 of policy tier1',
    });
    // A chain that no ceiling policy applies to is unconstrained.
    expect(engine.decide({ agent: billing, action: 'write:email', delegation: [other] }).effect).toBe(
      'allow',
    );
  });

  it('tells at offer time whether any context or time could allow an action', () => {
    const engine = engineOf(
      {
        name: 'support',
        version: '1',
        appliesTo: { tags: ['support'] },
        rules: [
          { effect: 'allow', actions: ['write:refund'], conditions: { amount_max: 100 } },
          { effect: 'deny', actions: ['write:refund'], conditions: { amount_min: 100.01 } },
          {
            effect: 'deny',
            actions: ['execute:computer_use'],
            reason: 'Computer use requires explicit admin approval',
          },
          { effect: 'allow', actions: ['execute:*'] },
          { effect: 'require_approval', actions: ['write:wire'] },
          { effect: 'allow', actions: ['admin:*'], conditions: { trust_tier_min: 'privileged' } },
          { effect: 'allow', actions: ['write:email'], conditions: { time_range: '09:00-18:00' } },
        ],
      },
      {
        name: 'tier1',
        version: '1',
        appliesTo: { agents: ['Tier 1 Support'] },
        delegation: { permissionCeiling: ['read:*'] },
        rules: [],
      },
    );
    const at = (action: string, extra: Partial<EngineRequest> = {}) =>
      engine.reachable({ agent: support, action, ...extra });
    expect(at('write:refund').reachable).toBe(true); // some amounts are allowed
    expect(at('write:email').reachable).toBe(true); // at some hours
    expect(at('write:wire')).toMatchObject({ reachable: true, approvalPossible: true });
    expect(at('write:refund').approvalPossible).toBe(false);
    expect(at('execute:shell').reachable).toBe(true);
    expect(at('execute:computer_use')).toEqual({
      reachable: false,
      approvalPossible: false,
      reason: 'Computer use requires explicit admin approval (rule support#2)',
    });
    expect(at('admin:users').reachable).toBe(false); // verified < privileged, whatever the context
    expect(at('read:web_search')).toMatchObject({
      reachable: false,
      reason: expect.stringMatching(/^Nothing allows/),
    });
    expect(at('write:refund', { delegation: [testAgent({ name: 'Tier 1 Support' })] }).reason).toMatch(
      /outside the permission ceiling/,
    );
  });

  it('uses the injected clock and mints sortable ids', () => {
    const engine = engineOf({ name: 'p', version: '1', rules: [{ effect: 'allow', actions: ['a:b'] }] });
    const one = decide(engine, { action: 'a:b' });
    const two = decide(engine, { action: 'a:b' });
    expect(one.evaluatedAt).toBe('2026-01-05T10:00:00.000Z');
    expect(one.decisionId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(two.decisionId > one.decisionId).toBe(true);
  });

  it('explains every rule and condition for the seed policy', () => {
    const policies = parsePolicies(
      'name: seed\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["write:refund"]\n    conditions: { amount_max: 100 }\n  - effect: deny\n    actions: ["write:refund"]\n    conditions: { amount_min: 100.01 }\n    reason: Too big\n',
    );
    const engine = createPolicyEngine(policies, { clock: () => MONDAY_10 });
    const explanation = engine.explain({ agent: support, action: 'write:refund', context: { amount: 150 } });
    expect(explanation.decision.effect).toBe('deny');
    expect(explanation.rules).toEqual([
      expect.objectContaining({
        rule: 'seed#0',
        actionMatched: true,
        matched: false,
        conditions: [
          { key: 'amount_max', requirement: 'amount <= 100', holds: false, observed: 'amount is 150' },
        ],
      }),
      expect.objectContaining({
        rule: 'seed#1',
        actionMatched: true,
        matched: true,
        conditions: [
          { key: 'amount_min', requirement: 'amount >= 100.01', holds: true, observed: 'amount is 150' },
        ],
      }),
    ]);
    expect(explanation.policies).toEqual([
      { name: 'seed', version: '1', mode: 'enforce', applies: true, appliesTo: 'every agent' },
    ]);
  });

  it('keeps the per-action cache bounded', () => {
    const engine = createPolicyEngine(
      [definePolicy({ name: 'p', version: '1', rules: [{ effect: 'allow', actions: ['read:*'] }] })],
      {
        actionCacheSize: 10,
      },
    );
    for (let i = 0; i < 100; i++)
      expect(engine.decide({ agent: support, action: `read:${i}` }).allowed).toBe(true);
  });
});

describe('shadow delegation limits', () => {
  it('trials a shadow ceiling that applies only to a delegator', () => {
    const engine = createPolicyEngine(
      [
        definePolicy({ name: 'e0', version: '1', rules: [], defaultEffect: 'allow' }),
        definePolicy({
          name: 's1',
          version: '1',
          mode: 'shadow',
          appliesTo: { agents: ['carol'] },
          rules: [],
          delegation: { maxDepth: 0 },
        }),
      ],
      { clock: () => MONDAY_10 },
    );
    const decision = engine.decide({
      action: 'read:refund',
      agent: testAgent({ name: 'alice' }),
      delegation: [testAgent({ name: 'carol' })],
    });
    expect(decision).toMatchObject({
      effect: 'allow',
      shadow: {
        effect: 'deny',
        reason: 'Delegation chain of 1 agent (carol) exceeds maxDepth 0 of policy s1',
      },
    });
  });
});

describe('reasons never carry context values', () => {
  it('names the failed context condition without the value it saw', () => {
    const engine = createPolicyEngine(
      [
        definePolicy({
          name: 'p',
          version: '1',
          rules: [
            {
              effect: 'allow',
              actions: ['write:email'],
              conditions: { context: { customer_email: { matches: '@corp\\.com$' } } },
            },
          ],
        }),
      ],
      { clock: () => MONDAY_10 },
    );
    const request = {
      action: 'write:email',
      agent: support,
      context: { customer_email: 'alice.secret@gmail.com' },
    };
    const decision = engine.decide(request);
    expect(decision.reason).toBe(
      'Nothing allows "write:email" for agent "support-bot": rule p#0 allows it only when customer_email matches /@corp\\.com$/; denied by default',
    );
    // The explanation, shown to a person and never stored, still says what was seen.
    expect(engine.explain(request).rules[0]!.conditions[0]!.observed).toBe(
      'customer_email is "alice.secret@gmail.com"',
    );
  });

  it('never quotes a non-scalar amount (its type instead) nor a string redaction would hide', () => {
    const engine = createPolicyEngine(
      [
        definePolicy({
          name: 'p',
          version: '1',
          rules: [{ effect: 'allow', actions: ['write:refund'], conditions: { amount_max: 100 } }],
        }),
      ],
      { clock: () => MONDAY_10 },
    );
    const reasonFor = (amount: unknown) =>
      engine.decide({ action: 'write:refund', agent: support, context: { amount } as never }).reason;
    const nested = reasonFor({ password: 'hunter2-secret' });
    expect(nested).not.toContain('hunter2');
    expect(nested).toBe(
      'Nothing allows "write:refund" for agent "support-bot": rule p#0 allows it only when amount <= 100 (amount is an object, not a number); denied by default',
    );
    expect(reasonFor(['4111 1111 1111 1111'])).toContain('(amount is an array of 1 item, not a number)');
    const card = reasonFor('4111 1111 1111 1111');
    expect(card).not.toContain('4111');
    expect(card).toContain('(amount is a string that redaction hides, not a number)');
    // Harmless scalars are still quoted: the reason says what was wrong.
    expect(reasonFor('150')).toContain('(amount is "150", not a number)');
    expect(reasonFor(150)).toContain('(amount is 150)');
  });
});
