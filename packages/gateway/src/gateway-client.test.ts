import { createGatewayClient, GatewayError, isGatewayRefusal, uuidv7 } from '@meshguard/core';
import { openPostgresGatewayState, openPostgresStore } from '@meshguard/store';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN, gatewayOn, listening, POLICY, serve, tempDir } from './remote-guard-fixtures';

/** Whatever a call threw. */
const failure = (call: Promise<unknown>) =>
  call.then(
    () => undefined,
    (error: unknown) => error,
  );

/**
 * Every route of core's gateway client against a real gateway: each reply is parsed with the wire
 * schema the gateway documents it with, so a schema stricter than what the gateway sends fails here.
 */
async function everyRoute(url: string) {
  const admin = createGatewayClient({ url, token: ADMIN });
  const created = await admin.createAgent({ name: 'support-bot', tags: ['support'], tier: 'verified' });
  expect(created.agent).toMatchObject({ name: 'support-bot', tags: ['support'], tier: 'verified' });
  const agent = createGatewayClient({ url, token: created.token });

  const allowed = await agent.check({ action: 'read:orders', traceId: 'trace_client' });
  expect(allowed).toMatchObject({ allowed: true, effect: 'allow' });
  const batch = await agent.checkBatch({
    requests: [
      { action: 'read:orders', traceId: 'trace_client' },
      { action: 'write:refund', traceId: 'trace_client' },
    ],
  });
  expect(batch.decisions.map((d) => d.effect)).toEqual(['allow', 'deny']);
  expect(await agent.reachable({ action: 'write:refund' })).toMatchObject({ reachable: false });
  expect(await agent.judge({ action: 'read:orders', context: { id: 7 } })).toMatchObject({ effect: 'allow' });
  const outcomes = await agent.recordOutcomes({
    events: [
      {
        id: 'o-1',
        decisionId: allowed.decisionId,
        outcome: 'success',
        action: 'read:orders',
        traceId: 'trace_client',
      },
      {
        id: 'o-2',
        decisionId: allowed.decisionId,
        outcome: 'approved',
        action: 'read:orders',
        traceId: 'trace_client',
      },
    ],
  });
  expect(outcomes).toMatchObject({
    recorded: ['o-1'],
    rejected: [{ index: 1, id: 'o-2', error: 'forbidden' }],
  });

  const page = await admin.queryAudit({ traceId: 'trace_client', order: 'asc' });
  expect(page.events.map((e) => e.type)).toEqual(['decision', 'decision', 'decision', 'outcome']);
  // Each event as the gateway sent it: the same fields in the same order.
  const raw = await fetch(`${url}/v1/audit?traceId=trace_client&order=asc`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  expect(JSON.stringify(page.events)).toBe(
    JSON.stringify(((await raw.json()) as { events: unknown }).events),
  );
  const tail = await admin.tailAudit({ lines: 2 });
  expect(tail.events).toHaveLength(2);
  expect((await admin.tailAudit({ after: tail.cursor })).events).toEqual([]);
  expect((await admin.auditStats({})).total).toBeGreaterThanOrEqual(4);
  expect(await admin.verifyAudit()).toMatchObject({ ok: true });

  const pushed = await admin.putPolicies({ files: [POLICY] });
  expect(await admin.getPolicies()).toMatchObject({ version: pushed.version, files: [POLICY] });
  const invalid = await failure(
    admin.putPolicies({ files: [{ name: 'bad.yaml', text: 'name: bad\nrules: 3\n' }] }),
  );
  expect(isGatewayRefusal(invalid)).toBe(true);
  expect(invalid).toMatchObject({ code: 'policy_invalid', status: 400 });
  expect((invalid as GatewayError).reply?.issues?.[0]).toMatchObject({ file: 'bad.yaml', line: 1 });

  await admin.revokeToken(uuidv7());
  await admin.revokeAgent(created.agent.id);
  expect((await admin.listAgents()).agents.find((a) => a.id === created.agent.id)?.revokedAt).toBeDefined();
  expect(await failure(admin.revokeAgent('nobody'))).toMatchObject({ code: 'not_found', status: 404 });
  const revoked = await failure(agent.check({ action: 'read:orders' }));
  expect(revoked).toMatchObject({ code: 'unauthorized', status: 401 });
  expect((revoked as Error).message).toMatch(
    /refused POST \/v1\/check \(HTTP 401: agent ".*" was revoked\)$/,
  );
}

describe("core's gateway client", () => {
  it('reads every reply of a real gateway on SQLite', async () => {
    const { url } = await gatewayOn(tempDir());
    await everyRoute(url);
  });

  it('says which route and field a reply breaks, and maps the error body to its code', async () => {
    const url = await serve((req, res) => {
      res.writeHead(req.url === '/v1/audit/verify' ? 200 : 418, { 'content-type': 'application/json' });
      res.end(
        req.url === '/v1/audit/verify'
          ? '{"ok": true, "checked": "many", "streams": []}'
          : '{"error": "teapot", "message": "short and stout"}',
      );
    });
    const client = createGatewayClient({ url, token: 't' });
    const broken = await failure(client.verifyAudit());
    expect(GatewayError.isInstance(broken)).toBe(true);
    expect(broken).toMatchObject({ code: 'gateway_invalid', status: 200 });
    expect((broken as Error).message).toMatch(
      /answered GET \/v1\/audit\/verify with a reply that breaks its schema \(checked: /,
    );
    const refused = await failure(client.listAgents());
    expect(refused).toMatchObject({ code: 'teapot', status: 418, reply: { message: 'short and stout' } });
    expect(isGatewayRefusal(refused)).toBe(true);
  });

  it('ends a call at its timeout or when its signal aborts', async () => {
    const url = await serve(() => {}); // never answers
    const client = createGatewayClient({ url, token: 't', timeoutMs: 200 });
    expect(await failure(client.listAgents())).toMatchObject({ code: 'gateway_timeout' });
    const aborted = new AbortController();
    setTimeout(() => aborted.abort(), 50);
    const slow = createGatewayClient({ url, token: 't', timeoutMs: 5000 });
    const started = Date.now();
    expect(await failure(slow.listAgents({ signal: aborted.signal }))).toMatchObject({
      code: 'gateway_aborted',
    });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

const PG_URL = process.env.MESHGUARD_TEST_PG_URL;

describe.skipIf(!PG_URL)("core's gateway client on PostgreSQL", () => {
  const schema = `mg_client_${uuidv7().slice(-12)}`;
  afterAll(async () => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });

  it('reads every reply of a real gateway on PostgreSQL', async () => {
    const url = `${PG_URL}${PG_URL!.includes('?') ? '&' : '?'}schema=${schema}`;
    const { url: gateway } = await listening({
      store: await openPostgresStore(url),
      state: await openPostgresGatewayState(PG_URL!, { schema }),
    });
    await everyRoute(gateway);
  });
});
