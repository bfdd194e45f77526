import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../audit/memory-store';
import { PolicyError } from '../errors/meshguard-error';
import { createEmbeddedGuard } from '../guard/guard';
import { createPolicyEngine } from '../policy/policy-engine';
import { parsePolicies } from '../policy/policy-loader';
import { argumentsHash } from '../protocol/approval';
import { createTestClock, createTestGuard, testAgent } from '../testing';
import { ApprovalConflictError } from './approval-flow';

const POLICY = `
name: refunds
version: "1"
rules:
  - id: big-refund
    effect: require_approval
    actions: ["write:refund"]
    conditions: { amount_min: 100.01 }
    reason: Refunds over $100 need a manager
    approval: { expiresIn: 30m, approvers: [finance] }
  - effect: allow
    actions: ["write:refund"]
  - id: wire
    effect: require_approval
    actions: ["write:wire"]
`;

const agent = testAgent({ name: 'support-bot', tags: ['support'] });
const refund = (amount: number, extra: Record<string, unknown> = {}) => ({
  action: 'write:refund',
  agent,
  context: { amount, order: 'A-1', ...extra },
  traceId: 'trace-1',
});

function setup() {
  const t = createTestGuard({ policy: POLICY });
  return { ...t, approvals: t.guard.approvals! };
}

describe('approvals on the embedded guard', () => {
  it('a require_approval decision opens a request with the exact arguments, kept apart from the redacted trail', async () => {
    const { guard, store, approvals } = setup();
    const decision = await guard.check(refund(150, { password: 'hunter2' }));
    expect(decision.effect).toBe('require_approval');
    expect(decision.approval).toMatchObject({ status: 'pending', expiresAt: '2026-01-05T10:30:00.000Z' });
    const request = (await approvals.get(decision.approval!.id))!;
    expect(request).toMatchObject({
      decisionId: decision.decisionId,
      traceId: 'trace-1',
      action: 'write:refund',
      arguments: { amount: 150, order: 'A-1', password: 'hunter2' },
      argumentsHash: argumentsHash({ order: 'A-1', password: 'hunter2', amount: 150 }),
      approvers: ['finance'],
      reason: expect.stringContaining('Refunds over $100 need a manager'),
    });
    await guard.settled();
    const trail = store.events;
    expect(trail.map((e) => e.type)).toEqual(['decision', 'approval_requested']);
    expect(trail[1]).toMatchObject({ approvalId: request.id, decisionId: decision.decisionId });
    expect(JSON.stringify(store.events)).not.toContain('hunter2');
    expect(trail[1]!.context).toBeUndefined();
  });

  it('approved: the same call checked with approvalId is allowed once, recorded with who approved', async () => {
    const { guard, store, approvals } = setup();
    const asked = await guard.check(refund(150));
    const id = asked.approval!.id;
    const answered = await approvals.answer(id, {
      approve: true,
      by: 'maria',
      comment: 'ok, known customer',
    });
    expect(answered).toMatchObject({
      status: 'approved',
      answeredBy: 'maria',
      comment: 'ok, known customer',
    });
    const allowed = await guard.check({ ...refund(150), approvalId: id });
    expect(allowed).toMatchObject({
      allowed: true,
      effect: 'allow',
      approval: { id, status: 'approved', answeredBy: 'maria' },
    });
    expect(allowed.reason).toContain('Approved by maria');
    const again = await guard.check({ ...refund(150), approvalId: id });
    expect(again).toMatchObject({ allowed: false, effect: 'deny' });
    expect(again.reason).toContain('let its call through already');
    await guard.settled();
    const trail = store.events; // in the order recorded (the clock stood still)
    expect(trail.map((e) => e.type)).toEqual([
      'decision',
      'approval_requested',
      'approval_granted',
      'decision',
      'decision',
    ]);
    expect(trail[2]).toMatchObject({ actor: 'maria', approvalId: id, effect: 'allow' });
    expect(trail[3]).toMatchObject({ effect: 'allow', approvalId: id });
  });

  it('changed arguments, another agent or another action are denied', async () => {
    const { guard, approvals } = setup();
    const id = (await guard.check(refund(150))).approval!.id;
    await approvals.answer(id, { approve: true, by: 'maria' });
    const changed = await guard.check({ ...refund(150, { order: 'B-2' }), approvalId: id });
    expect(changed.effect).toBe('deny');
    expect(changed.reason).toContain('arguments differ');
    const other = await guard.check({ ...refund(150), agent: testAgent({ name: 'other' }), approvalId: id });
    expect(other.reason).toContain('not this call');
    // The approval is still there for the call it was given for.
    expect((await guard.check({ ...refund(150), approvalId: id })).allowed).toBe(true);
  });

  it('rejected: the call is denied with who rejected it and why', async () => {
    const { guard, approvals } = setup();
    const id = (await guard.check(refund(150))).approval!.id;
    await approvals.answer(id, { approve: false, by: 'maria', comment: 'refund already issued' });
    const denied = await guard.check({ ...refund(150), approvalId: id });
    expect(denied).toMatchObject({ allowed: false, effect: 'deny' });
    expect(denied.reason).toContain('Rejected by maria');
    expect(denied.reason).toContain('refund already issued');
  });

  it('the first answer wins; a second gets a conflict', async () => {
    const { guard, approvals } = setup();
    const id = (await guard.check(refund(150))).approval!.id;
    const results = await Promise.allSettled([
      approvals.answer(id, { approve: true, by: 'maria' }),
      approvals.answer(id, { approve: false, by: 'li' }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(failed.reason).toBeInstanceOf(ApprovalConflictError);
    expect(failed.reason.code).toBe('approval_conflict');
    expect(
      (await guard.query({ type: 'approval_granted' })).length +
        (await guard.query({ type: 'approval_rejected' })).length,
    ).toBe(1);
  });

  it('past its deadline a request expires (recorded), cannot be approved, and the call is denied', async () => {
    const { guard, approvals, clock } = setup();
    const id = (await guard.check(refund(150))).approval!.id;
    clock.advance(30 * 60_000);
    await expect(approvals.answer(id, { approve: true, by: 'maria' })).rejects.toThrow(/is expired/);
    const denied = await guard.check({ ...refund(150), approvalId: id });
    expect(denied.effect).toBe('deny');
    expect(denied.reason).toContain('expired');
    expect(await guard.query({ type: 'approval_expired' })).toHaveLength(1);
    expect((await approvals.get(id))?.answeredBy).toBe('meshguard');
  });

  it('a pending request checked again stays require_approval on the same request, opening no other', async () => {
    const { guard, approvals } = setup();
    const id = (await guard.check(refund(150))).approval!.id;
    const again = await guard.check({ ...refund(150), approvalId: id });
    expect(again).toMatchObject({ effect: 'require_approval', approval: { id, status: 'pending' } });
    expect((await approvals.list({ status: 'pending' })).approvals).toHaveLength(1);
  });

  it('the policy in force decides first: a rule that now denies wins over the approval', async () => {
    const clock = createTestClock();
    const store = createMemoryStore();
    const before = createEmbeddedGuard({
      engine: createPolicyEngine(parsePolicies(POLICY), { clock }),
      store,
      clock,
    });
    const id = (await before.check(refund(150))).approval!.id;
    await before.approvals!.answer(id, { approve: true, by: 'maria' });
    const stricter = parsePolicies(`
name: refunds
version: "2"
rules:
  - effect: deny
    actions: ["write:refund"]
    reason: Refunds are frozen
`);
    const after = createEmbeddedGuard({ engine: createPolicyEngine(stricter, { clock }), store, clock });
    const denied = await after.check({ ...refund(150), approvalId: id });
    expect(denied).toMatchObject({ effect: 'deny', reason: expect.stringContaining('Refunds are frozen') });
    expect((await after.approvals!.get(id))?.usedAt).toBeUndefined();
  });

  it('an approver the rule does not name is refused; the admin and named approvers may answer', async () => {
    const { guard, approvals } = setup();
    const id = (await guard.check(refund(150))).approval!.id;
    await expect(
      approvals.answer(id, { approve: true, by: 'bob' }, { name: 'bob', tags: ['support'] }),
    ).rejects.toMatchObject({
      code: 'approval_forbidden',
    });
    await expect(
      approvals.answer(id, { approve: true, by: 'maria' }, { name: 'maria', tags: ['finance'] }),
    ).resolves.toMatchObject({ status: 'approved' });
    const wire = (await guard.check({ action: 'write:wire', agent })).approval!.id;
    await expect(
      approvals.answer(wire, { approve: false, by: 'admin' }, { name: 'admin', tags: [], admin: true }),
    ).resolves.toMatchObject({
      status: 'rejected',
    });
  });

  it('wait resolves when the request is answered, and returns it pending at its timeout', async () => {
    const { guard, approvals } = setup();
    const id = (await guard.check(refund(150))).approval!.id;
    const timedOut = await approvals.wait(id, { timeoutMs: 0 });
    expect(timedOut.status).toBe('pending');
    // The guard's clock stands still here: the wait still ends, in real time.
    expect((await approvals.wait(id, { timeoutMs: 300 })).status).toBe('pending');
    const waiting = approvals.wait(id, { timeoutMs: 5_000 });
    setTimeout(() => void approvals.answer(id, { approve: true, by: 'maria' }), 20);
    await expect(waiting).resolves.toMatchObject({ status: 'approved', answeredBy: 'maria' });
  });

  it('cancel withdraws a pending request; the call is then denied', async () => {
    const { guard, approvals } = setup();
    const id = (await guard.check(refund(150))).approval!.id;
    await approvals.cancel(id, 'support-bot', 'customer withdrew');
    expect((await guard.check({ ...refund(150), approvalId: id })).reason).toContain('cancelled');
    expect(await guard.query({ type: 'approval_cancelled' })).toHaveLength(1);
  });

  it('an unknown approval id is a deny; a rule with the default settings expires in 1h', async () => {
    const { guard } = setup();
    expect((await guard.check({ ...refund(150), approvalId: 'apr_nope' })).reason).toContain(
      'no approval request apr_nope',
    );
    const wire = await guard.check({ action: 'write:wire', agent });
    expect(wire.approval?.expiresAt).toBe('2026-01-05T11:00:00.000Z');
  });

  it('purgeArguments drops the arguments of requests ended past the retention, keeping the hash', async () => {
    const { guard, approvals, clock } = setup();
    const id = (await guard.check(refund(150))).approval!.id;
    const open = (await guard.check(refund(170))).approval!.id;
    await approvals.answer(id, { approve: false, by: 'maria', comment: 'no' });
    clock.advance(10 * 60_000);
    expect(await approvals.purgeArguments(60 * 60_000)).toBe(0);
    clock.advance(60 * 60_000);
    await approvals.expire(); // the other one ends now: its arguments stay for the retention
    expect(await approvals.purgeArguments(60 * 60_000)).toBe(1);
    const purged = (await approvals.get(id))!;
    expect(purged.arguments).toEqual({});
    expect(purged.argumentsPurgedAt).toBeDefined();
    expect(purged.argumentsHash).toBe(argumentsHash({ amount: 150, order: 'A-1' }));
    expect(await approvals.get(open)).toMatchObject({
      status: 'expired',
      arguments: { amount: 170, order: 'A-1' },
    });
  });

  it('checkMany opens a request per require_approval decision', async () => {
    const { guard, approvals } = setup();
    const decisions = await guard.checkMany([refund(150), refund(50), refund(200)]);
    expect(decisions.map((d) => d.effect)).toEqual(['require_approval', 'allow', 'require_approval']);
    expect((await approvals.list()).approvals).toHaveLength(2);
  });
});

describe('approval settings in a policy', () => {
  it('refuses approval settings on a rule that is not require_approval, and a bad duration, with where', () => {
    expect(() =>
      parsePolicies(
        'name: p\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["a:b"]\n    approval: { expiresIn: 1h }\n',
        {
          file: 'p.yaml',
        },
      ),
    ).toThrow(/p\.yaml:\d+:\d+.*approval settings only apply to a require_approval rule/s);
    const bad = () =>
      parsePolicies(
        'name: p\nversion: "1"\nrules:\n  - effect: require_approval\n    actions: ["a:b"]\n    approval: { expiresIn: soon }\n',
        { file: 'p.yaml' },
      );
    expect(bad).toThrow(PolicyError);
    expect(bad).toThrow(/rules\[0\]\.approval\.expiresIn: "soon" is not a duration: write it as "90s"/);
    expect(() =>
      parsePolicies(
        'name: p\nversion: "1"\nrules:\n  - effect: require_approval\n    actions: ["a:b"]\n    approval: { expiresIn: 40d }\n',
      ),
    ).toThrow(/between 1s and 30d/);
  });
});

describe('onApproval', () => {
  it('hears a request once recorded, then each step', async () => {
    const heard: string[] = [];
    const clock = createTestClock();
    const guard = createEmbeddedGuard({
      engine: createPolicyEngine(parsePolicies(POLICY), { clock }),
      store: createMemoryStore(),
      clock,
      onApproval: (approval) => heard.push(`${approval.id}:${approval.status}`),
    });
    const id = (await guard.check(refund(150))).approval!.id;
    await guard.check(refund(50));
    await guard.approvals!.answer(id, { approve: true, by: 'maria' });
    expect(heard).toEqual([`${id}:pending`, `${id}:approved`]);
  });
});
