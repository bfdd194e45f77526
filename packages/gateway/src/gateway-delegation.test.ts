import { randomBytes } from 'node:crypto';
import { type AuditStore, createMemoryStore, type GatewayState } from '@meshguard/core';
import {
  openPostgresGatewayState,
  openPostgresStore,
  openSqliteGatewayState,
  openSqliteStore,
} from '@meshguard/store';
import { decodeJwt } from 'jose';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { chainFromActClaim } from './delegation-claims';
import { createGateway, type Gateway } from './gateway-app';
import type { HandoffToken } from './gateway-delegation';

const PG_URL = process.env.MESHGUARD_TEST_PG_URL;
const ADMIN = 'admin-token-for-tests-0123456789';
const POLICIES = [
  {
    name: 'triage.yaml',
    text: `name: triage
version: "1"
appliesTo: { tags: [triage] }
rules:
  - effect: allow
    actions: ["handoff:*", "read:*"]
delegation: { maxDepth: 1, permissionCeiling: ["read:*", "handoff:*"] }
`,
  },
  {
    name: 'billing.yaml',
    text: `name: billing
version: "1"
appliesTo: { tags: [billing] }
rules:
  - effect: allow
    actions: ["read:*", "write:refund", "handoff:*"]
`,
  },
];

type Backend = {
  name: string;
  open(): Promise<{ store: AuditStore; state: GatewayState; drop?: () => Promise<void> }>;
};
const backends: Backend[] = [
  {
    name: 'SQLite',
    open: async () => ({ store: openSqliteStore(':memory:'), state: openSqliteGatewayState(':memory:') }),
  },
];
if (PG_URL) {
  backends.push({
    name: 'PostgreSQL',
    async open() {
      const schema = `mg_delegation_${randomBytes(4).toString('hex')}`;
      const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;
      const store = await openPostgresStore(url);
      const state = await openPostgresGatewayState(PG_URL, { schema: store.schema });
      return {
        store,
        state,
        drop: async () => {
          const client = new pg.Client({ connectionString: PG_URL });
          await client.connect();
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await client.end();
        },
      };
    },
  });
} else {
  console.warn('delegation on PostgreSQL: skipped (set MESHGUARD_TEST_PG_URL)');
}

let gateway: Gateway | undefined;
let drop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await gateway?.close();
  await drop?.();
  gateway = undefined;
  drop = undefined;
});

interface Reply {
  allowed: boolean;
  effect: string;
  reason: string;
  decisionId: string;
  handoffToken?: HandoffToken;
}

async function start(backend: Backend, ttlSeconds?: number) {
  const opened = await backend.open();
  drop = opened.drop;
  gateway = await createGateway({
    store: opened.store,
    state: opened.state,
    adminToken: ADMIN,
    policies: POLICIES,
    ...(ttlSeconds ? { delegation: { ttlSeconds } } : {}),
  });
  await gateway.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(gateway.app.server.address() as { port: number }).port}`;
  const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
  const agent = async (id: string, name: string, tags: string[]) => {
    const res = await fetch(`${url}/v1/agents`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ id, name, tags, tier: 'verified' }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { token: string }).token;
  };
  const check = async (token: string, body: Record<string, unknown>) => {
    const res = await fetch(`${url}/v1/check`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ traceId: 'trace_delegation', ...body }),
    });
    return { status: res.status, body: (await res.json()) as Reply };
  };
  const triage = await agent('triage-1', 'Triage', ['triage']);
  const billing = await agent('billing-1', 'Billing', ['billing']);
  const archive = await agent('archive-1', 'Archive', ['billing']);
  return { url, admin, agent, check, triage, billing, archive, store: opened.store };
}

const ceiling =
  /outside the permission ceiling \[read:\*, handoff:\*\] that policy triage sets for agents delegated by "Triage"/;

describe.each(backends)('delegation you cannot forge ($name)', (backend) => {
  it('issues the handoff target a delegated token whose chain holds whatever the body says', async () => {
    const { check, triage, billing, store, url } = await start(backend);
    // Billing on its own token acts as itself.
    expect((await check(billing, { action: 'write:refund' })).body.allowed).toBe(true);

    const handoff = await check(triage, { action: 'handoff:Billing', kind: 'handoff' });
    expect(handoff.body.allowed).toBe(true);
    const issued = handoff.body.handoffToken!;
    expect(issued.agent).toEqual({ id: 'billing-1', name: 'Billing', tags: ['billing'], tier: 'verified' });
    expect(issued.delegation.map((a) => a.id)).toEqual(['triage-1']);
    // RFC 8693: an act claim names the actor; the token is bound to the target.
    const claims = decodeJwt(issued.token);
    expect(claims.sub).toBe('billing-1');
    expect(claims.act).toEqual({ sub: 'triage-1', name: 'Triage', tags: ['triage'], tier: 'verified' });
    expect((claims.exp! - claims.iat!) * 1000).toBeLessThanOrEqual(300_000);

    // Dropped, emptied or edited: the chain is the token's, so the ceiling holds.
    const forged = { id: 'billing-1', name: 'Billing', tags: ['billing'], tier: 'verified' };
    for (const delegation of [undefined, [], [forged]]) {
      const refund = await check(issued.token, {
        action: 'write:refund',
        ...(delegation ? { delegation } : {}),
      });
      expect(refund.status).toBe(200);
      expect(refund.body.allowed).toBe(false);
      expect(refund.body.reason).toMatch(ceiling);
    }
    expect((await check(issued.token, { action: 'read:orders', delegation: [] })).body.allowed).toBe(true);

    // An outcome reported with the delegated token carries the token's chain too.
    const outcome = await fetch(`${url}/v1/audit`, {
      method: 'POST',
      headers: { authorization: `Bearer ${issued.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        events: [{ outcome: 'observed', action: 'read:orders', traceId: 'trace_observed', delegation: [] }],
      }),
    });
    expect(outcome.status).toBe(200);
    let observed = (await store.query({ traceId: 'trace_observed' })).events;
    for (let i = 0; i < 50 && observed.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20)); // outcomes are appended in batches
      observed = (await store.query({ traceId: 'trace_observed' })).events;
    }
    expect(observed.map((e) => e.delegation?.map((a) => a.id))).toEqual([['triage-1']]);

    // The trail records the verified chain, not the body's.
    const decisions = (await store.query({ traceId: 'trace_delegation', agent: 'billing-1', order: 'asc' }))
      .events;
    expect(decisions.filter((e) => e.delegation).map((e) => e.delegation!.map((a) => a.id))).toEqual([
      ['triage-1'],
      ['triage-1'],
      ['triage-1'],
      ['triage-1'],
    ]);
  });

  it('re-delegating extends the chain, never resets it, and maxDepth holds', async () => {
    const { check, triage, url } = await start(backend);
    const first = (await check(triage, { action: 'handoff:Billing' })).body.handoffToken!;
    // A delegated token cannot act as an admin, nor mint a token without a chain.
    expect(
      (await fetch(`${url}/v1/agents`, { headers: { authorization: `Bearer ${first.token}` } })).status,
    ).toBe(403);

    // Handing off to itself gives a longer chain, not a clean one.
    const self = await check(first.token, { action: 'handoff:Billing', delegation: [] });
    expect(self.body.allowed).toBe(true);
    expect(self.body.handoffToken!.delegation.map((a) => a.id)).toEqual(['triage-1', 'billing-1']);

    // Billing hands off again: within maxDepth 1 for its own check, the chain grows to two.
    const second = await check(first.token, { action: 'handoff:Archive' });
    expect(second.body.allowed).toBe(true);
    const archive = second.body.handoffToken!;
    expect(archive.delegation.map((a) => a.id)).toEqual(['triage-1', 'billing-1']);
    expect(chainFromActClaim(decodeJwt(archive.token).act)?.map((a) => a.id)).toEqual([
      'triage-1',
      'billing-1',
    ]);
    for (const delegation of [undefined, []]) {
      const read = await check(archive.token, {
        action: 'read:orders',
        ...(delegation ? { delegation } : {}),
      });
      expect(read.body.allowed).toBe(false);
      expect(read.body.reason).toMatch(
        /Delegation chain of 2 agents \(.*\) exceeds maxDepth 1 of policy triage/,
      );
    }
    // A chain too deep is refused before any rule: no handoff from there either.
    const third = await check(archive.token, { action: 'handoff:Billing' });
    expect(third.body.allowed).toBe(false);
    expect(third.body.handoffToken).toBeUndefined();
  });

  it('gives no token for a target the gateway does not know, and resolves a shared name only by id', async () => {
    const { check, triage, agent } = await start(backend);
    const unknown = await check(triage, { action: 'handoff:Nobody' });
    expect(unknown.body.allowed).toBe(true);
    expect(unknown.body.handoffToken).toBeUndefined();

    await agent('billing-2', 'Billing', ['billing']);
    expect((await check(triage, { action: 'handoff:Billing' })).body.handoffToken).toBeUndefined();
    const byId = await check(triage, { action: 'handoff:Billing', handoffTarget: 'billing-2' });
    expect(byId.body.handoffToken?.agent.id).toBe('billing-2');
    // The id must be an agent the action names: a handoff to "Billing" cannot mint an Archive token.
    const other = await check(triage, { action: 'handoff:Billing', handoffTarget: 'archive-1' });
    expect(other.body.allowed).toBe(true);
    expect(other.body.handoffToken).toBeUndefined();
    // A chain the body claims with an agent's own token narrows the decision but is never signed.
    const claimed = await check(triage, {
      action: 'handoff:Billing',
      handoffTarget: 'billing-1',
      delegation: [{ id: 'x', name: 'x' }],
    });
    expect(claimed.body.handoffToken?.delegation.map((a) => a.id)).toEqual(['triage-1']);
    // A denied handoff gives nothing.
    const denied = await check(triage, {
      action: 'handoff:Billing',
      handoffTarget: 'billing-1',
      delegation: [
        { id: 'x', name: 'x' },
        { id: 'y', name: 'y' },
      ],
    });
    expect(denied.body.allowed).toBe(false);
    expect(denied.body.handoffToken).toBeUndefined();
  });

  it('refuses a delegated token once it expires', async () => {
    // 3 s: JWT times are whole seconds, so the token lives between 2 and 3 s.
    const { check, triage } = await start(backend, 3);
    const short = (await check(triage, { action: 'handoff:Billing' })).body.handoffToken!;
    expect(Date.parse(short.expiresAt) - Date.now()).toBeLessThanOrEqual(3000);
    expect((await check(short.token, { action: 'read:orders' })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 3100));
    const expired = await check(short.token, { action: 'read:orders' });
    expect(expired.status).toBe(401);
    expect((expired.body as unknown as { message: string }).message).toBe('the agent token has expired');
  });

  it('refuses a delegated token once an agent on its chain is revoked', async () => {
    const { check, triage, url, admin } = await start(backend);
    const fresh = (await check(triage, { action: 'handoff:Billing' })).body.handoffToken!;
    const revoke = await fetch(`${url}/v1/agents/triage-1`, {
      method: 'DELETE',
      headers: { authorization: admin.authorization },
    });
    expect(revoke.status).toBe(204);
    const revoked = await check(fresh.token, { action: 'read:orders' });
    expect(revoked.status).toBe(401);
    expect((revoked.body as unknown as { message: string }).message).toBe(
      'agent "triage-1" on the token\'s delegation chain was revoked',
    );
  });
});

describe('delegation: the embedded guard', () => {
  it('is untouched: a memory-store gateway still decides a plain token with the chain the body gives', async () => {
    gateway = await createGateway({
      store: createMemoryStore(),
      state: openSqliteGatewayState(':memory:'),
      adminToken: ADMIN,
      policies: POLICIES,
    });
    const created = await gateway.app.inject({
      method: 'POST',
      url: '/v1/agents',
      headers: { authorization: `Bearer ${ADMIN}` },
      payload: { id: 'b', name: 'Billing', tags: ['billing'] },
    });
    const token = (created.json() as { token: string }).token;
    const res = await gateway.app.inject({
      method: 'POST',
      url: '/v1/check',
      headers: { authorization: `Bearer ${token}` },
      payload: { action: 'write:refund', delegation: [{ id: 't', name: 'Triage', tags: ['triage'] }] },
    });
    // A chain given with an agent's own token still narrows (it can never widen).
    expect((res.json() as Reply).allowed).toBe(false);
  });
});
