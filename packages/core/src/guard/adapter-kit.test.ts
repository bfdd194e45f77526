import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/meshguard-error';
import { createTestGuard, testAgent } from '../testing';
import { createAdapterKit } from './adapter-kit';
import type { Guard } from './guard';

const POLICY = `
name: support
version: "1.0"
appliesTo: { tags: [support] }
rules:
  - effect: allow
    actions: ["read:*", "handoff:*"]
  - id: big-refunds
    effect: deny
    actions: ["write:refund"]
    conditions: { amount_min: 100.01 }
    reason: Refunds over $100 require manager approval
  - effect: allow
    actions: ["write:refund"]
    conditions: { amount_max: 100 }
`;

const SOURCE = { name: '@meshguard/test-adapter', version: '1.2.3' };
const support = testAgent({ name: 'Support', tags: ['support'] });
const billing = testAgent({ name: 'Billing', tags: ['support'] });

/** A kit whose debug output the test can read. */
function testKit() {
  const logged: string[] = [];
  const kit = createAdapterKit({
    framework: 'test-framework',
    source: SOURCE,
    debug: (formatter) => logged.push(formatter),
  });
  return { kit, logged };
}

describe('createAdapterKit', () => {
  it('checks with the framework, source and delegation stamped, and joins the outcome to the decision', async () => {
    const { guard } = createTestGuard({ policy: POLICY });
    const { kit } = testKit();
    const checked = await kit.check({
      guard,
      agent: billing,
      action: 'write:refund',
      kind: 'tool',
      traceId: 'trace_kit',
      delegation: [support],
      context: { amount: 42 },
      spanId: 'call:1',
    });
    expect(checked.decision.effect).toBe('allow');
    expect(checked.failed).toBeUndefined();
    await kit.recordOutcome(checked, { outcome: 'success', durationMs: 5 });

    const [decision, outcome] = await guard.query({ traceId: 'trace_kit', order: 'asc' });
    expect(decision).toMatchObject({
      type: 'decision',
      framework: 'test-framework',
      source: SOURCE,
      agent: billing,
      delegation: [support],
      kind: 'tool',
      spanId: 'call:1',
      context: { amount: 42 },
    });
    expect(outcome).toMatchObject({
      type: 'outcome',
      decisionId: checked.decision.decisionId,
      framework: 'test-framework',
      source: SOURCE,
      agent: billing,
      action: 'write:refund',
      delegation: [support],
      effect: 'allow',
      outcome: 'success',
      durationMs: 5,
    });
  });

  it('leaves delegation off a request and its outcomes when there is none', async () => {
    const { guard } = createTestGuard({ policy: POLICY });
    const { kit } = testKit();
    const checked = await kit.check({
      guard,
      agent: support,
      action: 'write:refund',
      kind: 'tool',
      traceId: 'trace_alone',
      context: { amount: 150 },
    });
    expect(checked.delegation).toEqual([]);
    expect(checked.decision.reason).toBe('Refunds over $100 require manager approval (rule big-refunds)');
    await kit.recordOutcome(checked, { outcome: 'blocked' });
    const events = await guard.query({ traceId: 'trace_alone', order: 'asc' });
    expect(events.map((e) => `${e.type} ${e.effect}${e.outcome ? `/${e.outcome}` : ''}`)).toEqual([
      'decision deny',
      'outcome deny/blocked',
    ]);
    expect(events.every((e) => e.delegation === undefined)).toBe(true);
  });

  it('fails closed: a check that throws (or rejects) is a deny saying the check failed, never an allow', async () => {
    const { guard } = createTestGuard({ policy: POLICY });
    const { kit, logged } = testKit();
    const rejecting: Guard = { ...guard, check: async () => Promise.reject(new Error('store offline')) };
    const throwing: Guard = {
      ...guard,
      check: () => {
        throw new Error('malformed request');
      },
    };
    for (const [broken, message] of [
      [rejecting, 'store offline'],
      [throwing, 'malformed request'],
    ] as const) {
      const checked = await kit.check({
        guard: broken,
        agent: support,
        action: 'read:customer_data',
        kind: 'tool',
        traceId: 'trace_broken',
        delegation: [billing],
      });
      expect(checked.failed).toBe(true);
      expect(checked.decision).toMatchObject({
        allowed: false,
        effect: 'deny',
        mode: 'enforce',
        reason: `the policy check failed, so the action is denied: ${message}`,
      });
      expect(checked.decision.decisionId).toMatch(/^failed-/);
      expect(kit.denialText(checked.decision, 'read:customer_data')).toBe(
        `Blocked by policy: the policy check failed, so the action is denied: ${message}`,
      );
    }
    expect(logged.filter((f) => f.startsWith('check of %s failed'))).toHaveLength(2);

    // No decision was recorded, so the outcome stands on its own and carries the failure.
    const failed = await kit.check({
      guard: rejecting,
      agent: support,
      action: 'read:customer_data',
      kind: 'tool',
      traceId: 'trace_broken',
    });
    await kit.recordOutcome(failed, { outcome: 'blocked' });
    const events = await guard.query({ traceId: 'trace_broken', order: 'asc' });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'outcome',
      effect: 'deny',
      outcome: 'blocked',
      action: 'read:customer_data',
      agent: support,
      framework: 'test-framework',
      error: 'the policy check failed, so the action is denied: store offline',
    });
    expect(events[0]!.decisionId).not.toBe(failed.decision.decisionId);
  });

  it('fails closed on a real guard that can no longer decide (closed)', async () => {
    const { guard } = createTestGuard({ policy: POLICY });
    const { kit } = testKit();
    await guard.close();
    const checked = await kit.check({
      guard,
      agent: support,
      action: 'read:customer_data',
      kind: 'tool',
      traceId: 'trace_closed',
    });
    expect(checked.decision.allowed).toBe(false);
    expect(checked.decision.reason).toBe(
      'the policy check failed, so the action is denied: the guard is closed',
    );
  });

  it('swallows and logs a failure to record, for outcomes and observed activity alike', async () => {
    const { guard } = createTestGuard({ policy: POLICY });
    const { kit, logged } = testKit();
    const checked = await kit.check({
      guard,
      agent: support,
      action: 'read:customer_data',
      kind: 'tool',
      traceId: 'trace_record',
    });
    const broken: Guard = { ...guard, record: async () => Promise.reject(new Error('disk full')) };
    await expect(
      kit.recordOutcome({ ...checked, guard: broken }, { outcome: 'success' }),
    ).resolves.toBeUndefined();
    await expect(
      kit.recordObserved(broken, {
        outcome: 'observed',
        agent: support,
        action: 'read:web_search',
        traceId: 'trace_record',
      }),
    ).resolves.toBeUndefined();
    expect(logged).toEqual(['could not record outcome %o: %O', 'could not record %o: %O']);
  });

  it('records observed activity with the framework and source stamped', async () => {
    const { guard } = createTestGuard({ policy: POLICY });
    const { kit } = testKit();
    await kit.recordObserved(guard, {
      outcome: 'observed',
      agent: support,
      action: 'read:web_search',
      kind: 'builtin_tool',
      traceId: 'trace_observed',
      context: { query: 'refund policy' },
    });
    const [event] = await guard.query({ traceId: 'trace_observed' });
    expect(event).toMatchObject({
      type: 'outcome',
      outcome: 'observed',
      framework: 'test-framework',
      source: SOURCE,
      action: 'read:web_search',
      kind: 'builtin_tool',
    });
  });

  it('words a denial as "Blocked by policy: <reason>" unless the host gives its own', () => {
    const { kit } = testKit();
    const decision = {
      decisionId: 'd1',
      allowed: false,
      effect: 'deny' as const,
      reason: 'Refunds over $100 require manager approval',
      mode: 'enforce' as const,
      evaluatedAt: '2026-01-05T10:00:00.000Z',
    };
    expect(kit.denialText(decision, 'write:refund')).toBe(
      'Blocked by policy: Refunds over $100 require manager approval',
    );
    expect(
      kit.denialText(decision, 'write:refund', (d, action) => `${action} refused (${d.decisionId})`),
    ).toBe('write:refund refused (d1)');
  });

  it('fills an identity from defaults and names what is wrong with a bad one', () => {
    const { kit } = testKit();
    const invalid = (issue: string) => `the identity of agent "Support" is invalid: ${issue}`;
    expect(kit.identity({ tags: ['support'] }, { id: 'support-1', name: 'Support' }, invalid)).toEqual({
      id: 'support-1',
      name: 'Support',
      tags: ['support'],
      tier: 'basic',
    });
    expect(kit.identity({ id: 'x' }, { id: 'ignored', tags: ['a'], tier: 'verified' }, invalid)).toEqual({
      id: 'x',
      name: 'x',
      tags: ['a'],
      tier: 'verified',
    });
    const bad = () => kit.identity({ tier: 'godlike' as never }, { id: 'support-1' }, invalid);
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/^the identity of agent "Support" is invalid: tier: /);
    expect(kit.newTraceId()).toMatch(/^trace_[0-9a-f]{32}$/);
  });
});
