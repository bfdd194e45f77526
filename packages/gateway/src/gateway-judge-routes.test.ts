import { createServer } from 'node:http';
import { join } from 'node:path';
import { createAdapterKit, type Guard } from '@meshguard/core';
import { openSqliteGatewayState, openSqliteStore } from '@meshguard/store';
import { describe, expect, it } from 'vitest';
import { createGateway } from './gateway-app';
import { ADMIN, agent, later, remote, tempDir } from './remote-guard-fixtures';

// Searches are allowed, except those for a competitor: a condition on the query, which only a
// judgement with the call's context can see (`reachable` counts it as satisfiable).
const SEARCHES = {
  name: 'searches.yaml',
  text: `
name: searches
version: "1"
appliesTo: { tags: [support] }
rules:
  - effect: allow
    actions: ["read:*"]
  - id: no-competitors
    effect: deny
    actions: ["read:web_search"]
    conditions: { context: { query: { matches: "[Aa]cme" } } }
    reason: Searching for competitors is not allowed
`,
};
const NOT_GATED = 'observed in the run: the provider ran it, where MeshGuard cannot stop it';

async function searchGateway() {
  const dir = tempDir();
  const store = openSqliteStore(join(dir, 'meshguard.db'));
  const gateway = await createGateway({
    store,
    state: openSqliteGatewayState(join(dir, 'meshguard.db')),
    adminToken: ADMIN,
    policies: [SEARCHES],
  });
  await gateway.app.listen({ port: 0, host: '127.0.0.1' });
  later(() => gateway.close());
  const url = `http://127.0.0.1:${(gateway.app.server.address() as { port: number }).port}`;
  const res = await fetch(`${url}/v1/agents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Support', tags: ['support'], tier: 'verified' }),
  });
  const { token } = (await res.json()) as { token: string };
  const judge = (body: unknown, authorization?: string) =>
    fetch(`${url}/v1/judge`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(authorization ? { authorization } : {}),
      },
      body: JSON.stringify(body),
    });
  return { dir, url, token, judge, gateway };
}

/** Every event of the trail, read with the admin token. */
async function trail(url: string) {
  const res = await fetch(`${url}/v1/audit?limit=1000`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return ((await res.json()) as { events: Array<Record<string, unknown>> }).events;
}

describe('POST /v1/judge', () => {
  it('judges a request with its context for the token’s agent, and records nothing', async () => {
    const { url, token, judge } = await searchGateway();
    const search = (query: string) =>
      judge({ action: 'read:web_search', context: { query }, kind: 'builtin_tool' }, `Bearer ${token}`);

    const denied = await search('acme headphone prices');
    expect(denied.status).toBe(200);
    const deny = (await denied.json()) as Record<string, unknown>;
    expect(deny).toMatchObject({
      allowed: false,
      effect: 'deny',
      reason: expect.stringContaining('Searching for competitors is not allowed'),
      rule: { id: 'no-competitors' },
      mode: 'enforce',
    });
    expect(deny).not.toHaveProperty('decisionId');
    expect(await (await search('headphones return policy')).json()).toMatchObject({
      allowed: true,
      effect: 'allow',
    });
    // The body cannot name another agent: an agent without the support tag would get no allow.
    expect(
      await (
        await judge({ action: 'read:orders', agent: { id: 'x', name: 'x', tags: [] } }, `Bearer ${token}`)
      ).json(),
    ).toMatchObject({ effect: 'allow' });
    expect(await trail(url)).toEqual([]);
  });

  it('refuses a missing, forged or admin token, and a malformed body', async () => {
    const { token, judge } = await searchGateway();
    const body = { action: 'read:web_search', context: { query: 'acme' } };
    expect((await judge(body)).status).toBe(401);
    // A token signed by another key: the same claims, a signature that does not verify.
    const [header, payload] = token.split('.');
    const forged = `${header}.${payload}.${Buffer.from('not the gateway signature').toString('base64url')}`;
    expect((await judge(body, `Bearer ${forged}`)).status).toBe(401);
    expect((await judge(body, 'Bearer not-a-token')).status).toBe(401);
    expect((await judge(body, `Bearer ${ADMIN}`)).status).toBe(403);
    const malformed = await judge({ action: 'no colon', context: 'x' }, `Bearer ${token}`);
    expect(malformed.status).toBe(400);
  });

  it('judges with the chain a delegated token carries, whatever the body says', async () => {
    const dir = tempDir();
    const gateway = await createGateway({
      store: openSqliteStore(join(dir, 'meshguard.db')),
      state: openSqliteGatewayState(join(dir, 'meshguard.db')),
      adminToken: ADMIN,
      policies: [
        {
          name: 'triage.yaml',
          text: 'name: triage\nversion: "1"\nappliesTo: { tags: [triage] }\nrules:\n  - effect: allow\n    actions: ["handoff:*", "read:*"]\ndelegation: { permissionCeiling: ["read:*"] }\n',
        },
        {
          name: 'billing.yaml',
          text: 'name: billing\nversion: "1"\nappliesTo: { tags: [billing] }\nrules:\n  - effect: allow\n    actions: ["read:*", "write:refund"]\n',
        },
      ],
    });
    await gateway.app.listen({ port: 0, host: '127.0.0.1' });
    later(() => gateway.close());
    const url = `http://127.0.0.1:${(gateway.app.server.address() as { port: number }).port}`;
    const post = async (path: string, token: string, body: unknown) =>
      (await (
        await fetch(`${url}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      ).json()) as Record<string, unknown> & { handoffToken?: { token: string } };
    const tokenOf = async (name: string, tags: string[]) =>
      ((await post('/v1/agents', ADMIN, { name, tags, tier: 'verified' })) as unknown as { token: string })
        .token;
    const triage = await tokenOf('Triage', ['triage']);
    const billing = await tokenOf('Billing', ['billing']);
    const refund = { action: 'write:refund', context: { amount: 5 }, traceId: 'trace_judge_delegated' };
    expect(await post('/v1/judge', billing, refund)).toMatchObject({ effect: 'allow' });
    const handoff = await post('/v1/check', triage, {
      action: 'handoff:Billing',
      kind: 'handoff',
      traceId: 'trace_judge_delegated',
    });
    const delegated = handoff.handoffToken!.token;
    for (const delegation of [undefined, []]) {
      expect(
        await post('/v1/judge', delegated, { ...refund, ...(delegation ? { delegation } : {}) }),
      ).toMatchObject({
        allowed: false,
        effect: 'deny',
        reason: expect.stringMatching(/outside the permission ceiling \[read:\*\]/),
      });
    }
  });
});

describe('an observed hosted call in remote mode', () => {
  const kit = createAdapterKit({
    framework: 'test-framework',
    source: { name: 'test-adapter', version: '1.0.0' },
  });
  const observed = (guard: Guard, query: string, id: string) => ({
    guard,
    agent,
    action: 'read:web_search',
    kind: 'builtin_tool' as const,
    traceId: 'trace_observed_remote',
    context: { query },
    notGated: NOT_GATED,
    id,
  });

  it('is judged by the gateway with its context: a query policy refuses is recorded as an observed deny', async () => {
    const { dir, url, token } = await searchGateway();
    const guard = remote(url, token, join(dir, 'spool'));
    const denied = await kit.observe(observed(guard, 'Acme price match', 'obs-1'));
    expect(denied).toEqual({
      effect: 'deny',
      policyAllows: false,
      reason: `${NOT_GATED}; policy would not allow it: Searching for competitors is not allowed (rule no-competitors)`,
    });
    const allowed = await kit.observe(observed(guard, 'return policy', 'obs-2'));
    expect(allowed).toMatchObject({ effect: 'allow', policyAllows: true });
    await guard.flush();
    const events = await trail(url);
    expect(events.map((e) => `${e.id} ${e.type} ${e.effect}/${e.outcome}`).sort()).toEqual([
      'obs-1 outcome deny/observed',
      'obs-2 outcome allow/observed',
    ]);
    expect(events.find((e) => e.id === 'obs-1')).toMatchObject({
      agent: { name: 'Support' },
      context: { query: 'Acme price match' },
      reason: denied.reason,
    });
  });

  it('fails closed: a gateway that cannot judge is a deny, and so is one that answers garbage', async () => {
    const { dir, token } = await searchGateway();
    // A port nothing listens on any more: the connection is refused.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const guard = remote(`http://127.0.0.1:${port}`, token, join(dir, 'spool'), { circuitRetryMs: 60_000 });
    expect(await guard.judge({ action: 'read:web_search', agent, context: { query: 'x' } })).toMatchObject({
      allowed: false,
      effect: 'deny',
      reason: expect.stringMatching(/^Denied: the MeshGuard gateway /),
    });
    const verdict = await kit.judgeObserved(observed(guard, 'return policy', 'obs-3'));
    expect(verdict).toMatchObject({ effect: 'deny', policyAllows: false });
    expect(verdict.reason).toContain(
      `${NOT_GATED}; policy would not allow it: Denied: the MeshGuard gateway`,
    );
  });

  it('counts an inconsistent judgement from the gateway as a deny', async () => {
    // A real HTTP server that answers every judgement with an allow in deny's clothing.
    const server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({ allowed: true, effect: 'deny', reason: 'x', mode: 'enforce', evaluatedAt: 'now' }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    later(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const guard = remote(url, 'a.b.c', join(tempDir(), 'spool'));
    expect(await guard.judge({ action: 'read:web_search', agent, context: {} })).toMatchObject({
      allowed: false,
      effect: 'deny',
      reason: expect.stringContaining('not a consistent judgement'),
    });
  });
});
