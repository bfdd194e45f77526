import { describe, expect, it } from 'vitest';
import { createTestGuard, testAgent } from '../testing';
import { createAdapterKit } from './adapter-kit';
import type { Guard } from './guard';

const POLICY = `
name: searches
version: "1.0"
appliesTo: { tags: [support] }
rules:
  - effect: allow
    actions: ["read:*"]
  - id: no-competitors
    effect: deny
    actions: ["read:web_search"]
    conditions: { context: { query: { matches: "competitor" } } }
    reason: Searching for competitors is not allowed
  - effect: require_approval
    actions: ["execute:code_interpreter"]
    reason: Code needs a reviewer
`;

const NOT_GATED = 'ran on the provider side, where MeshGuard cannot stop it';
const agent = testAgent({ name: 'Support', tags: ['support'] });
const SOURCE = { name: '@meshguard/test-adapter', version: '1.2.3' };

function setup() {
  const logged: string[] = [];
  const kit = createAdapterKit({ framework: 'test-framework', source: SOURCE, debug: (f) => logged.push(f) });
  const { guard, store } = createTestGuard({ policy: POLICY });
  const call = (action: string, extra: Record<string, unknown> = {}) => ({
    guard: guard as Guard,
    agent,
    action,
    kind: 'builtin_tool' as const,
    traceId: 'trace_observed',
    notGated: NOT_GATED,
    ...extra,
  });
  return { kit, guard, store, call, logged };
}

describe('observed calls (the adapter kit)', () => {
  it('records a call policy would have denied as it ran as an observed deny, and nothing as a decision', async () => {
    const { kit, store, call } = setup();
    const denied = await kit.observe(
      call('read:web_search', { context: { query: 'competitor prices' }, id: 'obs-1' }),
    );
    expect(denied).toEqual({
      effect: 'deny',
      policyAllows: false,
      reason: `${NOT_GATED}; policy would not allow it: Searching for competitors is not allowed (rule no-competitors)`,
    });
    const allowed = await kit.observe(call('read:web_search', { context: { query: 'return policy' } }));
    expect(allowed).toEqual({ effect: 'allow', policyAllows: true, reason: NOT_GATED });
    const events = (await store.query({ traceId: 'trace_observed', order: 'asc' })).events;
    expect(events.map((e) => [e.type, e.outcome, e.effect]).sort()).toEqual([
      ['outcome', 'observed', 'allow'],
      ['outcome', 'observed', 'deny'],
    ]);
    expect(events.find((e) => e.id === 'obs-1')).toMatchObject({
      framework: 'test-framework',
      source: SOURCE,
      kind: 'builtin_tool',
      action: 'read:web_search',
      context: { query: 'competitor prices' },
      reason: denied.reason,
    });
  });

  it('judges each of several contexts on its own: one the policy refuses makes the call a deny', async () => {
    const { kit, call } = setup();
    const context = { queries: ['return policy', 'competitor prices'] };
    const judge = context.queries.map((query) => ({ ...context, query }));
    expect((await kit.judgeObserved(call('read:web_search', { context, judge }))).effect).toBe('deny');
    expect((await kit.judgeObserved(call('read:web_search', { context, judge: [judge[0]!] }))).effect).toBe(
      'allow',
    );
  });

  it('says when policy would have asked a human, which nobody could', async () => {
    const { kit, call } = setup();
    expect(
      await kit.judgeObserved(call('execute:code_interpreter', { context: { code: 'print(1)' } })),
    ).toEqual({
      effect: 'require_approval',
      policyAllows: false,
      reason: `${NOT_GATED}; policy would have required approval, which nobody could give: Code needs a reviewer (rule searches#2)`,
    });
  });

  it('with a guard that can neither explain nor judge (one the host wrote), judges only whether policy could allow the action', async () => {
    const { kit, guard, call } = setup();
    // The bare Guard interface: check, reachable, record, query, close; no explain, no judge.
    // (A remote guard judges through the gateway: see gateway-judge-routes.test.ts.)
    const remoteLike: Guard = {
      check: (r) => guard.check(r),
      reachable: (r) => guard.reachable(r),
      record: (e) => guard.record(e),
      query: (f) => guard.query(f),
      close: () => guard.close(),
    };
    // A condition on the context counts as satisfiable: reachable, so allowed.
    expect(
      (
        await kit.judgeObserved({
          ...call('read:web_search', { context: { query: 'competitor' } }),
          guard: remoteLike,
        })
      ).effect,
    ).toBe('allow');
    expect(await kit.judgeObserved({ ...call('write:email'), guard: remoteLike })).toMatchObject({
      effect: 'deny',
      reason: expect.stringMatching(/policy would not allow it: Nothing allows "write:email"/),
    });
  });

  it('counts a policy it cannot consult as not allowing the call, and never throws into the run', async () => {
    const { kit, guard, call, logged } = setup();
    const unreachable: Guard = {
      check: (r) => guard.check(r),
      reachable: async () => {
        throw new Error('gateway away');
      },
      record: (e) => guard.record(e),
      query: (f) => guard.query(f),
      close: () => guard.close(),
    };
    const verdict = await kit.observe({ ...call('read:orders'), guard: unreachable });
    expect(verdict).toEqual({
      effect: 'deny',
      policyAllows: false,
      reason: `${NOT_GATED}; policy could not be consulted: gateway away`,
    });
    await guard.close();
    await expect(kit.observe(call('read:orders'))).resolves.toMatchObject({ effect: 'allow' });
    expect(logged).toEqual(['could not record observed %s: %O']);
  });
});
