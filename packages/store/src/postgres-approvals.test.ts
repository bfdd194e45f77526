import { createEmbeddedGuard, createPolicyEngine, parsePolicies } from '@meshguard/core';
import { canKeepApprovals, canNotifyApprovals } from '@meshguard/core/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { makeApprovalRequest } from './approval-store-suite';
import { approvalChannel } from './postgres-approvals';
import { openPostgresStore, type PostgresAuditStore, type PostgresStoreOptions } from './postgres-store';
import { answerInTwoProcesses, OPEN_POSTGRES } from './test-helpers/answer-race';
import { freshSchema, PG_URL, raw } from './test-helpers/postgres';
import { makeEventBody } from './testing';

const opened: PostgresAuditStore[] = [];
const open = async (schema: string, options: PostgresStoreOptions = {}) => {
  const store = await openPostgresStore(PG_URL!, { schema, ...options });
  opened.push(store);
  return store;
};
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

/** The backends LISTENing for the approvals of `schema`. */
const listeners = (schema: string) =>
  raw(async (c) =>
    (
      await c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE query = $1', [
        `LISTEN "${approvalChannel(schema)}"`,
      ])
    ).rows.map((r) => r.pid),
  );

/** Resolves once `check` is true (looked at every 20 ms), or fails after `ms`. */
async function until(check: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`not so within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Ids heard by a listener on `store`, and a way to wait for one. */
function hearing(store: PostgresAuditStore) {
  const heard: Array<{ id: string; at: number }> = [];
  const stop = store.onApprovalChange((id) => heard.push({ id, at: Date.now() }));
  const heardAt = async (id: string, since: number) => {
    await until(() => heard.some((h) => h.id === id && h.at >= since), 1000);
    return heard.find((h) => h.id === id && h.at >= since)!.at - since;
  };
  return { heard, stop, heardAt };
}

describe.skipIf(!PG_URL)('approval requests in the PostgreSQL store (needs MESHGUARD_TEST_PG_URL)', () => {
  it('tells a listener on one instance of each change made through another, within a second', async () => {
    const schema = freshSchema();
    const a = await open(schema);
    const b = await open(schema);
    expect(canKeepApprovals(a) && canNotifyApprovals(a)).toBe(true);
    const { heardAt, stop } = hearing(a);
    await until(async () => (await listeners(schema)).length === 1);

    const request = makeApprovalRequest({ expiresAt: new Date(Date.now() + 60_000).toISOString() });
    let since = Date.now();
    await b.createApproval(request);
    expect(await heardAt(request.id, since)).toBeLessThan(1000);
    since = Date.now();
    await b.answerApproval(request.id, { status: 'approved', by: 'ann', at: new Date().toISOString() });
    expect(await heardAt(request.id, since)).toBeLessThan(1000);
    since = Date.now();
    expect(await b.useApproval(request.id, new Date().toISOString())).toBe(true);
    expect(await heardAt(request.id, since)).toBeLessThan(1000);
    const late = makeApprovalRequest({ expiresAt: new Date(Date.now() - 1).toISOString() });
    await b.createApproval(late);
    since = Date.now();
    expect(await b.expireApprovals(new Date().toISOString())).toHaveLength(1);
    expect(await heardAt(late.id, since)).toBeLessThan(1000);

    // The last listener gone, so is the connection; a new one listens again.
    stop();
    await until(async () => (await listeners(schema)).length === 0);
    const again = hearing(a);
    await until(async () => (await listeners(schema)).length === 1);
    const other = makeApprovalRequest();
    since = Date.now();
    await b.createApproval(other);
    expect(await again.heardAt(other.id, since)).toBeLessThan(1000);
    await a.close();
    await until(async () => (await listeners(schema)).length === 0);
  });

  it('listens again after its LISTEN connection is lost', async () => {
    const schema = freshSchema();
    const a = await open(schema);
    const b = await open(schema);
    const { heardAt } = hearing(a);
    await until(async () => (await listeners(schema)).length === 1);
    const [killed] = await listeners(schema);
    await raw((c) => c.query('SELECT pg_terminate_backend($1)', [killed]));
    await until(async () => (await listeners(schema)).some((pid) => pid !== killed));
    const request = makeApprovalRequest();
    await b.createApproval(request);
    const since = Date.now();
    await b.answerApproval(request.id, { status: 'rejected', by: 'bob', at: new Date().toISOString() });
    expect(await heardAt(request.id, since)).toBeLessThan(1000);
  });

  it("wakes a guard's waiter on one replica when an approver answers on another", async () => {
    const schema = freshSchema();
    const policies = parsePolicies(`
name: wires
version: "1"
rules:
  - effect: require_approval
    actions: ["write:wire"]
    approval: { expiresIn: 5m }
`);
    const engine = createPolicyEngine(policies);
    const one = createEmbeddedGuard({ engine, store: await open(schema) });
    const two = createEmbeddedGuard({ engine, store: await open(schema) });
    const agent = { id: 'bot', name: 'bot', tags: [], tier: 'basic' as const };
    const asked = await one.check({ action: 'write:wire', agent, context: { iban: 'DE00', amount: 10 } });
    const id = asked.approval!.id;
    const waiting = one.approvals!.wait(id, { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const since = Date.now();
    await two.approvals!.answer(id, { approve: true, by: 'ann' });
    expect(await waiting).toMatchObject({ id, status: 'approved', answeredBy: 'ann' });
    expect(Date.now() - since).toBeLessThan(1000);
    expect(
      (
        await two.check({
          action: 'write:wire',
          agent,
          context: { iban: 'DE00', amount: 10 },
          approvalId: id,
        })
      ).effect,
    ).toBe('allow');
    expect(
      (
        await one.check({
          action: 'write:wire',
          agent,
          context: { iban: 'DE00', amount: 10 },
          approvalId: id,
        })
      ).effect,
    ).toBe('deny');
    await one.close();
    await two.close();
  });

  it('lets exactly one of two processes answering at once win each request', async () => {
    const schema = freshSchema();
    const store = await open(schema);
    const requests = Array.from({ length: 40 }, () => makeApprovalRequest());
    for (const request of requests) await store.createApproval(request);
    const { a, b } = await answerInTwoProcesses(
      OPEN_POSTGRES,
      PG_URL!,
      schema,
      requests.map((r) => r.id),
    );
    expect(a.map((won, i) => won !== b[i])).toEqual(requests.map(() => true));
    expect(a.filter(Boolean).length).toBeGreaterThan(0);
    expect(b.filter(Boolean).length).toBeGreaterThan(0);
    for (const [i, request] of requests.entries()) {
      expect(await store.getApproval(request.id)).toMatchObject(
        a[i] ? { status: 'approved', answeredBy: 'a' } : { status: 'rejected', answeredBy: 'b' },
      );
    }
  });

  it('refuses approvals on a read-only or closed store, and finds nothing under an id PostgreSQL cannot hold', async () => {
    const schema = freshSchema();
    const writer = await open(schema);
    const request = makeApprovalRequest({ traceId: 'trace\u0000nul' });
    await writer.createApproval(request);
    expect(await writer.getApproval(request.id)).toStrictEqual(request);
    expect((await writer.listApprovals({ traceId: 'trace\u0000nul', limit: 5 })).approvals).toHaveLength(1);
    expect(await writer.getApproval('apr\u0000x')).toBeUndefined();
    expect(await writer.listApprovals({ cursor: 'apr\u0000x', limit: 5 })).toEqual({ approvals: [] });
    const reader = await open(schema, { readonly: true });
    await expect(reader.getApproval(request.id)).rejects.toMatchObject({ code: 'store_readonly' });
    await expect(
      reader.answerApproval(request.id, { status: 'approved', by: 'x', at: request.requestedAt }),
    ).rejects.toThrow(/read-only/);
    await writer.close();
    await expect(writer.createApproval(makeApprovalRequest())).rejects.toMatchObject({
      code: 'store_closed',
    });
  });

  it('upgrades a schema 1 store in place, keeping its events, and adds the approval requests', async () => {
    const schema = freshSchema();
    const s = `"${schema}"`;
    // Schema 1 is schema 2 without the approval requests' table.
    const old = await openPostgresStore(PG_URL!, { schema, stream: 'main' });
    const events = await old.append(Array.from({ length: 5 }, () => makeEventBody()));
    await old.close();
    await raw(async (c) => {
      await c.query(`DROP TABLE ${s}.approval_requests`);
      await c.query(`UPDATE ${s}.meshguard_meta SET value = '1' WHERE key = 'schema_version'`);
    });

    const reader = await open(schema, { readonly: true });
    expect((await reader.query({ order: 'asc' })).events).toEqual(events);
    await reader.close();
    const version = () =>
      raw(
        async (c) =>
          (await c.query(`SELECT value FROM ${s}.meshguard_meta WHERE key = 'schema_version'`)).rows[0].value,
      );
    expect(await version()).toBe('1');

    // Several writers at once: one upgrades, the others find it done.
    const writers = await Promise.all(
      Array.from({ length: 3 }, (_, i) => open(schema, { stream: `w${i}`, poolSize: 2 })),
    );
    expect(await version()).toBe('2');
    const writer = writers[0]!;
    expect((await writer.query({ order: 'asc' })).events).toEqual(events);
    const request = makeApprovalRequest();
    await writer.createApproval(request);
    expect(await writers[1]!.getApproval(request.id)).toStrictEqual(request);
    await writer.append([makeEventBody()]);
    expect(await writer.verify()).toMatchObject({ ok: true, checked: 6 });
    // The same table and indexes as a new schema's.
    const fresh = freshSchema();
    await open(fresh);
    const shape = (name: string) =>
      raw(async (c) => ({
        columns: (
          await c.query(
            `SELECT column_name, data_type, is_nullable, collation_name, is_identity FROM information_schema.columns
              WHERE table_schema = $1 AND table_name = 'approval_requests' ORDER BY ordinal_position`,
            [name],
          )
        ).rows,
        indexes: (
          await c.query(
            `SELECT indexname, replace(indexdef, $1, 'S') AS def FROM pg_indexes
              WHERE schemaname = $1 AND tablename = 'approval_requests' ORDER BY indexname`,
            [name],
          )
        ).rows,
      }));
    const upgraded = await shape(schema);
    expect(upgraded.indexes).toHaveLength(5);
    expect(upgraded).toEqual(await shape(fresh));
  });
});
