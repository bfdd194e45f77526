import { describe, expect, it } from 'vitest';
import { createEmbeddedGuard } from '../guard/guard';
import { createPolicyEngine } from '../policy/policy-engine';
import { parsePolicies } from '../policy/policy-loader';
import type { AuditEventBody } from '../protocol/audit-event';
import { testAgent } from '../testing';
import { type AuditStore, canFollow, canJournal, canReportStats, type JournalingStore } from './audit-store';
import { wrapAuditStore } from './audit-store-wrapper';
import { createMemoryStore } from './memory-store';

const agent = testAgent({ name: 'support-bot', tags: ['support'] });
const POLICY = 'name: support\nversion: "1.0"\nrules:\n  - effect: allow\n    actions: ["read:*"]\n';

/** A memory store with a journal that commits when drained (what the SQLite store does behind). */
function journalingMemoryStore() {
  const store = createMemoryStore();
  const waiting: AuditEventBody[] = [];
  let failure: Error | undefined;
  // Frozen members, as `Object.defineProperties` makes them: the wrapper must cope.
  const journaling = Object.defineProperties(store, {
    journal: {
      value: (events: readonly AuditEventBody[]) => {
        waiting.push(...events);
        return undefined;
      },
    },
    drain: { value: async () => void (await store.append(waiting.splice(0))) },
    journalFailure: { get: () => failure },
    journalBacklog: { get: () => waiting.length },
  }) as typeof store & JournalingStore;
  return Object.assign(journaling, {
    fail: (error: Error | undefined) => {
      failure = error;
    },
  });
}

/** A wrapper that counts appends, as a gateway's metrics do. */
function counted<S extends AuditStore>(inner: S) {
  const appended: AuditEventBody[] = [];
  const store = wrapAuditStore(inner, {
    append: (events: readonly AuditEventBody[]) => {
      appended.push(...events);
      return inner.append(events);
    },
  } as Partial<S>);
  return { store, appended };
}

describe('wrapAuditStore', () => {
  it('keeps the journal of a journaling store: the wrapper journals, and its state is live', async () => {
    const inner = journalingMemoryStore();
    const { store, appended } = counted(inner);
    expect(canJournal(store)).toBe(true);
    if (!canJournal(store)) return;
    store.journal([body('e1')]);
    expect(store.journalBacklog).toBe(1);
    inner.fail(new Error('disk full'));
    expect(store.journalFailure?.message).toBe('disk full');
    inner.fail(undefined);
    await store.drain();
    expect(store.journalBacklog).toBe(0);
    expect(appended).toEqual([]); // the inner store committed its journal itself
    expect((await store.query({})).events.map((e) => e.id)).toEqual(['e1']);
  });

  it('adds no capability a plain store lacks', () => {
    const { store } = counted(createMemoryStore());
    expect(canJournal(store)).toBe(false);
    expect(canFollow(store)).toBe(false);
    expect(canReportStats(store)).toBe(false);
    expect('journal' in store).toBe(false);
  });

  it('replaces only the overrides, and keeps the extras of the inner store', async () => {
    const inner = createMemoryStore();
    const { store, appended } = counted(inner);
    await store.append([body('e1')]);
    expect(appended.map((e) => e.id)).toEqual(['e1']);
    expect(store.kind).toBe('memory');
    expect(store.events.map((e) => e.id)).toEqual(['e1']);
    expect((await store.verify()).ok).toBe(true);
  });

  it('calls the methods of a store written as a class on the store itself (its #private fields work)', async () => {
    class ClassStore implements AuditStore {
      readonly kind = 'class';
      readonly #inner = createMemoryStore();
      append(events: readonly AuditEventBody[]) {
        return this.#inner.append(events);
      }
      query(filter: Parameters<AuditStore['query']>[0]) {
        return this.#inner.query(filter);
      }
      verify() {
        return this.#inner.verify();
      }
      close() {
        return this.#inner.close();
      }
    }
    const store = wrapAuditStore(new ClassStore(), {});
    await store.append([body('e1')]);
    expect((await store.query({})).events).toHaveLength(1);
  });

  it('a guard over a wrapped journaling store records through the journal, not append', async () => {
    const inner = journalingMemoryStore();
    const { store, appended } = counted(inner);
    const guard = createEmbeddedGuard({ engine: createPolicyEngine(parsePolicies(POLICY)), store });
    const decision = await guard.check({ action: 'read:orders', agent });
    expect(decision.allowed).toBe(true);
    expect(inner.journalBacklog).toBe(1);
    const events = await guard.query({}); // drains the journal first
    expect(events.map((e) => e.decisionId)).toEqual([decision.decisionId]);
    expect(appended).toEqual([]);
  });
});

function body(id: string): AuditEventBody {
  return {
    v: 1,
    id,
    ts: '2026-01-05T10:00:00.000Z',
    type: 'decision',
    traceId: 'trace_wrapper',
    agent,
    framework: 'custom',
    kind: 'custom',
    action: 'read:orders',
    effect: 'allow',
    mode: 'enforce',
    decisionId: `decision_${id}`,
  };
}
