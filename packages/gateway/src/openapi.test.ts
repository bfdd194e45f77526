// The OpenAPI document is the whole truth about every route: each route is driven to every answer
// it can give (no token, the wrong token, a bad body or parameter, an oversized body, a body it
// cannot read, and each of its own outcomes), and the statuses seen must be exactly the statuses
// its entry declares: one it answers but does not declare fails, and so does one it declares but
// was never seen answering (a new route, or a new status, needs a line here).
import { createMemoryStore, uuidv7 } from '@meshguard/core';
import { openSqliteGatewayState, openSqliteStore } from '@meshguard/store';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from './gateway-app';

const ADMIN = 'admin-token-for-tests-0123456789';
const POLICY = {
  name: 'support.yaml',
  text: 'name: support\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["read:*"]\n  - effect: require_approval\n    actions: ["write:wire"]\n    approval: { approvers: [finance] }\n',
};
const OVERSIZED = JSON.stringify({ blob: 'x'.repeat(1024 * 1024) });

interface Operation {
  summary?: string;
  description?: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ in: string; name: string }>;
  requestBody?: unknown;
  responses?: Record<string, unknown>;
}
type Paths = Record<string, Record<string, Operation>>;

let gateway: Gateway;
let memoryGateway: Gateway;
let paths: Paths;
let agentToken: string;
const seen = new Map<string, Set<string>>();

/** `DELETE /v1/agents/{id}`: the document's key for a route. */
const keyOf = (method: string, path: string) => `${method.toUpperCase()} ${path}`;

/** Sends a request to a route and remembers the status it answered. */
async function send(
  key: string,
  options: Omit<InjectOptions, 'method' | 'url'> & { url: string },
  on = gateway,
) {
  const [method] = key.split(' ');
  const res = await on.app.inject({ ...options, method: method as InjectOptions['method'] });
  if (!seen.has(key)) seen.set(key, new Set());
  seen.get(key)!.add(String(res.statusCode));
  return res;
}

const admin = { authorization: `Bearer ${ADMIN}` };
const agent = () => ({ authorization: `Bearer ${agentToken}` });

beforeAll(async () => {
  gateway = await createGateway({
    store: openSqliteStore(':memory:'),
    state: openSqliteGatewayState(':memory:'),
    adminToken: ADMIN,
    policies: [POLICY],
  });
  // A store without the readers `audit tail` and `audit stats` need.
  memoryGateway = await createGateway({
    store: createMemoryStore(),
    state: openSqliteGatewayState(':memory:'),
    adminToken: ADMIN,
  });
  paths = (await gateway.app.inject({ method: 'GET', url: '/v1/openapi.json' })).json().paths;
  const created = await send('POST /v1/agents', {
    url: '/v1/agents',
    headers: admin,
    payload: { id: 'agent-1', name: 'support-bot' },
  });
  agentToken = created.json().token;
});

afterAll(async () => {
  await gateway?.close();
  await memoryGateway?.close();
});

describe('the OpenAPI document declares every status each route answers', () => {
  it('every route answers, in every way it can, only what its entry declares', async () => {
    const operations = Object.entries(paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ key: keyOf(method, path), method, path, op })),
    );
    // Path parameters filled with values that exist, so only the probe at hand can fail.
    const url = (path: string) => path.replace('{id}', 'agent-1').replace('{jti}', 'some-jti');

    // What every route gets, from its entry: auth, bodies, parameters.
    let client = 0;
    for (const { key, method, path, op } of operations) {
      const schemes = (op.security ?? []).flatMap((s) => Object.keys(s));
      // Failed admin-token attempts count per client address: each route's from its own.
      const remoteAddress = `10.0.${++client}.1`;
      if (schemes.length > 0) {
        await send(key, { url: url(path), remoteAddress });
        await send(key, {
          url: url(path),
          headers: schemes.includes('adminToken') ? agent() : admin,
        });
      }
      if (schemes.includes('adminToken')) {
        for (let i = 0; i < 11; i++) {
          await send(key, { url: url(path), remoteAddress, headers: { authorization: 'Bearer wrong' } });
        }
      }
      const headers = schemes.includes('adminToken') ? admin : schemes.length > 0 ? agent() : {};
      // Fastify reads a body sent with any method but GET and HEAD, whether the route takes one or not.
      if (method !== 'get') {
        const json = { ...headers, 'content-type': 'application/json' };
        await send(key, { url: url(path), headers: json, payload: '{"broken' });
        await send(key, { url: url(path), headers: json, payload: OVERSIZED });
        await send(key, {
          url: url(path),
          headers: { ...headers, 'content-type': 'application/xml' },
          payload: '<x/>',
        });
      }
      for (const param of op.parameters ?? []) {
        if (param.in === 'query') {
          // A repeated parameter is an array, which no parameter takes.
          await send(key, { url: `${url(path)}?${param.name}=1&${param.name}=2`, headers });
        } else {
          await send(key, { url: path.replace(`{${param.name}}`, ''), headers });
          await send(key, { url: path.replace(`{${param.name}}`, 'x'.repeat(257)), headers });
        }
      }
    }

    // What each route answers when asked properly, and its own refusals.
    const check = { action: 'read:orders', traceId: 'trace-1' };
    const decision = await send('POST /v1/check', { url: '/v1/check', headers: agent(), payload: check });
    await send('POST /v1/check/batch', {
      url: '/v1/check/batch',
      headers: agent(),
      payload: { requests: [check] },
    });
    // A client-minted decision id is taken once.
    const minted = { ...check, decisionId: uuidv7() };
    await send('POST /v1/check', { url: '/v1/check', headers: agent(), payload: minted });
    await send('POST /v1/check', { url: '/v1/check', headers: agent(), payload: minted });
    await send('POST /v1/check/batch', {
      url: '/v1/check/batch',
      headers: agent(),
      payload: { requests: [minted] },
    });
    await send('POST /v1/reachable', {
      url: '/v1/reachable',
      headers: agent(),
      payload: { action: 'write:refund' },
    });
    await send('POST /v1/judge', {
      url: '/v1/judge',
      headers: agent(),
      payload: { action: 'write:refund', context: { amount: 5 } },
    });
    await send('POST /v1/audit', {
      url: '/v1/audit',
      headers: agent(),
      payload: { events: [{ id: 'o-1', decisionId: decision.json().decisionId, outcome: 'success' }] },
    });
    await send('GET /v1/audit', { url: '/v1/audit?traceId=trace-1', headers: admin });
    await send('GET /v1/audit', { url: '/v1/audit?cursor=not-a-cursor', headers: admin });
    for (const route of ['/v1/audit/tail', '/v1/audit/stats']) {
      await send(`GET ${route}`, { url: route, headers: admin });
      await send(`GET ${route}`, { url: route, headers: admin }, memoryGateway);
    }
    await send('GET /v1/audit/verify', { url: '/v1/audit/verify', headers: admin });
    await send('POST /v1/agents', {
      url: '/v1/agents',
      headers: admin,
      payload: { id: 'agent-1', name: 'again' },
    });
    await send('GET /v1/agents', { url: '/v1/agents', headers: admin });
    await send('DELETE /v1/tokens/{jti}', { url: '/v1/tokens/some-jti', headers: admin });
    await send('DELETE /v1/agents/{id}', { url: '/v1/agents/no-such-agent', headers: admin });
    await send('PUT /v1/policies', {
      url: '/v1/policies',
      headers: admin,
      payload: { files: [{ name: 'broken.yaml', text: 'name: p\nversion: "1"\nrules: 7\n' }] },
    });
    await send('PUT /v1/policies', { url: '/v1/policies', headers: admin, payload: { files: [POLICY] } });
    await send('GET /v1/policies', { url: '/v1/policies', headers: admin });
    for (const route of ['/.well-known/jwks.json', '/healthz', '/metrics', '/v1/openapi.json']) {
      await send(`GET ${route}`, { url: route });
    }
    // Approvals: the inbox, answers (the first wins), approvers, and the agent's own wait.
    const wire = (i: number) =>
      send('POST /v1/check', {
        url: '/v1/check',
        headers: agent(),
        payload: { action: 'write:wire', context: { i } },
      });
    const first = (await wire(1)).json().approval.id as string;
    const second = (await wire(2)).json().approval.id as string;
    const approver = await send('POST /v1/approvers', {
      url: '/v1/approvers',
      headers: admin,
      payload: { name: 'bob', tags: ['support'] },
    });
    const bob = { authorization: `Bearer ${approver.json().token}` };
    await send('GET /v1/approvers', { url: '/v1/approvers', headers: admin });
    await send('GET /v1/approvals', { url: '/v1/approvals?status=pending', headers: bob });
    await send('GET /v1/approvals/{id}', { url: `/v1/approvals/${first}`, headers: admin });
    await send('GET /v1/approvals/{id}', { url: '/v1/approvals/apr_none', headers: bob });
    await send('GET /v1/agent/approvals/{id}', { url: `/v1/agent/approvals/${first}`, headers: agent() });
    await send('GET /v1/agent/approvals/{id}', { url: '/v1/agent/approvals/apr_none', headers: agent() });
    for (const [verb, id] of [
      ['approve', first],
      ['reject', second],
    ] as const) {
      const key = `POST /v1/approvals/{id}/${verb}`;
      await send(key, { url: `/v1/approvals/${id}/${verb}`, headers: bob }); // not tagged finance
      await send(key, { url: `/v1/approvals/${id}/${verb}`, headers: admin, payload: { comment: 'ok' } });
      await send(key, { url: `/v1/approvals/${id}/${verb}`, headers: admin }); // answered already
      await send(key, { url: `/v1/approvals/apr_none/${verb}`, headers: admin });
    }
    await send('POST /v1/approvers/{id}/revoke', {
      url: `/v1/approvers/${approver.json().approver.id}/revoke`,
      headers: admin,
    });
    await send('POST /v1/approvers/{id}/revoke', { url: '/v1/approvers/none/revoke', headers: admin });
    // Last: revoking the agent ends its token.
    await send('DELETE /v1/agents/{id}', { url: '/v1/agents/agent-1', headers: admin });

    const answered = Object.fromEntries(operations.map((o) => [o.key, [...(seen.get(o.key) ?? [])].sort()]));
    const declared = Object.fromEntries(
      operations.map((o) => [o.key, Object.keys(o.op.responses ?? {}).sort()]),
    );
    expect(answered).toEqual(declared);
    // Nothing was sent to a route the document does not have.
    expect([...seen.keys()].filter((key) => !(key in declared))).toEqual([]);
  });

  it('every route has a one-line summary and a description', () => {
    for (const [path, methods] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(methods)) {
        expect(op.summary, keyOf(method, path)).toMatch(/^[^\n.]+$/);
        expect(op.description, keyOf(method, path)).toMatch(/\S/);
      }
    }
  });
});
