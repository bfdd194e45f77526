import type { ApprovalRequest, ApprovalStore, ParsedApprovalListQuery } from '@meshguard/core';
import { afterEach, describe, expect, it } from 'vitest';

let counter = 0;
const HOUR = 3_600_000;
const BASE = Date.UTC(2026, 0, 5, 10, 0, 0);
const at = (ms: number) => new Date(BASE + ms).toISOString();

/**
 * A pending approval request with defaults, for store tests: requested at 2026-01-05T10:00Z plus
 * a second per request made, expiring an hour after.
 */
export function makeApprovalRequest(overrides: Partial<ApprovalRequest> = {}): ApprovalRequest {
  counter++;
  return {
    id: `apr_test_${String(counter).padStart(8, '0')}`,
    decisionId: `d-apr-${counter}`,
    traceId: 'trace_a',
    agent: { id: 'agent-1', name: 'Support', tags: ['support'], tier: 'verified' },
    framework: 'test',
    kind: 'tool',
    action: 'write:refund',
    arguments: { amount: 150, order: 'A-1' },
    argumentsHash: 'a'.repeat(64),
    reason: 'refunds over 100 need a person',
    status: 'pending',
    requestedAt: at(counter * 1000),
    expiresAt: at(counter * 1000 + HOUR),
    approvers: ['finance'],
    notify: [],
    ...overrides,
  };
}

const list = (query: Partial<ParsedApprovalListQuery> = {}): ParsedApprovalListQuery => ({
  limit: 100,
  ...query,
});

/**
 * The suite every `ApprovalStore` passes (memory, SQLite, PostgreSQL): round trips, idempotent
 * creates, listings, the first answer winning, one use per approval, expiry and purging.
 * `open` returns a fresh, empty store (closed after each test when it has `close`).
 */
export function describeApprovalStore(name: string, open: () => Promise<ApprovalStore>): void {
  describe(`${name} approval store`, () => {
    const opened: ApprovalStore[] = [];
    const fresh = async () => {
      const store = await open();
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      for (const store of opened.splice(0)) await (store as { close?: () => Promise<void> }).close?.();
    });

    it('gives back what it stored, exactly, and nothing for an unknown id', async () => {
      const store = await fresh();
      const request = makeApprovalRequest({
        traceId: 'trace_ünïcödé_✓',
        agent: { id: 'agent-ß', name: 'Sœur 🤖', tags: ['a', 'b'], tier: 'basic' },
        policy: { name: 'refunds', version: '3' },
        rule: { id: 'big-refunds', index: 2 },
        arguments: {
          amount: 150.25,
          negative: -1e-7,
          big: 9_007_199_254_740_991,
          flag: false,
          none: null,
          empty: '',
          text: '日本語 — مرحبا — e\u0301 — 🧾 — "quoted" \\ back\nline\ttab',
          nul: 'a\u0000b',
          nested: { list: [1, 'two', [3, { four: 4 }], null, true], deeper: { deepest: {} } },
          items: [],
        },
        approvers: [],
        notify: ['slack-finance', 'pager'],
      });
      await store.createApproval(request);
      expect(await store.getApproval(request.id)).toStrictEqual(request);
      expect(await store.getApproval('apr_missing')).toBeUndefined();
      expect(await store.answerApproval('apr_missing', { status: 'approved', by: 'x', at: at(0) })).toBe(
        undefined,
      );
      expect(await store.useApproval('apr_missing', at(0))).toBe(false);
      // What a caller does with a request it got does not change the stored one.
      const got = (await store.getApproval(request.id))!;
      (got.arguments.nested as { list: unknown[] }).list.push('x');
      expect(await store.getApproval(request.id)).toStrictEqual(request);
    });

    it('keeps the first of two creates with one id (a retried create)', async () => {
      const store = await fresh();
      const request = makeApprovalRequest();
      await store.createApproval(request);
      await store.createApproval({ ...request, reason: 'another', arguments: { other: 1 } });
      await Promise.all([store.createApproval(request), store.createApproval(request)]);
      expect(await store.getApproval(request.id)).toStrictEqual(request);
      expect((await store.listApprovals(list())).approvals).toHaveLength(1);
    });

    it('lists newest first, by status, agent and trace, a page at a time', async () => {
      const store = await fresh();
      const other = { id: 'agent-2', name: 'Other', tags: [], tier: 'basic' as const };
      const made = Array.from({ length: 7 }, (_, i) =>
        makeApprovalRequest({
          ...(i % 3 === 0 ? { agent: other } : {}),
          traceId: i < 4 ? 'trace_one' : 'trace_two',
        }),
      );
      for (const request of made) await store.createApproval(request);
      await store.answerApproval(made[1]!.id, { status: 'approved', by: 'ann', at: at(10) });
      await store.answerApproval(made[4]!.id, { status: 'rejected', by: 'bob', at: at(11) });
      const ids = (page: { approvals: ApprovalRequest[] }) => page.approvals.map((a) => a.id);
      const newest = made.map((r) => r.id).reverse();

      expect(ids(await store.listApprovals(list()))).toEqual(newest);
      const pending = await store.listApprovals(list({ status: 'pending' }));
      expect(ids(pending)).toEqual(newest.filter((id) => id !== made[1]!.id && id !== made[4]!.id));
      expect(pending.nextCursor).toBeUndefined();
      expect(ids(await store.listApprovals(list({ status: 'approved' })))).toEqual([made[1]!.id]);
      expect(ids(await store.listApprovals(list({ agent: 'agent-2' })))).toEqual([
        made[6]!.id,
        made[3]!.id,
        made[0]!.id,
      ]);
      expect(ids(await store.listApprovals(list({ traceId: 'trace_two', status: 'pending' })))).toEqual([
        made[6]!.id,
        made[5]!.id,
      ]);
      expect(ids(await store.listApprovals(list({ agent: 'nobody' })))).toEqual([]);

      const seen: string[] = [];
      const pages: number[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listApprovals(list({ limit: 3, ...(cursor ? { cursor } : {}) }));
        seen.push(...ids(page));
        pages.push(page.approvals.length);
        cursor = page.nextCursor;
      } while (cursor);
      expect(seen).toEqual(newest);
      expect(pages).toEqual([3, 3, 1]);
      // A last page that is exactly full says no more remain; so does a filter's.
      const six = await store.listApprovals(list({ limit: 6, cursor: made[6]!.id }));
      expect(ids(six)).toEqual(newest.slice(1));
      expect(six.nextCursor).toBeUndefined();
      const byAgent = await store.listApprovals(list({ agent: 'agent-2', limit: 2 }));
      expect(ids(byAgent)).toEqual([made[6]!.id, made[3]!.id]);
      const rest = await store.listApprovals(
        list({ agent: 'agent-2', limit: 2, cursor: byAgent.nextCursor! }),
      );
      expect(rest).toEqual({ approvals: [expect.objectContaining({ id: made[0]!.id })] });
      // An unknown cursor ends the listing.
      expect(await store.listApprovals(list({ cursor: 'apr_unknown' }))).toEqual({ approvals: [] });
    });

    it('lets the first of two answers win, and keeps it', async () => {
      const store = await fresh();
      const request = makeApprovalRequest();
      await store.createApproval(request);
      const [a, b] = await Promise.all([
        store.answerApproval(request.id, { status: 'approved', by: 'ann', at: at(5), comment: 'ok' }),
        store.answerApproval(request.id, { status: 'rejected', by: 'bob', at: at(6), comment: 'no' }),
      ]);
      expect([a!.changed, b!.changed].sort()).toEqual([false, true]);
      const winner = a!.changed ? a! : b!;
      const loser = a!.changed ? b! : a!;
      expect(loser.approval).toStrictEqual(winner.approval);
      expect(await store.getApproval(request.id)).toStrictEqual(winner.approval);
      expect(winner.approval).toStrictEqual(
        a!.changed
          ? { ...request, status: 'approved', answeredBy: 'ann', answeredAt: at(5), comment: 'ok' }
          : { ...request, status: 'rejected', answeredBy: 'bob', answeredAt: at(6), comment: 'no' },
      );
      const late = await store.answerApproval(request.id, {
        status: 'cancelled',
        by: 'meshguard',
        at: at(7),
      });
      expect(late).toStrictEqual({ changed: false, approval: winner.approval });

      const plain = makeApprovalRequest();
      await store.createApproval(plain);
      const answered = await store.answerApproval(plain.id, {
        status: 'rejected',
        by: 'carol',
        at: at(8),
        comment: 'not this one\u0000 ✗',
      });
      expect(answered).toStrictEqual({
        changed: true,
        approval: {
          ...plain,
          status: 'rejected',
          answeredBy: 'carol',
          answeredAt: at(8),
          comment: 'not this one\u0000 ✗',
        },
      });
      const silent = makeApprovalRequest();
      await store.createApproval(silent);
      const cancelled = await store.answerApproval(silent.id, {
        status: 'cancelled',
        by: 'agent',
        at: at(9),
      });
      expect(cancelled!.approval).toStrictEqual({
        ...silent,
        status: 'cancelled',
        answeredBy: 'agent',
        answeredAt: at(9),
      });
    });

    it('lets an approval through once, and only an approved one', async () => {
      const store = await fresh();
      const [approved, rejected, pending] = [
        makeApprovalRequest(),
        makeApprovalRequest(),
        makeApprovalRequest(),
      ];
      for (const request of [approved, rejected, pending]) await store.createApproval(request!);
      await store.answerApproval(approved!.id, { status: 'approved', by: 'ann', at: at(5) });
      await store.answerApproval(rejected!.id, { status: 'rejected', by: 'ann', at: at(5) });
      expect(await store.useApproval(pending!.id, at(6))).toBe(false);
      expect(await store.useApproval(rejected!.id, at(6))).toBe(false);
      const uses = await Promise.all([
        store.useApproval(approved!.id, at(6)),
        store.useApproval(approved!.id, at(7)),
      ]);
      expect(uses.filter(Boolean)).toHaveLength(1);
      expect(await store.useApproval(approved!.id, at(8))).toBe(false);
      const used = (await store.getApproval(approved!.id))!;
      expect(used).toMatchObject({ status: 'approved', usedAt: uses[0] ? at(6) : at(7) });
      expect((await store.getApproval(pending!.id))!.usedAt).toBeUndefined();
    });

    it('expires the pending requests at or past their deadline, once', async () => {
      const store = await fresh();
      const deadline = at(HOUR);
      const past = makeApprovalRequest({ expiresAt: at(HOUR - 1) });
      const exactly = makeApprovalRequest({ expiresAt: deadline });
      const later = makeApprovalRequest({ expiresAt: at(HOUR + 1) });
      const answered = makeApprovalRequest({ expiresAt: at(HOUR - 5) });
      for (const request of [past, exactly, later, answered]) await store.createApproval(request);
      await store.answerApproval(answered.id, { status: 'approved', by: 'ann', at: at(1) });

      const expired = await store.expireApprovals(deadline);
      expect(expired).toStrictEqual(
        [past, exactly].map((request) => ({
          ...request,
          status: 'expired',
          answeredBy: 'meshguard',
          answeredAt: deadline,
        })),
      );
      expect(await store.expireApprovals(deadline)).toEqual([]);
      expect((await store.getApproval(past.id))!.status).toBe('expired');
      expect((await store.getApproval(later.id))!.status).toBe('pending');
      expect((await store.getApproval(answered.id))!.status).toBe('approved');
      // An expired request takes no answer.
      expect(
        (await store.answerApproval(past.id, { status: 'approved', by: 'ann', at: at(HOUR + 2) }))!.changed,
      ).toBe(false);
      expect((await store.listApprovals(list({ status: 'expired' }))).approvals.map((a) => a.id)).toEqual([
        exactly.id,
        past.id,
      ]);
    });

    it('purges the arguments of requests that ended before a time, keeping their hash', async () => {
      const store = await fresh();
      const early = makeApprovalRequest({ arguments: { card: '4111', nested: { a: [1] } } });
      const late = makeApprovalRequest();
      const pending = makeApprovalRequest({ expiresAt: at(-HOUR) });
      const expired = makeApprovalRequest({ expiresAt: at(-HOUR) });
      for (const request of [early, late, pending, expired]) await store.createApproval(request);
      await store.answerApproval(early.id, { status: 'approved', by: 'ann', at: at(10) });
      await store.answerApproval(late.id, { status: 'rejected', by: 'ann', at: at(30) });
      await store.answerApproval(expired.id, { status: 'expired', by: 'meshguard', at: at(20) });

      const before = Date.now();
      expect(await store.purgeApprovalArguments(at(30))).toBe(2);
      const purged = (await store.getApproval(early.id))!;
      expect(purged).toStrictEqual({
        ...early,
        arguments: {},
        status: 'approved',
        answeredBy: 'ann',
        answeredAt: at(10),
        argumentsPurgedAt: expect.any(String),
      });
      expect(purged.argumentsHash).toBe(early.argumentsHash);
      expect(Date.parse(purged.argumentsPurgedAt!)).toBeGreaterThanOrEqual(before - 1000);
      expect((await store.getApproval(expired.id))!.arguments).toEqual({});
      expect((await store.getApproval(late.id))!.arguments).toStrictEqual(late.arguments);
      expect((await store.getApproval(pending.id))!.arguments).toStrictEqual(pending.arguments);
      expect(await store.purgeApprovalArguments(at(30))).toBe(0);
      expect((await store.getApproval(early.id))!.argumentsPurgedAt).toBe(purged.argumentsPurgedAt);
      // Purged, it still takes its one use.
      expect(await store.useApproval(early.id, at(40))).toBe(true);
    });
  });
}
