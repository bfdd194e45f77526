import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../audit/memory-store';
import { ConfigError, ValidationError } from '../errors/meshguard-error';
import { createPolicyEngine } from '../policy/policy-engine';
import { parsePolicies } from '../policy/policy-loader';
import { createTestGuard, testAgent } from '../testing';
import { createEmbeddedGuard, createGuard } from './guard';

const POLICY = `
name: support
version: "1.0"
appliesTo: { tags: [support] }
rules:
  - effect: allow
    actions: ["read:*"]
  - id: big-refunds
    effect: deny
    actions: ["write:refund"]
    conditions: { amount_min: 100.01 }
    reason: Refunds over $100 require manager approval
  - effect: allow
    actions: ["write:refund"]
    conditions: { amount_max: 100 }
---
name: candidate
version: "2.0"
mode: shadow
rules:
  - effect: deny
    actions: ["read:customer_data"]
    reason: Candidate blocks customer reads
`;

const agent = testAgent({ name: 'support-bot', tags: ['support'] });

describe('embedded guard', () => {
  it('records a late outcome whose decision it no longer holds from the fields the event carries', async () => {
    const { guard, store } = createTestGuard({ policy: POLICY, framework: 'test' });
    await guard.record({
      decisionId: 'decided-long-ago',
      outcome: 'approved',
      actor: 'manager@acme.test',
      agent,
      action: 'write:refund',
      effect: 'require_approval',
      traceId: 'trace_late',
      kind: 'tool',
    });
    const [event] = (await store.query({ traceId: 'trace_late' })).events;
    expect(event).toMatchObject({
      decisionId: 'decided-long-ago',
      effect: 'require_approval',
      outcome: 'approved',
      actor: 'manager@acme.test',
    });
  });

  it('records every decision, shadow verdicts and outcomes in one chained trail', async () => {
    const { guard, store } = createTestGuard({ policy: POLICY, framework: 'test' });
    const refund = await guard.check({
      action: 'write:refund',
      agent,
      context: { amount: 150, customer_email: 'jo@example.com' },
      traceId: 'trace_1',
      kind: 'tool',
    });
    expect(refund).toMatchObject({
      allowed: false,
      effect: 'deny',
      reason: 'Refunds over $100 require manager approval (rule big-refunds)',
    });
    const read = await guard.check({ action: 'read:customer_data', agent, traceId: 'trace_1' });
    expect(read).toMatchObject({ allowed: true, shadow: { effect: 'deny' } });
    await guard.record({ decisionId: read.decisionId, outcome: 'success', durationMs: 12 });

    const events = await guard.query({ traceId: 'trace_1', order: 'asc' });
    expect(events.map((e) => [e.type, e.mode, e.action, e.effect, e.outcome])).toEqual([
      ['decision', 'enforce', 'write:refund', 'deny', undefined],
      ['decision', 'shadow', 'write:refund', 'deny', undefined],
      ['decision', 'enforce', 'read:customer_data', 'allow', undefined],
      ['decision', 'shadow', 'read:customer_data', 'deny', undefined],
      ['outcome', 'enforce', 'read:customer_data', 'allow', 'success'],
    ]);
    const [first, , , , outcome] = events;
    expect(first).toMatchObject({
      framework: 'test',
      kind: 'tool',
      decisionId: refund.decisionId,
      rule: { id: 'big-refunds' },
      agent,
    });
    expect(first!.context!.amount).toBe(150);
    expect(first!.context!.customer_email).toMatch(/^redacted:sha256:[0-9a-f]{32}$/);
    expect(outcome).toMatchObject({ decisionId: read.decisionId, durationMs: 12, traceId: 'trace_1' });
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect((await store.verify()).ok).toBe(true);
  });

  it('rejects malformed requests naming the field', async () => {
    const { guard } = createTestGuard({ policy: POLICY });
    await expect(guard.check({ action: 'no-colon', agent })).rejects.toThrow(ValidationError);
    await expect(
      guard.check({ action: 'read:x', agent: { ...agent, tier: 'godlike' as 'basic' } }),
    ).rejects.toThrow(/^agent\.tier: /);
    await expect(guard.check({ action: `read:${'x'.repeat(100_000)}`, agent })).rejects.toThrow(
      /^action: an action is at most 1024 characters/,
    );
    await expect(guard.record({ decisionId: 'unknown', outcome: 'success' })).rejects.toThrow(
      /^agent: is required/,
    );
  });

  it('denies when the decision cannot be recorded (fail closed)', async () => {
    const { guard, store } = createTestGuard({ policy: POLICY });
    store.append = async () => {
      throw new Error('disk full');
    };
    const decision = await guard.check({ action: 'read:orders', agent });
    expect(decision).toMatchObject({
      allowed: false,
      effect: 'deny',
      reason: expect.stringContaining('could not be recorded in the audit trail (disk full)'),
    });
    expect(decision.rule).toBeUndefined();
    expect(decision.policy).toBeUndefined();
  });

  it('with a store that journals: records through the journal, and denies when it cannot be written or commits fail', async () => {
    const journaled: unknown[] = [];
    let writable = true;
    let commitFailure: Error | undefined;
    let drained = 0;
    const store = Object.assign(createMemoryStore(), {
      journal(events: unknown[]) {
        if (!writable) throw new Error('no space left on device');
        journaled.push(...events);
      },
      async drain() {
        drained += 1;
      },
    });
    Object.defineProperty(store, 'journalFailure', { get: () => commitFailure });
    const guard = createEmbeddedGuard({ engine: createPolicyEngine(parsePolicies(POLICY)), store });
    store.append = async () => {
      throw new Error('a journaling store is not appended to by the durable guard');
    };
    const allowed = await guard.check({ action: 'read:orders', agent });
    expect(allowed.allowed).toBe(true);
    await guard.record({ decisionId: allowed.decisionId, outcome: 'success' });
    // The decision, the shadow policy's verdict, the outcome.
    expect(journaled).toMatchObject([
      { type: 'decision', mode: 'enforce', decisionId: allowed.decisionId },
      { type: 'decision', mode: 'shadow', decisionId: allowed.decisionId },
      { type: 'outcome', decisionId: allowed.decisionId },
    ]);
    await guard.settled();
    expect(drained).toBe(1);

    writable = false;
    expect(await guard.check({ action: 'read:orders', agent })).toMatchObject({
      allowed: false,
      reason: expect.stringContaining('could not be recorded in the audit trail (no space left on device)'),
    });
    writable = true;
    commitFailure = new Error('the audit store could not commit its journal: SQLITE_FULL');
    expect(await guard.check({ action: 'read:orders', agent })).toMatchObject({
      allowed: false,
      reason: expect.stringContaining('SQLITE_FULL'),
    });
    commitFailure = undefined;
    expect((await guard.check({ action: 'read:orders', agent })).allowed).toBe(true);
  });

  it('checks many requests in one append, and denies them all when it fails', async () => {
    const { guard, store } = createTestGuard({ policy: POLICY });
    let appends = 0;
    const original = store.append.bind(store);
    store.append = async (events) => {
      appends++;
      return original(events);
    };
    const decisions = await guard.checkMany([
      { action: 'read:orders', agent, traceId: 'trace_many' },
      { action: 'write:refund', agent, context: { amount: 150 }, traceId: 'trace_many' },
    ]);
    expect(decisions.map((d) => d.effect)).toEqual(['allow', 'deny']);
    expect(appends).toBe(1);
    expect(
      (await guard.query({ traceId: 'trace_many', type: 'decision', order: 'asc' })).length,
    ).toBeGreaterThanOrEqual(2);
    store.append = async () => {
      throw new Error('disk full');
    };
    const failed = await guard.checkMany([
      { action: 'read:orders', agent },
      { action: 'read:customers', agent },
    ]);
    expect(failed.every((d) => d.effect === 'deny' && d.reason.includes('(disk full)'))).toBe(true);
  });

  it('needs policies', async () => {
    await expect(createGuard({ store: 'memory', env: {} })).rejects.toThrow(ConfigError);
    await expect(createGuard({ store: 'memory', env: {} })).rejects.toThrow(/MESHGUARD_POLICIES/);
  });

  it('says what to install when a file store is asked for without @meshguard/store', async () => {
    // An app with core installed as a user installs it, and no @meshguard/store: core's built files
    // and manifest in node_modules/@meshguard/core, its own dependencies beside them.
    const dist = fileURLToPath(new URL('../../dist', import.meta.url));
    if (!existsSync(dist))
      throw new Error('packages/core is not built: run `pnpm build` first (pnpm test does)');
    const app = await mkdtemp(join(tmpdir(), 'mg-no-store-'));
    const installed = join(app, 'node_modules', '@meshguard', 'core');
    await cp(dist, join(installed, 'dist'), { recursive: true });
    await cp(fileURLToPath(new URL('../../package.json', import.meta.url)), join(installed, 'package.json'));
    const deps = fileURLToPath(new URL('../../node_modules', import.meta.url));
    for (const name of await readdir(deps)) {
      if (name === '@meshguard' || name.startsWith('.')) continue;
      await symlink(join(deps, name), join(app, 'node_modules', name));
    }
    const script = `import('@meshguard/core').then(async ({ createGuard }) => {
      try { await createGuard({ policies: [], env: { MESHGUARD_DB: 'sqlite:audit.db' } }); console.log('opened'); }
      catch (e) { console.log(e.name + ': ' + e.code + ': ' + e.message); }
    });`;
    // Without NODE_PATH: pnpm and vitest set it to their own folders, which a user's app has not.
    const { NODE_PATH: _ignored, ...env } = process.env;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: app,
      encoding: 'utf8',
      env,
    });
    expect(result.stdout.trim()).toBe(
      'ConfigError: store_missing: the audit store "sqlite:audit.db" needs the package @meshguard/store, which is not installed: run "npm install @meshguard/store", or pass store: \'memory\' for an in-memory trail that is lost on exit',
    );
  });

  it('takes explicit options over the environment', async () => {
    const { guard: fromTest } = createTestGuard({ policy: POLICY });
    const guard = await createGuard({
      policies: fromTest.engine.policies,
      store: 'memory',
      env: { MESHGUARD_POLICIES: '/nowhere', MESHGUARD_DB: 'sqlite:/nowhere' },
    });
    expect((await guard.check({ action: 'read:x', agent })).allowed).toBe(true);
    await guard.close();
    await expect(guard.check({ action: 'read:x', agent })).rejects.toThrow(/closed/);
  });
});
