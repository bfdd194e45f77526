import { existsSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmbeddedGuard, createPolicyEngine, parsePolicies } from '@meshguard/core';
import { canKeepApprovals, canNotifyApprovals } from '@meshguard/core/internal';
import { describe, expect, it } from 'vitest';
import { makeApprovalRequest } from './approval-store-suite';
import { openSqlite } from './sqlite-driver';
import { openSqliteStore, SQLITE_SCHEMA_VERSION } from './sqlite-store';
import { answerInTwoProcesses, OPEN_SQLITE } from './test-helpers/answer-race';
import { makeEventBody } from './testing';

const tempDb = async () => join(await mkdtemp(join(tmpdir(), 'mg-sqlite-approvals-')), 'audit.db');

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
`;

describe('approval requests in the SQLite store', () => {
  it('turns approvals on for the embedded guard: asked, approved, let through once', async () => {
    const path = await tempDb();
    const store = openSqliteStore(path);
    expect(canKeepApprovals(store)).toBe(true);
    expect(canNotifyApprovals(store)).toBe(false);
    const guard = createEmbeddedGuard({
      engine: createPolicyEngine(parsePolicies(POLICY)),
      store,
      ownsStore: true,
    });
    const agent = { id: 'bot', name: 'support-bot', tags: ['support'], tier: 'basic' as const };
    const call = {
      action: 'write:refund',
      agent,
      traceId: 'trace-g',
      context: { amount: 150, password: 'hunter2' },
    };
    const asked = await guard.check(call);
    expect(asked.effect).toBe('require_approval');
    const id = asked.approval!.id;
    await guard.approvals!.answer(id, { approve: true, by: 'ann' });
    expect((await guard.check({ ...call, approvalId: id })).effect).toBe('allow');
    expect((await guard.check({ ...call, approvalId: id })).effect).toBe('deny');
    await guard.close();
    // The arguments are in the request, exactly; the trail holds them redacted, chained and whole.
    const again = openSqliteStore(path);
    expect((await again.getApproval(id))!.arguments).toEqual({ amount: 150, password: 'hunter2' });
    const trail = await again.query({ traceId: 'trace-g', order: 'asc' });
    expect(trail.events.map((e) => e.type)).toEqual([
      'decision',
      'approval_requested',
      'approval_granted',
      'decision',
      'decision',
    ]);
    expect(JSON.stringify(trail.events)).not.toContain('hunter2');
    expect(await again.verify()).toMatchObject({ ok: true, checked: 5 });
    await again.close();
  });

  it('lets exactly one of two processes answering at once win each request', async () => {
    const path = await tempDb();
    const store = openSqliteStore(path);
    const requests = Array.from({ length: 40 }, () => makeApprovalRequest());
    for (const request of requests) await store.createApproval(request);
    // Journaled, then committed behind: other processes see them once committed (a read here waits).
    await store.getApproval(requests[0]!.id);
    const { a, b } = await answerInTwoProcesses(
      OPEN_SQLITE,
      path,
      '',
      requests.map((r) => r.id),
    );
    expect(a.map((won, i) => won !== b[i])).toEqual(requests.map(() => true));
    // Each won some: they met on the same requests, answering at once.
    expect(a.filter(Boolean).length).toBeGreaterThan(0);
    expect(b.filter(Boolean).length).toBeGreaterThan(0);
    for (const [i, request] of requests.entries()) {
      const stored = (await store.getApproval(request.id))!;
      expect(stored).toMatchObject(
        a[i] ? { status: 'approved', answeredBy: 'a' } : { status: 'rejected', answeredBy: 'b' },
      );
    }
    await store.close();
  });

  it('refuses approvals on a read-only or closed store, as it refuses appends', async () => {
    const path = await tempDb();
    const writer = openSqliteStore(path);
    const request = makeApprovalRequest();
    await writer.createApproval(request);
    const reader = openSqliteStore(path, { readonly: true });
    await expect(reader.getApproval(request.id)).rejects.toMatchObject({ code: 'store_readonly' });
    await expect(reader.createApproval(makeApprovalRequest())).rejects.toThrow(/read-only/);
    await expect(reader.expireApprovals(new Date().toISOString())).rejects.toMatchObject({
      code: 'store_readonly',
    });
    await reader.close();
    await writer.close();
    await expect(writer.getApproval(request.id)).rejects.toMatchObject({ code: 'store_closed' });
  });

  it('upgrades a schema 2 file in place, keeping its events, and adds the approval requests', async () => {
    const path = await tempDb();
    // Schema 2 is schema 3 without the approval requests' table.
    const old = openSqliteStore(path);
    const events = await old.append(Array.from({ length: 5 }, () => makeEventBody()));
    await old.close();
    const raw = openSqlite(path);
    raw.exec(
      `DROP TABLE approval_requests; UPDATE meshguard_meta SET value = '2' WHERE key = 'schema_version';`,
    );
    raw.close();

    // Read-only, it is read as it is, and keeps no approval requests.
    const reader = openSqliteStore(path, { readonly: true });
    expect((await reader.query({ order: 'asc' })).events).toEqual(events);
    await expect(reader.listApprovals({ limit: 10 })).rejects.toMatchObject({ code: 'store_readonly' });
    await reader.close();

    const writer = openSqliteStore(path);
    expect((await writer.query({ order: 'asc' })).events).toEqual(events);
    const request = makeApprovalRequest();
    await writer.createApproval(request);
    expect(await writer.getApproval(request.id)).toStrictEqual(request);
    const [next] = await writer.append([makeEventBody()]);
    expect(next).toMatchObject({ seq: 6, prevHash: events[4]!.hash });
    expect(await writer.verify()).toMatchObject({ ok: true, checked: 6 });
    await writer.close();
    const after = openSqlite(path, { readonly: true });
    expect(after.prepare("SELECT value FROM meshguard_meta WHERE key = 'schema_version'").get()).toEqual({
      value: String(SQLITE_SCHEMA_VERSION),
    });
    // The same table and indexes as a new file's.
    const fresh = openSqliteStore(await tempDb());
    const created = openSqlite(fresh.path, { readonly: true });
    const approvalSchema =
      "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'approval_requests' ORDER BY name";
    expect(after.prepare(approvalSchema).all()).toEqual(created.prepare(approvalSchema).all());
    created.close();
    await fresh.close();
    after.close();
  });

  it('keeps the database, -wal and -shm 0600 with approval requests in it, whatever the umask', async () => {
    const umask = process.umask(0);
    try {
      const path = await tempDb();
      const store = openSqliteStore(path);
      await store.createApproval(makeApprovalRequest());
      await store.append([makeEventBody()]);
      for (const file of [path, `${path}-wal`, `${path}-shm`]) {
        expect(existsSync(file), file).toBe(true);
        expect(statSync(file).mode & 0o777, file).toBe(0o600);
      }
      await store.close();
    } finally {
      process.umask(umask);
    }
  });
});
