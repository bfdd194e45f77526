import { createMemoryStore } from '@meshguard/core';
import { openSqliteGatewayState } from '@meshguard/store';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from './agent-tokens';
import { createGateway, type Gateway } from './gateway-app';

const ADMIN = 'admin-token-for-tests-0123456789';
const POLICY = {
  name: 'support.yaml',
  text: `name: support
version: "1"
appliesTo: { tags: [support] }
rules:
  - effect: allow
    actions: ["read:*"]
  - effect: allow
    actions: ["write:refund"]
    conditions: { amount_max: 100 }
`,
};

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

async function start() {
  const store = createMemoryStore();
  gateway = await createGateway({
    store,
    state: openSqliteGatewayState(':memory:'),
    adminToken: ADMIN,
    policies: [POLICY],
  });
  const app = gateway.app;
  const admin = { authorization: `Bearer ${ADMIN}` };
  const created = await app.inject({
    method: 'POST',
    url: '/v1/agents',
    headers: admin,
    payload: { name: 'support-bot', tags: ['support'], tier: 'verified' },
  });
  expect(created.statusCode).toBe(201);
  const { agent, token } = created.json() as { agent: { id: string }; token: string };
  return { app, store, admin, agent, token, auth: { authorization: `Bearer ${token}` } };
}

describe('gateway: decisions over HTTP', () => {
  it('decides for the agent its token names, whatever the body claims, and records the decision', async () => {
    const { app, store, auth, agent } = await start();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/check',
      headers: auth,
      payload: {
        action: 'write:refund',
        context: { amount: 150 },
        agent: { id: 'root', name: 'root', tags: ['admin'], tier: 'privileged' },
        traceId: 'trace_http',
      },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ allowed: false, effect: 'deny' });
    const batch = await app.inject({
      method: 'POST',
      url: '/v1/check/batch',
      headers: auth,
      payload: { requests: [{ action: 'read:orders' }, { action: 'write:refund', context: { amount: 20 } }] },
    });
    expect(batch.json().decisions.map((d: { effect: string }) => d.effect)).toEqual(['allow', 'allow']);
    const events = (await store.query({ traceId: 'trace_http' })).events;
    expect(events[0]!.agent).toEqual({
      id: agent.id,
      name: 'support-bot',
      tags: ['support'],
      tier: 'verified',
    });
    expect(events[0]!.source?.name).toBe('@meshguard/gateway');
  });

  it('ingests outcome events idempotently by id', async () => {
    const { app, store, auth } = await start();
    const decision = (
      await app.inject({
        method: 'POST',
        url: '/v1/check',
        headers: auth,
        payload: { action: 'read:orders', traceId: 't1' },
      })
    ).json() as { decisionId: string };
    const payload = {
      events: [{ id: 'outcome-1', decisionId: decision.decisionId, outcome: 'success', durationMs: 3 }],
    };
    for (let i = 0; i < 2; i++) {
      const res = await app.inject({ method: 'POST', url: '/v1/audit', headers: auth, payload });
      expect(res.json()).toEqual({ accepted: 1, recorded: ['outcome-1'], rejected: [] });
    }
    const outcomes = (await store.query({ traceId: 't1', type: 'outcome' })).events;
    expect(outcomes).toHaveLength(1);
  });
});

describe('gateway: security', () => {
  it('401 without a token, with a forged or expired token, after revoking the agent or the token', async () => {
    const { app, admin, agent, auth } = await start();
    const check = (headers: Record<string, string>) =>
      app.inject({ method: 'POST', url: '/v1/check', headers, payload: { action: 'read:orders' } });
    expect((await check({})).statusCode).toBe(401);
    // Authentication comes before the body is even parsed: no token, a broken body, still 401.
    const unauthenticated = await app.inject({
      method: 'POST',
      url: '/v1/check',
      headers: { 'content-type': 'application/json' },
      payload: '{"broken',
    });
    expect(unauthenticated.statusCode).toBe(401);
    expect((await check({ authorization: 'Bearer not-a-jwt' })).statusCode).toBe(401);

    // Same claims, signed with a key that is not the gateway's.
    const foreign = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const forged = await new SignJWT({ name: 'support-bot', tags: ['support'], tier: 'privileged' })
      .setProtectedHeader({ alg: 'EdDSA', kid: (await exportJWK(foreign.publicKey)).x ?? 'k' })
      .setSubject(agent.id)
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('1h')
      .setJti('forged')
      .sign(foreign.privateKey);
    expect((await check({ authorization: `Bearer ${forged}` })).statusCode).toBe(401);

    const expired = await gateway!.tokens.issue(
      { id: agent.id, name: 'support-bot', tags: ['support'], tier: 'verified' },
      -60,
    );
    const res = await check({ authorization: `Bearer ${expired.token}` });
    expect(res.statusCode).toBe(401);
    expect(res.json().message).toBe('the agent token has expired');

    // A second token, revoked by its jti; the first keeps working.
    const second = await gateway!.tokens.issue(
      { id: agent.id, name: 'support-bot', tags: ['support'], tier: 'verified' },
      3600,
    );
    expect((await check({ authorization: `Bearer ${second.token}` })).statusCode).toBe(200);
    expect(
      (await app.inject({ method: 'DELETE', url: `/v1/tokens/${second.jti}`, headers: admin })).statusCode,
    ).toBe(204);
    expect((await check({ authorization: `Bearer ${second.token}` })).statusCode).toBe(401);
    expect((await check(auth)).statusCode).toBe(200);

    expect(
      (await app.inject({ method: 'DELETE', url: `/v1/agents/${agent.id}`, headers: admin })).statusCode,
    ).toBe(204);
    const revoked = await check(auth);
    expect(revoked.statusCode).toBe(401);
    expect(revoked.json().message).toMatch(/revoked/);
  });

  it('403 for an agent token on an admin route, and for the admin token acting as an agent', async () => {
    const { app, admin, auth } = await start();
    expect((await app.inject({ method: 'GET', url: '/v1/agents', headers: auth })).statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/v1/audit', headers: auth })).statusCode).toBe(403);
    expect(
      (await app.inject({ method: 'POST', url: '/v1/check', headers: admin, payload: { action: 'read:x' } }))
        .statusCode,
    ).toBe(403);
    expect(
      (await app.inject({ method: 'GET', url: '/v1/agents', headers: { authorization: 'Bearer wrong' } }))
        .statusCode,
    ).toBe(401);
  });

  it('revokes an agent whose id is as long as ids go; a longer path parameter is a 400', async () => {
    const { app, admin } = await start();
    const id = 'a'.repeat(256);
    const created = await app.inject({
      method: 'POST',
      url: '/v1/agents',
      headers: admin,
      payload: { id, name: 'long-id' },
    });
    expect(created.statusCode).toBe(201);
    const revoke = (agentId: string) =>
      app.inject({ method: 'DELETE', url: `/v1/agents/${agentId}`, headers: admin });
    expect((await revoke(id)).statusCode).toBe(204);
    const tooLong = await revoke(`${id}a`);
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.json()).toMatchObject({ error: 'bad_request' });
  });

  it('400 naming the field for malformed JSON and schema violations; 413 over 1 MiB', async () => {
    const { app, auth } = await start();
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/check',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: '{"action": "read:x",',
    });
    expect(bad.statusCode).toBe(400);
    const missing = await app.inject({
      method: 'POST',
      url: '/v1/check',
      headers: auth,
      payload: { context: {} },
    });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().field).toBe('action');
    const wrongType = await app.inject({
      method: 'POST',
      url: '/v1/check',
      headers: auth,
      payload: { action: 'read:x', context: 'not an object' },
    });
    expect(wrongType.json()).toMatchObject({ error: 'bad_request', field: 'context' });
    const big = await app.inject({
      method: 'POST',
      url: '/v1/check',
      headers: auth,
      payload: { action: 'read:x', context: { blob: 'x'.repeat(1024 * 1024) } },
    });
    expect(big.statusCode).toBe(413);
  });

  it('stores hostile strings verbatim or rejects them cleanly, and keeps serving', async () => {
    const { app, admin, auth } = await start();
    // Stored and returned verbatim: SQL, quotes, unicode; in a context, control characters too.
    const hostile = ["read:x'; DROP TABLE audit_events; --", 'read:é✓𝄞 "quoted" \\ back'];
    const note = '\u0000\u001b[31mred\u0007\r\n';
    for (const action of hostile) {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/check',
        headers: auth,
        payload: { action, traceId: 'hostile', context: { note } },
      });
      expect(res.statusCode).toBe(200);
    }
    // Control characters in an action would forge log lines: refused, naming the field.
    const control = await app.inject({
      method: 'POST',
      url: '/v1/check',
      headers: auth,
      payload: { action: 'read:\u001b[31mred', traceId: 'hostile' },
    });
    expect(control.json()).toMatchObject({ error: 'bad_request', field: 'action' });
    const huge = await app.inject({
      method: 'POST',
      url: '/v1/check',
      headers: auth,
      payload: { action: `read:${'a'.repeat(100_000)}` },
    });
    expect(huge.json()).toMatchObject({ error: 'bad_request', field: 'action' });
    const page = await app.inject({
      method: 'GET',
      url: '/v1/audit?traceId=hostile&order=asc',
      headers: admin,
    });
    const events = page.json().events as Array<{ action: string; context: { note: string } }>;
    expect(events.map((e) => e.action)).toEqual(hostile);
    expect(events[0]!.context.note).toBe(note);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

describe('gateway: policies, keys and metrics', () => {
  it('rejects an invalid push with file:line:col and keeps the set in force; a valid push takes effect', async () => {
    const { app, admin, auth } = await start();
    const check = async () =>
      (
        await app.inject({
          method: 'POST',
          url: '/v1/check',
          headers: auth,
          payload: { action: 'write:email' },
        })
      ).json().effect;
    expect(await check()).toBe('deny');
    const invalid = await app.inject({
      method: 'PUT',
      url: '/v1/policies',
      headers: admin,
      payload: {
        files: [
          {
            name: 'broken.yaml',
            text: 'name: p\nversion: "1"\nrules:\n  - effect: alow\n    actions: ["*"]\n',
          },
        ],
      },
    });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().issues[0]).toMatchObject({ file: 'broken.yaml', line: 4 });
    expect(invalid.json().message).toMatch(/^broken\.yaml:4:\d+: /);
    expect(gateway!.policies.version).toBe(1);
    const valid = await app.inject({
      method: 'PUT',
      url: '/v1/policies',
      headers: admin,
      payload: {
        files: [
          POLICY,
          {
            name: 'email.yaml',
            text: 'name: email\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["write:email"]\n',
          },
        ],
      },
    });
    expect(valid.json().version).toBe(2);
    expect(await check()).toBe('allow');
  });

  it('serves its public key, health, Prometheus metrics and an OpenAPI document', async () => {
    const { app, auth } = await start();
    await app.inject({ method: 'POST', url: '/v1/check', headers: auth, payload: { action: 'read:x' } });
    const jwks = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    expect(jwks.keys[0].d).toBeUndefined();
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('meshguard_checks_total{effect="allow"} 1');
    expect(metrics).toContain('meshguard_check_duration_seconds_bucket');
    expect(metrics).toContain('meshguard_audit_queue_depth');
    const openapi = (await app.inject({ method: 'GET', url: '/v1/openapi.json' })).json();
    expect(openapi.openapi).toBe('3.1.0');
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining(['/v1/check', '/v1/check/batch', '/v1/audit', '/v1/agents', '/v1/policies']),
    );
    expect(
      openapi.paths['/v1/check'].post.requestBody.content['application/json'].schema.properties.action,
    ).toBeDefined();
  });
});
