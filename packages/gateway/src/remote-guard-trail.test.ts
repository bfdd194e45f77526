// A trail that tells the truth about the remote guard: a check it gave up on does not stand as a
// plain allow, a frozen gateway costs one timeout per turn (not one per check), a denial is
// recorded once, and a late outcome keeps the time it happened.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AuditEvent, type AuditStore, uuidv7 } from '@meshguard/core';
import { CLIENT_GAVE_UP } from '@meshguard/core/internal';
import { openPostgresGatewayState, openPostgresStore } from '@meshguard/store';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ADMIN,
  agent,
  gatewayOn,
  listening,
  remote,
  serve,
  sleep,
  stallingProxy,
  stoppedGateway,
  tempDir,
  tokenFor,
} from './remote-guard-fixtures';

/** Every event of a decision, as the gateway's admin sees them. */
async function trailOf(url: string, decisionId: string): Promise<AuditEvent[]> {
  const res = await fetch(`${url}/v1/audit?decisionId=${decisionId}&order=asc`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  return ((await res.json()) as { events: AuditEvent[] }).events;
}

/** Waits until `probe` holds (the gateway records what arrives late in its own time). */
async function eventually<T>(probe: () => Promise<T>, holds: (value: T) => boolean): Promise<T> {
  for (let i = 0; ; i++) {
    const value = await probe();
    if (holds(value) || i >= 100) return value;
    await sleep(50);
  }
}

describe('a check the client gave up on does not stand as a plain allow', () => {
  it('a stalled store: the gateway allowed, the client gave up, and the trail says both under one id', async () => {
    const dir = tempDir();
    const stall = { ms: 0 };
    const { url } = await gatewayOn(
      dir,
      (store) =>
        // A plain store (the spread copied the journal, which records without a stall).
        ({
          kind: store.kind,
          append: async (events) => {
            if (stall.ms > 0) await sleep(stall.ms);
            return store.append(events);
          },
          query: (filter) => store.query(filter),
          verify: () => store.verify(),
          close: () => store.close(),
        }) as AuditStore,
    );
    const guard = remote(url, await tokenFor(url), join(dir, 'spool'), {
      timeoutMs: 200,
      circuitRetryMs: 50,
    });
    stall.ms = 600;
    const decision = await guard.check({ action: 'write:email', agent, traceId: 'trace_gave_up' });
    expect(decision).toMatchObject({ allowed: false, effect: 'deny' });
    expect(decision.reason).toMatch(/did not answer within 200 ms/);
    stall.ms = 0;
    await sleep(700); // the gateway finishes recording its allow
    await sleep(60); // past the circuit's retry
    await guard.flush();
    const trail = await eventually(
      () => trailOf(url, decision.decisionId),
      (events) => events.length >= 2,
    );
    // One id joins the gateway's decision and the client's account of what happened to it (the
    // client's may be recorded first: the gateway was still busy recording its decision).
    expect(trail.map((e) => `${e.type} ${e.outcome ?? e.effect}`).sort()).toEqual([
      'decision allow',
      'outcome blocked',
    ]);
    expect(trail.find((e) => e.type === 'outcome')).toMatchObject({
      error: CLIENT_GAVE_UP,
      traceId: 'trace_gave_up',
    });
  });

  it('a stalled gateway: a check that reaches it after the deadline is not evaluated, and is recorded so', async () => {
    const dir = tempDir();
    const { url } = await gatewayOn(dir);
    const delay = { ms: 500 };
    const proxied = await stallingProxy(url, delay);
    const guard = remote(proxied, await tokenFor(url), join(dir, 'spool'), {
      timeoutMs: 200,
      circuitRetryMs: 50,
    });
    const decision = await guard.check({ action: 'write:email', agent, traceId: 'trace_late' });
    expect(decision).toMatchObject({ allowed: false, effect: 'deny' });
    delay.ms = 0;
    const trail = await eventually(
      () => trailOf(url, decision.decisionId),
      (events) => events.some((e) => e.type === 'decision'),
    );
    const decided = trail.find((e) => e.type === 'decision');
    expect(decided).toMatchObject({ effect: 'deny', action: 'write:email' });
    expect(decided!.reason).toMatch(/after the client's deadline .* not evaluated/);
    await sleep(60);
    await guard.flush();
    const all = await eventually(
      () => trailOf(url, decision.decisionId),
      (events) => events.length >= 2,
    );
    expect(all.map((e) => `${e.type} ${e.outcome ?? e.effect}`).sort()).toEqual([
      'decision deny',
      'outcome blocked',
    ]);
  });

  it('the gateway refuses a check past its deadline, and a decision id it has seen', async () => {
    const dir = tempDir();
    const { url } = await gatewayOn(dir);
    const token = await tokenFor(url);
    const post = (body: unknown) =>
      fetch(`${url}/v1/check`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const id = uuidv7();
    const late = await post({
      action: 'read:orders',
      decisionId: id,
      deadline: new Date(Date.now() - 1000).toISOString(),
    });
    expect(await late.json()).toMatchObject({ decisionId: id, allowed: false, effect: 'deny' });
    const again = await post({ action: 'read:orders', decisionId: id });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: 'conflict', field: 'decisionId' });
    // Another agent cannot take it either, nor an id minted long ago.
    const other = await tokenFor(url);
    const taken = await fetch(`${url}/v1/check`, {
      method: 'POST',
      headers: { authorization: `Bearer ${other}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'read:orders', decisionId: id }),
    });
    expect(taken.status).toBe(409);
    // (uuidv7() never goes back in time: an hour-old id is built by hand.)
    const hourAgo = (Date.now() - 3_600_000).toString(16).padStart(12, '0');
    const stale = await post({
      action: 'read:orders',
      decisionId: `${hourAgo.slice(0, 8)}-${hourAgo.slice(8)}-7000-8000-000000000000`,
    });
    expect(stale.status).toBe(409);
    expect(((await stale.json()) as { message: string }).message).toMatch(/too far from the gateway's clock/);
    const fresh = await post({ action: 'read:orders', decisionId: uuidv7() });
    expect(await fresh.json()).toMatchObject({ allowed: true });
  });
});

describe('fail fast: the circuit', () => {
  it('a turn of 6 checks against a frozen gateway takes one timeout (plus 10%), each denied with the same reason', async () => {
    const dir = tempDir();
    let answering = false;
    const url = await serve((_req, res) => {
      if (!answering) return; // frozen: takes the request, never answers
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          decisionId: uuidv7(),
          allowed: true,
          effect: 'allow',
          reason: 'ok',
          mode: 'enforce',
          evaluatedAt: new Date().toISOString(),
        }),
      );
    });
    const timeoutMs = 200;
    const guard = remote(url, 'token', join(dir, 'spool'), { timeoutMs, circuitRetryMs: 400 });
    const started = performance.now();
    const reasons: string[] = [];
    for (let i = 0; i < 6; i++) {
      const decision = await guard.check({ action: 'read:orders', agent });
      expect(decision.allowed).toBe(false);
      reasons.push(decision.reason);
    }
    const took = performance.now() - started;
    expect(took / timeoutMs).toBeLessThanOrEqual(1.1);
    expect(new Set(reasons).size).toBe(1);
    expect(reasons[0]).toMatch(/did not answer within 200 ms/);
    // After the retry interval one check probes; the gateway answers again, and so the circuit closes.
    answering = true;
    await sleep(450);
    expect((await guard.check({ action: 'read:orders', agent })).allowed).toBe(true);
    expect((await guard.check({ action: 'read:orders', agent })).allowed).toBe(true);
  });

  it('a refused connection opens it too: until the retry, nothing is sent', async () => {
    const dir = tempDir();
    const { gateway, url } = await gatewayOn(dir);
    const port = Number(new URL(url).port);
    const token = await tokenFor(url);
    await gateway.close();
    const guard = remote(url, token, join(dir, 'spool'), { circuitRetryMs: 600 });
    const first = await guard.check({ action: 'read:orders', agent });
    expect(first.reason).toMatch(/was unreachable/);
    // The gateway is back at once, but the circuit is open: denied without asking it.
    await gatewayOn(dir, undefined, port);
    const second = await guard.check({ action: 'read:orders', agent });
    expect(second).toMatchObject({ allowed: false, reason: first.reason });
    expect((await guard.reachable({ action: 'read:orders', agent })).reason).toBe(first.reason);
    await sleep(650);
    expect((await guard.check({ action: 'read:orders', agent })).allowed).toBe(true);
  });
});

describe('what the remote guard records of its own denials and late outcomes', () => {
  it('records a fail-closed denial once, even when the adapter records its block too', async () => {
    const { dir, url, port, token } = await stoppedGateway();
    const guard = remote(url, token, join(dir, 'spool'), { circuitRetryMs: 10 });
    const denied = await guard.check({ action: 'read:orders', agent, traceId: 'trace_once' });
    expect(denied.allowed).toBe(false);
    // What an adapter does with any deny: record that the action was blocked.
    await guard.record({ decisionId: denied.decisionId, outcome: 'blocked', action: 'read:orders' });
    const second = await gatewayOn(dir, undefined, port);
    await sleep(20);
    await guard.flush();
    const events = await trailOf(second.url, denied.decisionId);
    expect(events.map((e) => `${e.type} ${e.outcome}`)).toEqual(['outcome blocked']);
  });

  it('a spooled outcome keeps the time it happened; the time it was delivered is beside it', async () => {
    const { dir, url, port, token } = await stoppedGateway();
    const guard = remote(url, token, join(dir, 'spool'), { timeoutMs: 300 });
    const before = Date.now();
    await guard.record({
      id: 'late',
      outcome: 'success',
      action: 'read:orders',
      traceId: 'trace_late_outcome',
    });
    const spooled = readdirSync(join(dir, 'spool')).filter((f) => f.endsWith('.jsonl'));
    expect(readFileSync(join(dir, 'spool', spooled[0]!), 'utf8')).toContain('"late"');
    await sleep(1200);
    const second = await gatewayOn(dir, undefined, port);
    await guard.flush();
    const [event] = await trailOf(second.url, '').then(async () => {
      const res = await fetch(`${second.url}/v1/audit?traceId=trace_late_outcome`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      return ((await res.json()) as { events: AuditEvent[] }).events;
    });
    expect(event).toBeDefined();
    expect(Date.parse(event!.ts)).toBeLessThan(before + 500);
    expect(Date.parse(event!.deliveredAt!)).toBeGreaterThanOrEqual(before + 1200);
  });
});

const PG_URL = process.env.MESHGUARD_TEST_PG_URL;

describe.skipIf(!PG_URL)('on PostgreSQL alike', () => {
  const schema = `mg_remote_${uuidv7().slice(-12)}`;
  afterAll(async () => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });

  it('a late outcome keeps its time beside its delivery time, and a check past its deadline is a recorded deny', async () => {
    const dir = tempDir();
    const url = `${PG_URL}${PG_URL!.includes('?') ? '&' : '?'}schema=${schema}`;
    const { url: gateway } = await listening({
      store: await openPostgresStore(url),
      state: await openPostgresGatewayState(PG_URL!, { schema }),
    });
    const token = await tokenFor(gateway);
    const guard = remote(gateway, token, join(dir, 'spool'));
    const happened = new Date(Date.now() - 60_000).toISOString();
    await guard.record({
      id: 'late-pg',
      outcome: 'success',
      action: 'read:orders',
      traceId: 'trace_pg',
      ts: happened,
    });
    await guard.flush();
    const id = uuidv7();
    const res = await fetch(`${gateway}/v1/check`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        action: 'read:orders',
        traceId: 'trace_pg',
        decisionId: id,
        deadline: happened,
      }),
    });
    expect(await res.json()).toMatchObject({ decisionId: id, allowed: false });
    const events = await guard.query({ traceId: 'trace_pg', order: 'asc' });
    expect(events.find((e) => e.id === 'late-pg')).toMatchObject({
      ts: happened,
      deliveredAt: expect.any(String),
    });
    expect(events.find((e) => e.decisionId === id)).toMatchObject({
      type: 'decision',
      effect: 'deny',
      reason: expect.stringMatching(/after the client's deadline/),
    });
    const verify = await fetch(`${gateway}/v1/audit/verify`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(((await verify.json()) as { ok: boolean }).ok).toBe(true);
  });
});
