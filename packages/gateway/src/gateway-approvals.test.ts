import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStore, createRemoteGuard } from '@meshguard/core';
import { openSqliteGatewayState } from '@meshguard/store';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from './gateway-app';
import { newSecret } from './notify/notify-fixtures';
import { freePort, startReceiver, waitUntil } from './notify/webhook-test-receiver';

const ADMIN = 'admin-token-for-tests-0123456789';
const POLICY = {
  name: 'support.yaml',
  text: `name: support
version: "1"
appliesTo: { tags: [support] }
rules:
  - id: big-refund
    effect: require_approval
    actions: ["write:refund"]
    conditions: { amount_min: 100.01 }
    reason: Refunds over $100 need a manager
    approval: { expiresIn: 10m, approvers: [finance] }
  - effect: allow
    actions: ["write:refund"]
  - id: wire
    effect: require_approval
    actions: ["write:wire"]
    approval: { expiresIn: 2s }
`,
};

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function start() {
  gateway = await createGateway({
    store: createMemoryStore(),
    state: openSqliteGatewayState(':memory:'),
    adminToken: ADMIN,
    policies: [POLICY],
    approvalSweepMs: 100,
  });
  const app = gateway.app;
  const agentToken = async (name: string) =>
    (
      await app.inject({
        method: 'POST',
        url: '/v1/agents',
        headers: bearer(ADMIN),
        payload: { name, tags: ['support'] },
      })
    ).json().token as string;
  const approverToken = async (name: string, tags: string[]) => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/approvers',
      headers: bearer(ADMIN),
      payload: { name, tags },
    });
    expect(res.statusCode).toBe(201);
    return res.json() as { approver: { id: string }; token: string };
  };
  const check = (token: string, body: Record<string, unknown>) =>
    app.inject({ method: 'POST', url: '/v1/check', headers: bearer(token), payload: body });
  return { app, agentToken, approverToken, check };
}

describe('approvals over the gateway', () => {
  it('a require_approval check opens a request an approver answers; the same call checked again is allowed once', async () => {
    const { app, agentToken, approverToken, check } = await start();
    const agent = await agentToken('support-bot');
    const { token: maria } = await approverToken('maria', ['finance']);
    const refund = { action: 'write:refund', context: { amount: 150, order: 'A-1' }, traceId: 'trace-gw' };
    const asked = (await check(agent, refund)).json();
    expect(asked).toMatchObject({ effect: 'require_approval', approval: { status: 'pending' } });
    const id = asked.approval.id as string;

    const inbox = await app.inject({ url: '/v1/approvals?status=pending', headers: bearer(maria) });
    expect(inbox.statusCode).toBe(200);
    expect(inbox.json().approvals).toEqual([
      expect.objectContaining({ id, arguments: { amount: 150, order: 'A-1' }, approvers: ['finance'] }),
    ]);

    const approved = await app.inject({
      method: 'POST',
      url: `/v1/approvals/${id}/approve`,
      headers: bearer(maria),
      payload: { comment: 'known customer' },
    });
    expect(approved.statusCode).toBe(200);
    expect(approved.json()).toMatchObject({
      status: 'approved',
      answeredBy: 'maria',
      comment: 'known customer',
    });

    const again = await app.inject({
      method: 'POST',
      url: `/v1/approvals/${id}/reject`,
      headers: bearer(ADMIN),
    });
    expect(again.statusCode).toBe(409);

    const allowed = (await check(agent, { ...refund, approvalId: id })).json();
    expect(allowed).toMatchObject({ allowed: true, effect: 'allow', approval: { id, answeredBy: 'maria' } });
    const twice = (await check(agent, { ...refund, approvalId: id })).json();
    expect(twice).toMatchObject({ allowed: false, effect: 'deny' });
    const changed = (
      await check(agent, { ...refund, context: { amount: 150, order: 'B-2' }, approvalId: id })
    ).json();
    expect(changed.effect).toBe('deny');

    const trail = await app.inject({ url: '/v1/audit?traceId=trace-gw&limit=50', headers: bearer(ADMIN) });
    const types = (trail.json().events as Array<{ type: string; actor?: string }>).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['decision', 'approval_requested', 'approval_granted']));
    expect(trail.json().events.find((e: { type: string }) => e.type === 'approval_granted').actor).toBe(
      'maria',
    );
  });

  it('an agent token gets 403 on every approval route; an approver token is no agent token', async () => {
    const { app, agentToken, approverToken, check } = await start();
    const agent = await agentToken('support-bot');
    const { token: maria } = await approverToken('maria', ['finance']);
    const id = (await check(agent, { action: 'write:refund', context: { amount: 150 } })).json().approval.id;
    for (const [method, url] of [
      ['GET', '/v1/approvals'],
      ['GET', `/v1/approvals/${id}`],
      ['POST', `/v1/approvals/${id}/approve`],
      ['POST', `/v1/approvals/${id}/reject`],
    ] as const) {
      const res = await app.inject({ method, url, headers: bearer(agent) });
      expect(res.statusCode, `${method} ${url}`).toBe(403);
    }
    expect(
      (
        await app.inject({
          method: 'POST',
          url: '/v1/approvers',
          headers: bearer(agent),
          payload: { name: 'x' },
        })
      ).statusCode,
    ).toBe(403);
    expect((await check(maria, { action: 'write:refund', context: { amount: 1 } })).statusCode).toBe(403);
    expect((await app.inject({ url: '/v1/audit', headers: bearer(maria) })).statusCode).toBe(401);
    expect(
      (await app.inject({ url: '/v1/approvals', headers: bearer('mga_0123456789abcdef.nope') })).statusCode,
    ).toBe(401);
    expect((await app.inject({ url: '/v1/approvals' })).statusCode).toBe(401);
  });

  it('an approver the rule does not name gets 403; a revoked approver 401', async () => {
    const { app, agentToken, approverToken, check } = await start();
    const agent = await agentToken('support-bot');
    const bob = await approverToken('bob', ['support']);
    const id = (await check(agent, { action: 'write:refund', context: { amount: 150 } })).json().approval.id;
    // bob sees neither the request nor its arguments: the rule names finance.
    expect((await app.inject({ url: '/v1/approvals', headers: bearer(bob.token) })).json().approvals).toEqual(
      [],
    );
    expect((await app.inject({ url: `/v1/approvals/${id}`, headers: bearer(bob.token) })).statusCode).toBe(
      404,
    );
    const refused = await app.inject({
      method: 'POST',
      url: `/v1/approvals/${id}/approve`,
      headers: bearer(bob.token),
    });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().message).toContain('tagged finance');
    const revoked = await app.inject({
      method: 'POST',
      url: `/v1/approvers/${bob.approver.id}/revoke`,
      headers: bearer(ADMIN),
    });
    expect(revoked.statusCode).toBe(204);
    expect((await app.inject({ url: '/v1/approvals', headers: bearer(bob.token) })).statusCode).toBe(401);
    const listed = await app.inject({ url: '/v1/approvers', headers: bearer(ADMIN) });
    expect(listed.json().approvers[0]).toMatchObject({ name: 'bob', revokedAt: expect.any(String) });
    expect(JSON.stringify(listed.json())).not.toContain(bob.token.split('.')[1]);
  });

  it('the agent waits on its own request (long poll) and wakes on the answer; another agent gets 404', async () => {
    const { app, agentToken, check } = await start();
    const agent = await agentToken('support-bot');
    const other = await agentToken('other-bot');
    const id = (await check(agent, { action: 'write:refund', context: { amount: 150 } })).json().approval.id;
    expect((await app.inject({ url: `/v1/agent/approvals/${id}`, headers: bearer(other) })).statusCode).toBe(
      404,
    );
    const waiting = app.inject({ url: `/v1/agent/approvals/${id}?waitMs=5000`, headers: bearer(agent) });
    const started = Date.now();
    setTimeout(
      () =>
        void app.inject({
          method: 'POST',
          url: `/v1/approvals/${id}/reject`,
          headers: bearer(ADMIN),
          payload: { comment: 'not this one' },
        }),
      50,
    );
    const answered = (await waiting).json();
    expect(answered).toMatchObject({ id, status: 'rejected', answeredBy: 'admin', comment: 'not this one' });
    expect(answered.arguments).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('the sweeper expires a request past its deadline: recorded, and the call is denied', async () => {
    const { app, agentToken, check } = await start();
    const agent = await agentToken('support-bot');
    const id = (await check(agent, { action: 'write:wire', context: { to: 'x' } })).json().approval.id;
    const waited = (
      await app.inject({ url: `/v1/agent/approvals/${id}?waitMs=5000`, headers: bearer(agent) })
    ).json();
    expect(waited.status).toBe('expired');
    const late = await app.inject({
      method: 'POST',
      url: `/v1/approvals/${id}/approve`,
      headers: bearer(ADMIN),
    });
    expect(late.statusCode).toBe(409);
    const denied = (
      await check(agent, { action: 'write:wire', context: { to: 'x' }, approvalId: id })
    ).json();
    expect(denied).toMatchObject({ effect: 'deny', reason: expect.stringContaining('expired') });
    const events = (
      await app.inject({ url: '/v1/audit?type=approval_expired', headers: bearer(ADMIN) })
    ).json().events;
    expect(events).toHaveLength(1);
  });

  it('a remote guard waits on its request over HTTP and, once approved, the call is allowed once', async () => {
    const { app, agentToken } = await start();
    const token = await agentToken('support-bot');
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const guard = createRemoteGuard({
      url,
      agentToken: token,
      spoolDir: mkdtempSync(join(tmpdir(), 'mg-spool-')),
    });
    try {
      const request = {
        action: 'write:refund',
        agent: { id: 'x', name: 'x', tags: [], tier: 'basic' as const },
        context: { amount: 150 },
      };
      const asked = await guard.check(request);
      const id = asked.approval!.id;
      expect(await guard.approvalStatus(id)).toMatchObject({ id, status: 'pending' });
      expect(await guard.approvalStatus('apr_unknown')).toBeUndefined();
      const waiting = guard.approvalStatus(id, { waitMs: 10_000 });
      setTimeout(
        () => void app.inject({ method: 'POST', url: `/v1/approvals/${id}/approve`, headers: bearer(ADMIN) }),
        50,
      );
      expect(await waiting).toMatchObject({ status: 'approved', answeredBy: 'admin' });
      expect(await guard.check({ ...request, approvalId: id })).toMatchObject({ allowed: true });
      expect(await guard.check({ ...request, approvalId: id })).toMatchObject({ allowed: false });
    } finally {
      await guard.close();
    }
  });

  it('an opened request reaches a webhook, signed (verified by the receiver); a deny reaches a channel that asked for denies', async () => {
    const secret = newSecret();
    const receiver = await startReceiver({ secret });
    const slack = await startReceiver();
    try {
      gateway = await createGateway({
        store: createMemoryStore(),
        state: openSqliteGatewayState(':memory:'),
        adminToken: ADMIN,
        policies: [POLICY],
        notify: {
          spoolDir: mkdtempSync(join(tmpdir(), 'mg-notify-')),
          consoleUrl: 'https://meshguard.example/console',
          channels: [
            { name: 'finance', url: receiver.url, format: 'standard', secret },
            { name: 'slack-denies', url: slack.url, format: 'slack', events: ['deny'] },
          ],
        },
      });
      const app = gateway.app;
      const token = (
        await app.inject({
          method: 'POST',
          url: '/v1/agents',
          headers: bearer(ADMIN),
          payload: { name: 'bot', tags: ['support'] },
        })
      ).json().token;
      const check = (body: Record<string, unknown>) =>
        app.inject({ method: 'POST', url: '/v1/check', headers: bearer(token), payload: body });
      const id = (
        await check({ action: 'write:refund', context: { amount: 150, card: '4111 1111 1111 1111' } })
      ).json().approval.id;
      await check({ action: 'delete:everything' });
      await waitUntil(
        () => receiver.accepted.length === 1 && slack.accepted.length === 1,
        10_000,
        'both deliveries',
      );
      const payload = receiver.accepted[0]!.payload as { type: string; data: Record<string, unknown> };
      expect(payload.type).toBe('approval.requested');
      expect(payload.data).toMatchObject({ id, action: 'write:refund' });
      expect(JSON.stringify(payload)).not.toContain('4111 1111 1111 1111');
      expect(JSON.stringify(slack.accepted[0]!.payload)).toContain('delete:everything');
      expect(receiver.requests.every((r) => !r.refused)).toBe(true);
    } finally {
      await receiver.close();
      await slack.close();
    }
  });

  it('a notification spooled while the receiver is down is delivered by the gateway started again on the same spool', async () => {
    const secret = newSecret();
    const port = await freePort();
    const spoolDir = mkdtempSync(join(tmpdir(), 'mg-notify-restart-'));
    const notify = {
      spoolDir,
      retry: { initialDelayMs: 50, maxDelayMs: 200 },
      channels: [
        { name: 'finance', url: `http://127.0.0.1:${port}/hook`, format: 'standard' as const, secret },
      ],
    };
    const open = () =>
      createGateway({
        store: createMemoryStore(),
        state: openSqliteGatewayState(':memory:'),
        adminToken: ADMIN,
        policies: [POLICY],
        notify,
      });
    const first = await open();
    const token = (
      await first.app.inject({
        method: 'POST',
        url: '/v1/agents',
        headers: bearer(ADMIN),
        payload: { name: 'bot', tags: ['support'] },
      })
    ).json().token;
    const asked = await first.app.inject({
      method: 'POST',
      url: '/v1/check',
      headers: bearer(token),
      payload: { action: 'write:refund', context: { amount: 150 } },
    });
    const id = asked.json().approval.id;
    await new Promise((r) => setTimeout(r, 200)); // a failed attempt or two
    await first.close();
    const receiver = await startReceiver({ secret, port });
    try {
      gateway = await open();
      await waitUntil(() => receiver.accepted.length === 1, 10_000, 'the delivery after the restart');
      expect((receiver.accepted[0]!.payload as { data: { id: string } }).data.id).toBe(id);
    } finally {
      await receiver.close();
    }
  });
});
