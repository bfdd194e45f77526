import { describe, expect, it } from 'vitest';
import type { AuditStore } from '../audit/audit-store';
import { createMemoryStore } from '../audit/memory-store';
import { ConfigError } from '../errors/meshguard-error';
import { createPolicyEngine } from '../policy/policy-engine';
import { parsePolicies } from '../policy/policy-loader';
import type { AuditEventBody } from '../protocol/audit-event';
import { testAgent } from '../testing';
import { AuditNotRecordedError } from './append-batcher';
import { type AuditDurability, createEmbeddedGuard } from './guard';

const POLICY = `
name: support
version: "1.0"
rules:
  - effect: allow
    actions: ["read:*"]
`;
const agent = testAgent({ name: 'support-bot' });
const engine = createPolicyEngine(parsePolicies(POLICY));

/** A memory store that counts append calls and can be made to refuse them. */
function observedStore() {
  const inner = createMemoryStore();
  const calls: (readonly AuditEventBody[])[] = [];
  let refuse: Error | undefined;
  const store: AuditStore = {
    ...inner,
    append: async (bodies) => {
      calls.push(bodies);
      if (refuse) throw refuse;
      return inner.append(bodies);
    },
    query: (filter) => inner.query(filter),
    verify: () => inner.verify(),
    close: () => inner.close(),
  };
  return {
    store,
    calls,
    inner,
    refuse(error: Error | undefined) {
      refuse = error;
    },
  };
}

function batchedGuard(store: AuditStore, audit: AuditDurability = { durability: 'batched', batchMs: 5 }) {
  return createEmbeddedGuard({ engine, store, audit });
}

describe('batched audit durability', () => {
  it('answers before the commit and commits many decisions together', async () => {
    const { store, calls, inner } = observedStore();
    const guard = batchedGuard(store, { durability: 'batched', batchMs: 1000 });
    const decisions = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        guard.check({ action: `read:item_${i}`, agent, traceId: 'trace_b' }),
      ),
    );
    expect(decisions.every((d) => d.allowed)).toBe(true);
    // Nothing reached the store yet: the checks resolved with their decisions queued.
    expect(calls).toHaveLength(0);
    // A query commits the queue first (read-your-writes), in one round of appends.
    const events = await guard.query({ traceId: 'trace_b', limit: 100 });
    expect(events).toHaveLength(50);
    expect(calls).toHaveLength(50);
    expect((await inner.verify()).ok).toBe(true);
    await guard.close();
  });

  it('commits on its own within batchMs, outcomes too', async () => {
    const { store, calls } = observedStore();
    const guard = batchedGuard(store, { durability: 'batched', batchMs: 5 });
    const decision = await guard.check({ action: 'read:customer_data', agent, traceId: 'trace_t' });
    await guard.record({ decisionId: decision.decisionId, outcome: 'success', durationMs: 3 });
    expect(calls).toHaveLength(0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls.flat().map((b) => b.type)).toEqual(['decision', 'outcome']);
    await guard.close();
  });

  it('fails closed while commits fail, retries what was refused, and recovers', async () => {
    const { store, inner, refuse } = observedStore();
    const guard = batchedGuard(store);
    refuse(new Error('disk I/O error'));
    // Queued before anyone knew: allowed (the price of batching, documented).
    expect((await guard.check({ action: 'read:a', agent, traceId: 'trace_f' })).allowed).toBe(true);
    await guard.settled();
    const denied = await guard.check({ action: 'read:b', agent, traceId: 'trace_f' });
    expect(denied).toMatchObject({ allowed: false, effect: 'deny' });
    expect(denied.reason).toBe(
      'Denied: the decision could not be recorded in the audit trail (disk I/O error)',
    );
    // The store comes back: the refused decision is committed on the retry, and checks pass again.
    refuse(undefined);
    await guard.settled();
    expect((await guard.check({ action: 'read:c', agent, traceId: 'trace_f' })).allowed).toBe(true);
    await guard.close();
    const actions = (await inner.query({ traceId: 'trace_f', order: 'asc' })).events.map((e) => e.action);
    expect(actions).toEqual(['read:a', 'read:c']);
  });

  it('gives a refused group up after three attempts and says so at close', async () => {
    const { store, calls, inner, refuse } = observedStore();
    const guard = batchedGuard(store);
    refuse(new Error('constraint failed'));
    await guard.check({ action: 'read:a', agent, traceId: 'trace_g' });
    const closing = guard.close();
    await expect(closing).rejects.toThrow(AuditNotRecordedError);
    await expect(closing).rejects.toMatchObject({
      code: 'audit_not_recorded',
      count: 1,
      events: [expect.objectContaining({ action: 'read:a', traceId: 'trace_g' })],
      message: '1 audit event was not recorded: the store refused it (constraint failed)',
    });
    expect(calls).toHaveLength(3);
    expect((await inner.query({ traceId: 'trace_g' })).events).toHaveLength(0);
  });

  it('commits the queue on close', async () => {
    const { store, inner } = observedStore();
    const guard = batchedGuard(store, { durability: 'batched', batchMs: 1000 });
    await guard.check({ action: 'read:a', agent, traceId: 'trace_c' });
    await guard.close();
    expect((await inner.query({ traceId: 'trace_c' })).events).toHaveLength(1);
  });

  it('refuses settings that make no sense, naming them', () => {
    const store = createMemoryStore();
    expect(() => batchedGuard(store, { durability: 'later' as never })).toThrow(ConfigError);
    expect(() => batchedGuard(store, { durability: 'batched', batchMs: 0 })).toThrow(/audit.batchMs/);
    expect(() => batchedGuard(store, { durability: 'batched', batchMs: 2.5 })).toThrow(/audit.batchMs/);
    expect(() => batchedGuard(store, { durability: 'durable', batchMs: 10 })).toThrow(
      /applies only with audit.durability "batched"/,
    );
  });

  it('durable stays the default: a check resolves only after its decision is committed', async () => {
    const { store, calls } = observedStore();
    const guard = createEmbeddedGuard({ engine, store });
    await guard.check({ action: 'read:a', agent, traceId: 'trace_d' });
    expect(calls).toHaveLength(1);
    await guard.close();
  });
});
