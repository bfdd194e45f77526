import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuditEventBody, createMemoryStore } from '@meshguard/core';
import { canFollow, canJournal, canReportStats, wrapAuditStore } from '@meshguard/core/internal';
import { openSqliteGatewayState, openSqliteStore } from '@meshguard/store';
import { makeEventBody } from '@meshguard/store/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from './gateway-app';
import { countingAuditStore, createGatewayMetrics } from './gateway-metrics';

const ADMIN = 'admin-token-for-tests-0123456789';
const POLICY = {
  name: 'read.yaml',
  text: 'name: read\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["read:*"]\n',
};

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshguard-gateway-store-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'meshguard.db');
}

async function queueDepth(metrics: ReturnType<typeof createGatewayMetrics>): Promise<number> {
  const metric = await metrics.registry.getSingleMetric('meshguard_audit_queue_depth')!.get();
  return metric.values[0]!.value;
}

describe("the gateway's store", () => {
  it('keeps every capability of the store it counts for: on SQLite, the journal', async () => {
    const sqlite = openSqliteStore(tempDb());
    cleanups.push(() => sqlite.close());
    const counted = countingAuditStore(sqlite, createGatewayMetrics());
    expect([canJournal(counted), canFollow(counted), canReportStats(counted)]).toEqual([true, true, true]);
    const memory = countingAuditStore(createMemoryStore(), createGatewayMetrics());
    expect([canJournal(memory), canFollow(memory), canReportStats(memory)]).toEqual([false, false, false]);
  });

  it('counts as its queue depth the events of appends in flight and the journal not yet committed', async () => {
    const metrics = createGatewayMetrics();
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const inner = createMemoryStore();
    const slow = wrapAuditStore(inner, {
      append: async (events: readonly AuditEventBody[]) => {
        await held;
        return inner.append(events);
      },
    });
    const store = countingAuditStore(slow, metrics);
    const appending = store.append([makeEventBody(), makeEventBody()]);
    expect(await queueDepth(metrics)).toBe(2);
    release();
    await appending;
    expect(await queueDepth(metrics)).toBe(0);

    const journaled = countingAuditStore(
      Object.defineProperties(createMemoryStore(), {
        journal: { value: () => undefined },
        journalBacklog: { value: 3 },
      }),
      metrics,
    );
    expect(canJournal(journaled)).toBe(true);
    expect(await queueDepth(metrics)).toBe(3);
  });

  it('on SQLite, records a decision through journal(), not append(), and a query reads it at once', async () => {
    const path = tempDb();
    const inner = openSqliteStore(path);
    if (!canJournal(inner)) throw new Error('a writable SQLite store on a file journals');
    const calls = { journal: 0, append: 0 };
    const store = wrapAuditStore<typeof inner>(inner, {
      journal: (events: readonly AuditEventBody[]) => {
        calls.journal += events.length;
        return inner.journal(events);
      },
      append: (events: readonly AuditEventBody[]) => {
        calls.append += events.length;
        return inner.append(events);
      },
    });
    const gateway: Gateway = await createGateway({
      store,
      state: openSqliteGatewayState(path),
      adminToken: ADMIN,
      policies: [POLICY],
    });
    cleanups.push(async () => {
      await gateway.close();
      await inner.close();
    });
    const admin = { authorization: `Bearer ${ADMIN}` };
    const created = await gateway.app.inject({
      method: 'POST',
      url: '/v1/agents',
      headers: admin,
      payload: { name: 'reader', tags: [], tier: 'basic' },
    });
    const { token } = created.json() as { token: string };
    const checked = await gateway.app.inject({
      method: 'POST',
      url: '/v1/check',
      headers: { authorization: `Bearer ${token}` },
      payload: { action: 'read:orders', traceId: 'trace_journal' },
    });
    expect(checked.json()).toMatchObject({ allowed: true });
    expect(calls).toEqual({ journal: 1, append: 0 });
    const page = await gateway.app.inject({
      method: 'GET',
      url: '/v1/audit?traceId=trace_journal',
      headers: admin,
    });
    expect(page.json().events.map((e: { action: string }) => e.action)).toEqual(['read:orders']);
  });
});
