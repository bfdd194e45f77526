import type { AuditEventBody, AuditStore } from '@meshguard/core';
import { afterEach, describe, expect, it } from 'vitest';

export { describeApprovalStore, makeApprovalRequest } from './approval-store-suite';
export type { OldSigningKeyRow } from './old-gateway-database';
export { makeOldGatewayDatabase, makeOldPostgresGatewaySchema } from './old-gateway-database';

let counter = 0;

/** An audit event body with defaults, for store tests. */
export function makeEventBody(overrides: Partial<AuditEventBody> = {}): AuditEventBody {
  counter++;
  const n = String(counter).padStart(8, '0');
  return {
    v: 1,
    id: `00000000-0000-7000-8000-${n.padStart(12, '0')}`,
    ts: new Date(Date.UTC(2026, 0, 5, 10, 0, 0, counter)).toISOString(),
    type: 'decision',
    traceId: 'trace_a',
    agent: { id: 'agent-1', name: 'Support', tags: ['support'], tier: 'verified' },
    framework: 'test',
    kind: 'tool',
    action: 'write:refund',
    effect: 'allow',
    mode: 'enforce',
    decisionId: `d-${n}`,
    ...overrides,
  };
}

/**
 * The suite every AuditStore passes (memory, SQLite, PostgreSQL): chaining, idempotency,
 * redaction, filters, paging and verification. `open` returns a fresh, empty store.
 */
export function describeAuditStore(name: string, open: () => Promise<AuditStore>): void {
  describe(`${name} audit store`, () => {
    const opened: AuditStore[] = [];
    const fresh = async () => {
      const store = await open();
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
    });

    it('chains appended events and verifies them', async () => {
      const store = await fresh();
      const events = await store.append([makeEventBody(), makeEventBody(), makeEventBody()]);
      expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(events[1]!.prevHash).toBe(events[0]!.hash);
      expect(await store.verify()).toMatchObject({ ok: true, checked: 3 });
    });

    it('never duplicates a retried append', async () => {
      const store = await fresh();
      const body = makeEventBody();
      const [first] = await store.append([body]);
      const [again] = await store.append([{ ...body, reason: 'retried' }]);
      expect(again).toEqual(first);
      const concurrent = makeEventBody();
      await Promise.all([store.append([concurrent]), store.append([concurrent])]);
      expect((await store.query({ limit: 100 })).events).toHaveLength(2);
      expect((await store.verify()).ok).toBe(true);
    });

    it('redacts secret and personal context fields with a salted hash', async () => {
      const store = await fresh();
      const [event] = await store.append([
        makeEventBody({ context: { amount: 5, email: 'jo@example.com', nested: { api_key: 'sk-1' } } }),
      ]);
      expect(event!.context).toEqual({
        amount: 5,
        email: expect.stringMatching(/^redacted:sha256:[0-9a-f]{32}$/),
        nested: { api_key: expect.stringMatching(/^redacted:sha256:/) },
      });
      const [again] = await store.append([makeEventBody({ context: { email: 'jo@example.com' } })]);
      expect(again!.context!.email).toBe(event!.context!.email);
      const stored = (await store.query({ decisionId: event!.decisionId })).events[0]!;
      expect(JSON.stringify(stored)).not.toContain('jo@example.com');
    });

    it('redacts credential keys as whole segments and secrets found in any string', async () => {
      const store = await fresh();
      const [event] = await store.append([
        makeEventBody({
          context: {
            pass: 'p4ss',
            passenger_count: 2,
            note: ['paid with 4111-1111-1111-1111', { memo: 'key AKIAIOSFODNN7EXAMPLE' }],
          },
        }),
      ]);
      expect(event!.context).toEqual({
        pass: expect.stringMatching(/^redacted:sha256:[0-9a-f]{32}$/),
        passenger_count: 2,
        note: [
          expect.stringMatching(/^paid with redacted:sha256:[0-9a-f]{32}$/),
          { memo: expect.stringMatching(/^key redacted:sha256:[0-9a-f]{32}$/) },
        ],
      });
      const stored = JSON.stringify((await store.query({ decisionId: event!.decisionId })).events[0]);
      // Whole values only: a short digit run like '4111' can stand in a salted hash's hex by chance.
      for (const secret of ['p4ss', '4111-1111-1111-1111', 'AKIAIOSFODNN7EXAMPLE'])
        expect(stored).not.toContain(secret);
    });

    it('filters by agent, action glob, effect, framework, kind, trace, decision and time', async () => {
      const store = await fresh();
      const a = makeEventBody({
        agent: { id: 'id-a', name: 'Alpha', tags: [], tier: 'basic' },
        action: 'read:customer_data',
        traceId: 't1',
      });
      const b = makeEventBody({
        effect: 'deny',
        framework: 'bedrock',
        kind: 'handoff',
        action: 'handoff:Billing',
        traceId: 't2',
      });
      const c = makeEventBody({ action: 'write:email', type: 'outcome', outcome: 'success', traceId: 't2' });
      await store.append([a, b, c]);
      const ids = async (filter: Parameters<AuditStore['query']>[0]) =>
        (await store.query({ ...filter, order: 'asc' })).events.map((e) => e.id);
      expect(await ids({ agent: 'id-a' })).toEqual([a.id]);
      expect(await ids({ agent: 'Alpha' })).toEqual([a.id]);
      expect(await ids({ action: 'write:*' })).toEqual([c.id]);
      expect(await ids({ action: '*:*' })).toEqual([a.id, b.id, c.id]);
      expect(await ids({ action: 'read:customer_data' })).toEqual([a.id]);
      expect(await ids({ effect: 'deny' })).toEqual([b.id]);
      expect(await ids({ framework: 'bedrock' })).toEqual([b.id]);
      expect(await ids({ kind: 'handoff' })).toEqual([b.id]);
      expect(await ids({ traceId: 't2' })).toEqual([b.id, c.id]);
      expect(await ids({ type: 'outcome' })).toEqual([c.id]);
      expect(await ids({ decisionId: b.decisionId })).toEqual([b.id]);
      expect(await ids({ since: b.ts })).toEqual([b.id, c.id]);
      expect(await ids({ until: b.ts })).toEqual([a.id]);
    });

    it('finds a renamed framework under either spelling (bedrock, once bedrock-agents)', async () => {
      const store = await fresh();
      const old = makeEventBody({ framework: 'bedrock-agents' });
      const now = makeEventBody({ framework: 'bedrock' });
      const other = makeEventBody({ framework: 'vertex' });
      await store.append([old, now, other]);
      const ids = async (framework: string) =>
        (await store.query({ framework, order: 'asc' })).events.map((e) => e.id);
      expect(await ids('bedrock')).toEqual([old.id, now.id]);
      expect(await ids('bedrock-agents')).toEqual([old.id, now.id]);
      expect(await ids('vertex')).toEqual([other.id]);
      expect(await ids('bedrock-agent')).toEqual([]);
    });

    it('pages newest or oldest first with an opaque cursor', async () => {
      const store = await fresh();
      const bodies = Array.from({ length: 7 }, () => makeEventBody());
      await store.append(bodies);
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.query({ limit: 3, order: 'desc', ...(cursor ? { cursor } : {}) });
        seen.push(...page.events.map((e) => e.id));
        cursor = page.nextCursor;
      } while (cursor);
      expect(seen).toEqual(bodies.map((b) => b.id).reverse());
      const first = await store.query({ limit: 2, order: 'asc' });
      expect(first.events.map((e) => e.id)).toEqual([bodies[0]!.id, bodies[1]!.id]);
      await expect(store.query({ cursor: 'garbage' })).rejects.toThrow(/cursor/);
    });
  });
}
