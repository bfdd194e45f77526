import { randomBytes } from 'node:crypto';
import { openPostgresGatewayState, openPostgresStore } from '@meshguard/store';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from './gateway-app';

const PG_URL = process.env.MESHGUARD_TEST_PG_URL;
const ADMIN = 'replica-admin-token-0123456789ab';
const POLICY = {
  name: 'support.yaml',
  text: 'name: support\nversion: "1"\nappliesTo: { tags: [support] }\nrules:\n  - effect: allow\n    actions: ["read:*"]\n',
};

if (!PG_URL) {
  console.warn(
    'gateway replicas on PostgreSQL: skipped (set MESHGUARD_TEST_PG_URL, e.g. postgres://postgres@127.0.0.1:5432/test)',
  );
}

describe.skipIf(!PG_URL)('two gateway replicas on one PostgreSQL database', () => {
  const schema = `mg_replicas_${randomBytes(4).toString('hex')}`;
  const url = `${PG_URL}${PG_URL?.includes('?') ? '&' : '?'}schema=${schema}`;
  let a: Gateway;
  let b: Gateway;

  // Each replica writes its own stream, as separate processes would.
  const open = async (stream: string) =>
    createGateway({
      store: await openPostgresStore(url, { stream }),
      state: await openPostgresGatewayState(PG_URL!, { schema }),
      adminToken: ADMIN,
      policyPollMs: 60_000, // a NOTIFY must carry the change, not the backstop poll
    });

  beforeAll(async () => {
    a = await open('replica-a');
    await a.policies.push([POLICY]);
    b = await open('replica-b');
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await withClient((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
  });

  const admin = { authorization: `Bearer ${ADMIN}` };
  const check = (gateway: Gateway, token: string, action: string) =>
    gateway.app.inject({
      method: 'POST',
      url: '/v1/check',
      headers: { authorization: `Bearer ${token}` },
      payload: { action, traceId: 'trace_replicas' },
    });

  const listenQuery = `LISTEN "meshguard_${schema}"`;
  const withClient = async <T>(use: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      return await use(client);
    } finally {
      await client.end();
    }
  };
  /** Kills both replicas' LISTEN connections, as a database restart or a proxy would; their pids. */
  const killListeners = () =>
    withClient(async (client) => {
      const res = await client.query(
        'SELECT pg_terminate_backend(pid), pid FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()',
        [listenQuery],
      );
      return res.rows.map((row: { pid: number }) => row.pid as number);
    });
  const pushPolicy = (gateway: Gateway, name: string, action: string) =>
    gateway.app.inject({
      method: 'PUT',
      url: '/v1/policies',
      headers: admin,
      payload: {
        files: [
          POLICY,
          {
            name: `${name}.yaml`,
            text: `name: ${name}\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["${action}"]\n`,
          },
        ],
      },
    });
  /** Creates an agent through `issuer` (replica a unless said) and returns its token. */
  const newAgentToken = async (id: string, issuer: Gateway = a) =>
    (
      (
        await issuer.app.inject({
          method: 'POST',
          url: '/v1/agents',
          headers: admin,
          payload: { id, name: 'support-bot', tags: ['support'] },
        })
      ).json() as { token: string }
    ).token;

  /** Checks again every 25 ms until the effect is `wanted` or `ms` have passed; the last effect. */
  const effectWithin = async (
    ms: number,
    gateway: Gateway,
    token: string,
    action: string,
    wanted: string,
  ) => {
    const started = Date.now();
    let effect = (await check(gateway, token, action)).json().effect as string;
    while (effect !== wanted && Date.now() - started < ms) {
      await new Promise((r) => setTimeout(r, 25));
      effect = (await check(gateway, token, action)).json().effect as string;
    }
    return effect;
  };

  it('a token issued by one replica works on the other (each signs with its own key; the database holds both public keys)', async () => {
    expect(a.tokens.kid).not.toBe(b.tokens.kid);
    const token = await newAgentToken('bot-1');
    expect((await check(b, token, 'read:orders')).json().effect).toBe('allow');
  });

  it('enforces a policy pushed to one replica on the other within a second', async () => {
    const token = await newAgentToken('bot-2');
    expect((await check(b, token, 'write:email')).json().effect).toBe('deny');
    const pushed = await pushPolicy(a, 'email', 'write:email');
    expect(pushed.statusCode).toBe(200);
    expect(await effectWithin(1000, b, token, 'write:email', 'allow')).toBe('allow');
    expect(b.policies.version).toBe(a.policies.version);
  });

  it('listens again after its LISTEN connection is lost, and still sees a push within a second', async () => {
    const token = await newAgentToken('bot-4');
    expect((await check(b, token, 'write:sms')).json().effect).toBe('deny');
    const killed = await killListeners();
    expect(killed).toHaveLength(2);
    // Each opens a new one (within its first retry, 100 ms): wait for both, then push.
    const started = Date.now();
    let listening: number[] = [];
    while (listening.length < 2 && Date.now() - started < 5000) {
      await new Promise((r) => setTimeout(r, 25));
      listening = await withClient(async (client) => {
        const res = await client.query('SELECT pid FROM pg_stat_activity WHERE query = $1', [listenQuery]);
        return res.rows.map((row: { pid: number }) => row.pid).filter((pid: number) => !killed.includes(pid));
      });
    }
    expect(listening).toHaveLength(2);
    expect((await pushPolicy(a, 'sms', 'write:sms')).statusCode).toBe(200);
    // The backstop poll is a minute away: only the new LISTEN can carry this in a second.
    expect(await effectWithin(1000, b, token, 'write:sms', 'allow')).toBe('allow');
  });

  it('reloads at once what was pushed while its LISTEN connection was down', async () => {
    const token = await newAgentToken('bot-5');
    expect((await check(b, token, 'write:fax')).json().effect).toBe('deny');
    expect(await killListeners()).toHaveLength(2);
    // Pushed before the replicas can listen again: the NOTIFY reaches no one.
    expect((await pushPolicy(a, 'fax', 'write:fax')).statusCode).toBe(200);
    expect(await effectWithin(1000, b, token, 'write:fax', 'allow')).toBe('allow');
  });

  it('holds a revocation made on one replica on the other at the next request', async () => {
    const token = await newAgentToken('bot-3', b);
    expect((await check(a, token, 'read:orders')).statusCode).toBe(200);
    expect(
      (await a.app.inject({ method: 'DELETE', url: '/v1/agents/bot-3', headers: admin })).statusCode,
    ).toBe(204);
    expect((await check(b, token, 'read:orders')).statusCode).toBe(401);
  });

  it('an agent waiting on one replica wakes within a second of an approval given on the other', async () => {
    const token = await newAgentToken('bot-6');
    const wires = {
      name: 'wires.yaml',
      text: 'name: wires\nversion: "1"\nrules:\n  - effect: require_approval\n    actions: ["write:wire"]\n',
    };
    const put = await a.app.inject({
      method: 'PUT',
      url: '/v1/policies',
      headers: admin,
      payload: { files: [POLICY, wires] },
    });
    expect(put.statusCode).toBe(200);
    expect(await effectWithin(1000, b, token, 'write:wire', 'require_approval')).toBe('require_approval');
    const id = (await check(a, token, 'write:wire')).json().approval.id as string;
    const waiting = b.app
      .inject({
        method: 'GET',
        url: `/v1/agent/approvals/${id}?waitMs=10000`,
        headers: { authorization: `Bearer ${token}` },
      })
      .then((res) => ({ res, at: Date.now() }));
    await new Promise((r) => setTimeout(r, 300)); // the agent is waiting on b
    const approvedAt = Date.now();
    const approved = await a.app.inject({
      method: 'POST',
      url: `/v1/approvals/${id}/approve`,
      headers: admin,
    });
    expect(approved.statusCode).toBe(200);
    const { res, at } = await waiting;
    expect(res.json()).toMatchObject({ id, status: 'approved', answeredBy: 'admin' });
    expect(at - approvedAt).toBeLessThan(1000);
    // Either replica lets the approved call through, once.
    const allowed = await b.app.inject({
      method: 'POST',
      url: '/v1/check',
      headers: { authorization: `Bearer ${token}` },
      payload: { action: 'write:wire', traceId: 'trace_replicas', approvalId: id },
    });
    expect(allowed.json().effect).toBe('allow');
    const again = await a.app.inject({
      method: 'POST',
      url: '/v1/check',
      headers: { authorization: `Bearer ${token}` },
      payload: { action: 'write:wire', traceId: 'trace_replicas', approvalId: id },
    });
    expect(again.json().effect).toBe('deny');
  });

  it("verifies both replicas' audit streams", async () => {
    const report = (
      await a.app.inject({ method: 'GET', url: '/v1/audit/verify', headers: admin })
    ).json() as {
      ok: boolean;
      streams: unknown[];
    };
    expect(report.ok).toBe(true);
    expect(report.streams.map((r) => (r as { stream: string }).stream).sort()).toEqual([
      'replica-a',
      'replica-b',
    ]);
  });
});
