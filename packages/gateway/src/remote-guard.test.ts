import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ADMIN,
  agent,
  gatewayOn,
  remote,
  serve,
  stoppedGateway,
  tempDir,
  tokenFor,
} from './remote-guard-fixtures';

describe('the remote guard against a real gateway', () => {
  it('decides through the gateway and records outcomes there', async () => {
    const dir = tempDir();
    const { url } = await gatewayOn(dir);
    const guard = remote(url, await tokenFor(url), join(dir, 'spool'));
    const allowed = await guard.check({ action: 'read:orders', agent, traceId: 'trace_remote' });
    expect(allowed).toMatchObject({ allowed: true, effect: 'allow' });
    const denied = await guard.check({ action: 'write:refund', agent, traceId: 'trace_remote' });
    expect(denied.effect).toBe('deny');
    expect(await guard.reachable({ action: 'write:refund', agent })).toMatchObject({ reachable: false });
    await guard.record({ decisionId: allowed.decisionId, outcome: 'success', durationMs: 4 });
    await guard.flush();
    const events = await guard.query({ traceId: 'trace_remote', order: 'asc' });
    expect(events.map((e) => `${e.type} ${e.action} ${e.outcome ?? e.effect}`)).toEqual([
      'decision read:orders allow',
      'decision write:refund deny',
      'outcome read:orders success',
    ]);
    expect(events[0]!.agent.name).toBe('support-bot');
  });

  it('fails closed: unreachable, too slow, or not a decision is a deny saying so, never an allow', async () => {
    const dir = tempDir();
    // A port nothing listens on.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const unreachable = await remote(`http://127.0.0.1:${deadPort}`, 'token', join(dir, 's1')).check({
      action: 'read:orders',
      agent,
    });
    expect(unreachable).toMatchObject({ allowed: false, effect: 'deny' });
    expect(unreachable.reason).toMatch(
      /^Denied: the MeshGuard gateway at http:\/\/127\.0\.0\.1:\d+ was unreachable/,
    );

    const silent = await serve(() => {}); // never answers
    const started = Date.now();
    const slow = await remote(silent, 'token', join(dir, 's2'), { timeoutMs: 300 }).check({
      action: 'read:orders',
      agent,
    });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(slow.reason).toMatch(/did not answer within 300 ms/);
    expect(slow.allowed).toBe(false);

    const garbage = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"allowed": true, "effect": "allow"}'); // looks like a yes, is not a decision
    });
    const bad = await remote(garbage, 'token', join(dir, 's3')).check({ action: 'read:orders', agent });
    expect(bad).toMatchObject({ allowed: false, effect: 'deny' });
    expect(bad.reason).toMatch(/not a decision/);

    const html = await serve((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<h1>Bad gateway</h1>');
    });
    expect(
      (await remote(html, 'token', join(dir, 's4')).check({ action: 'read:orders', agent })).reason,
    ).toMatch(/HTTP 502 with something that is not JSON/);
  });

  it('spools outcomes while the gateway is away and replays them once it is back, each exactly once', async () => {
    const dir = tempDir();
    const first = await gatewayOn(dir);
    const port = Number(new URL(first.url).port);
    const token = await tokenFor(first.url);
    const spoolDir = join(dir, 'spool');
    const guard = remote(first.url, token, spoolDir, { timeoutMs: 500 });
    const decision = await guard.check({ action: 'read:orders', agent, traceId: 'trace_spool' });
    await first.gateway.close();

    // Gateway away: a check is denied, outcomes are acknowledged once they are on disk.
    expect((await guard.check({ action: 'read:orders', agent })).allowed).toBe(false);
    for (let i = 0; i < 5; i++) {
      await guard.record({
        id: `spooled-${i}`,
        decisionId: decision.decisionId,
        outcome: 'success',
        action: 'read:orders',
        traceId: 'trace_spool',
      });
    }
    // The denied check is spooled too (a blocked outcome), then the five outcomes.
    const spoolFiles = readFileSync(join(spoolDir, readdirSync(spoolDir)[0]!), 'utf8');
    expect(spoolFiles.split('\n').filter((l) => l.trim() !== '')).toHaveLength(6);

    // Back on the same port and database: the next flush replays the spool.
    const second = await gatewayOn(dir, undefined, port);
    await guard.record({
      id: 'after',
      decisionId: decision.decisionId,
      outcome: 'success',
      action: 'read:orders',
      traceId: 'trace_spool',
    });
    await guard.flush();
    await guard.flush(); // a second flush sends nothing twice
    const events = await guard.query({ traceId: 'trace_spool', type: 'outcome', order: 'asc' });
    const blocked = events.filter((e) => e.outcome === 'blocked');
    expect(blocked).toHaveLength(0); // that check named no trace: it is in the trail, under its own
    expect(events.map((e) => e.id)).toEqual([
      'spooled-0',
      'spooled-1',
      'spooled-2',
      'spooled-3',
      'spooled-4',
      'after',
    ]);
    const denied = await guard.query({ type: 'outcome', action: 'read:orders', order: 'asc' });
    expect(denied.filter((e) => e.outcome === 'blocked')).toMatchObject([
      {
        effect: 'deny',
        reason: expect.stringMatching(
          /^Denied: the MeshGuard gateway at .* (was unreachable|did not answer)/,
        ),
      },
    ]);
    expect(readdirSync(spoolDir)).toEqual([]);
    const verify = await (
      await fetch(`${second.url}/v1/audit/verify`, { headers: { authorization: `Bearer ${ADMIN}` } })
    ).json();
    expect((verify as { ok: boolean }).ok).toBe(true);
  });
});

describe('the remote guard delivers what it can, and says when it cannot', () => {
  it("sets aside an event the gateway refuses (another agent's decision) and delivers the rest", async () => {
    const dir = tempDir();
    const { url } = await gatewayOn(dir);
    const alice = remote(url, await tokenFor(url), join(dir, 'spool-a'));
    const mallory = remote(url, await tokenFor(url), join(dir, 'spool-m'));
    const decision = await alice.check({ action: 'read:orders', agent, traceId: 'trace_poison' });
    // Mallory claims an approval on Alice's decision: refused, set aside, not retried forever.
    await mallory.record({
      id: 'forged',
      decisionId: decision.decisionId,
      outcome: 'approved',
      actor: 'cfo@acme.test',
    });
    await mallory.record({
      id: 'honest',
      outcome: 'success',
      action: 'read:orders',
      traceId: 'trace_poison',
    });
    await mallory.flush();
    const events = await alice.query({ traceId: 'trace_poison', order: 'asc' });
    expect(events.map((e) => e.id).filter((id) => id === 'forged' || id === 'honest')).toEqual(['honest']);
    const rejected = readdirSync(join(dir, 'spool-m')).filter((f) => f.endsWith('.rejected.jsonl'));
    expect(rejected).toHaveLength(1);
    expect(readFileSync(join(dir, 'spool-m', rejected[0]!), 'utf8')).toContain('"forged"');
  });

  it('rejects record() when an outcome can be neither sent nor spooled, without crashing the process', async () => {
    const dir = tempDir();
    const blocker = join(dir, 'not-a-folder');
    writeFileSync(blocker, 'a file where the spool folder should be');
    const guard = remote('http://127.0.0.1:9', 'token', join(blocker, 'spool'), { timeoutMs: 300 });
    await expect(guard.record({ outcome: 'success', action: 'read:orders', traceId: 't' })).rejects.toThrow(
      /could be neither sent to the gateway nor spooled/,
    );
  });

  it('replays the spool on flush even when nothing new is queued', async () => {
    const { dir, url, port, token } = await stoppedGateway();
    const guard = remote(url, token, join(dir, 'spool'), { timeoutMs: 300 });
    await guard.record({
      id: 'while-away',
      outcome: 'success',
      action: 'read:orders',
      traceId: 'trace_replay',
    });
    await gatewayOn(dir, undefined, port);
    await guard.flush();
    expect((await guard.query({ traceId: 'trace_replay' })).map((e) => e.id)).toEqual(['while-away']);
  });
});
