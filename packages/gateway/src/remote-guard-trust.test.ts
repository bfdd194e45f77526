// Trust on the wire: what the remote guard accepts from a gateway (a consistent decision, a
// bounded answer read in time), and what counts as delivered (an outcome the gateway names).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agent, gatewayOn, recorder, remote, serve, sleep, tempDir, tokenFor } from './remote-guard-fixtures';

const decision = (allowed: boolean, effect: string) => ({
  decisionId: '0190a0b0-0000-7000-8000-000000000000',
  allowed,
  effect,
  reason: 'the policy says so',
  mode: 'enforce',
  evaluatedAt: new Date().toISOString(),
});

describe('the remote guard accepts only a decision whose allowed agrees with its effect', () => {
  it('denies, saying the gateway answered inconsistently, and hands no inconsistent decision on', async () => {
    const dir = tempDir();
    for (const [allowed, effect] of [
      [true, 'deny'],
      [true, 'require_approval'],
      [false, 'allow'],
    ] as const) {
      const url = await serve((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(decision(allowed, effect)));
      });
      const answer = await remote(url, 'token', join(dir, `s-${effect}`)).check({
        action: 'read:orders',
        agent,
      });
      expect(answer).toMatchObject({ allowed: false, effect: 'deny' });
      expect(answer.reason).toMatch(
        new RegExp(`answered inconsistently \\(allowed: ${allowed} with effect "${effect}"\\)`),
      );
    }
    // A consistent answer passes as it is.
    const honest = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(decision(true, 'allow')));
    });
    expect(
      await remote(honest, 'token', join(dir, 's-ok')).check({ action: 'read:orders', agent }),
    ).toMatchObject({
      allowed: true,
      effect: 'allow',
    });
  });
});

describe('the remote guard reads a bounded answer, and its timeout covers the body', () => {
  it('denies a reply that streams a huge body as soon as it passes the cap, without reading it all', async () => {
    const dir = tempDir();
    let sent = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"decisionId":"x","pad":"');
      // Up to 200 MB, as fast as the client takes it; stops when the client hangs up.
      const pump = () => {
        while (sent < 200 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end('"}');
      };
      pump();
    });
    const started = Date.now();
    const answer = await remote(url, 'token', join(dir, 's'), { timeoutMs: 5000 }).check({
      action: 'read:orders',
      agent,
    });
    expect(answer).toMatchObject({ allowed: false, effect: 'deny' });
    expect(answer.reason).toMatch(/answered more than 1048576 bytes/);
    expect(Date.now() - started).toBeLessThan(5000);
    await sleep(100);
    expect(sent).toBeLessThan(50 * 1024 * 1024); // it hung up long before 200 MB
  });

  it('denies a reply whose declared length is over a configured cap, before reading it', async () => {
    const dir = tempDir();
    const url = await serve((_req, res) => {
      const body = JSON.stringify({ ...decision(true, 'allow'), reason: 'x'.repeat(5000) });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    const answer = await remote(url, 'token', join(dir, 's'), { maxResponseBytes: 4096 }).check({
      action: 'read:orders',
      agent,
    });
    expect(answer).toMatchObject({ allowed: false, effect: 'deny' });
    expect(answer.reason).toMatch(/answered more than 4096 bytes/);
  });

  it('denies when the gateway stalls mid-body, within the timeout', async () => {
    const dir = tempDir();
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"decisionId":"0190a0b0-0000-7000-8000-000000000000","allowed":true,'); // then nothing
    });
    const started = Date.now();
    const answer = await remote(url, 'token', join(dir, 's'), { timeoutMs: 300 }).check({
      action: 'read:orders',
      agent,
    });
    const took = Date.now() - started;
    expect(answer).toMatchObject({ allowed: false, effect: 'deny' });
    expect(answer.reason).toMatch(/did not answer within 300 ms/);
    expect(took).toBeLessThan(300 * 3);
  });
});

describe('outcomes count as delivered only when the gateway names them', () => {
  const outcome = (id: string) => ({ id, outcome: 'success' as const, action: 'read:orders', traceId: 't' });
  const spooled = (dir: string) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.jsonl') && !f.endsWith('.rejected.jsonl'))
      .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n'))
      .filter((l) => l.trim() !== '')
      .map((l) => (JSON.parse(l) as { id: string }).id);

  it('keeps events spooled on a 2xx that does not name them, and on 401 and 403', async () => {
    const dir = tempDir();
    for (const [status, body] of [
      [200, { accepted: 2 }], // an answer that names no id
      [202, 'ok'],
      [401, { error: 'unauthorized', message: 'the token expired' }],
      [403, { error: 'forbidden', message: 'no' }],
      [400, { error: 'bad_request', message: 'events: broken' }],
    ] as const) {
      const { listen } = recorder();
      const url = await serve(listen(() => ({ status, body })));
      const spoolDir = join(dir, `spool-${status}-${typeof body}`);
      const guard = remote(url, 'token', spoolDir);
      await guard.record(outcome('a'));
      await guard.record(outcome('b'));
      await guard.flush();
      expect(spooled(spoolDir), `HTTP ${status}`).toEqual(['a', 'b']);
      expect(readdirSync(spoolDir).filter((f) => f.endsWith('.rejected.jsonl'))).toEqual([]);
    }
  });

  it('delivers what is named, sets aside what is rejected by id, and keeps the rest', async () => {
    const dir = tempDir();
    let expired = true;
    const { requests, listen } = recorder();
    const url = await serve(
      listen(({ body }) => {
        if (expired) return { status: 401, body: { error: 'unauthorized', message: 'expired' } };
        const ids = (JSON.parse(body) as { events: Array<{ id: string }> }).events.map((e) => e.id);
        return {
          status: 200,
          body: {
            accepted: 1,
            recorded: ids.filter((id) => id === 'a'),
            rejected: ids
              .filter((id) => id === 'bad')
              .map((id) => ({ index: ids.indexOf(id), id, error: 'bad_request', message: 'broken' })),
          },
        };
      }),
    );
    const spoolDir = join(dir, 'spool');
    const guard = remote(url, 'token', spoolDir);
    for (const id of ['a', 'bad', 'unnamed']) await guard.record(outcome(id));
    await guard.flush();
    expect(spooled(spoolDir)).toEqual(['a', 'bad', 'unnamed']); // a token expired: nothing stranded
    expired = false; // a new token (or the gateway's clock back): the spool goes out
    await guard.flush();
    expect(spooled(spoolDir)).toEqual(['unnamed']);
    const rejected = readdirSync(spoolDir).find((f) => f.endsWith('.rejected.jsonl'))!;
    expect(readFileSync(join(spoolDir, rejected), 'utf8')).toContain('"bad"');
    expect(requests.length).toBeGreaterThanOrEqual(2);
  });

  it('the gateway answers event by event: a malformed event is rejected, the others recorded', async () => {
    const dir = tempDir();
    const { url } = await gatewayOn(dir);
    const token = await tokenFor(url);
    const res = await fetch(`${url}/v1/audit`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        events: [
          { id: 'good-1', outcome: 'success', action: 'read:orders', traceId: 'trace_each' },
          { id: 'broken', outcome: 'exploded', action: 'read:orders' },
          { id: 'no-action', outcome: 'success' },
          { id: 'good-2', outcome: 'error', action: 'read:orders', traceId: 'trace_each' },
        ],
      }),
    });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { accepted: number; recorded: string[]; rejected: unknown[] };
    expect(answer.recorded).toEqual(['good-1', 'good-2']);
    expect(answer.accepted).toBe(2);
    expect(answer.rejected).toMatchObject([
      { index: 1, id: 'broken', error: 'bad_request', field: 'events.1.outcome' },
      { index: 2, id: 'no-action', error: 'bad_request', field: 'events.2.action' },
    ]);
  });
});

describe('an agent cannot record an approval', () => {
  it('refuses approved and rejected outcomes from an agent token, on its own denied decision too', async () => {
    const dir = tempDir();
    const { url } = await gatewayOn(dir);
    const guard = remote(url, await tokenFor(url), join(dir, 'spool'));
    const denied = await guard.check({ action: 'write:refund', agent, traceId: 'trace_self_approval' });
    expect(denied.effect).toBe('deny');
    await guard.record({
      id: 'self-approval',
      decisionId: denied.decisionId,
      outcome: 'approved',
      actor: 'cfo@acme.test',
    });
    await guard.record({
      id: 'self-rejection',
      decisionId: denied.decisionId,
      outcome: 'rejected',
      actor: 'cfo@acme.test',
    });
    await guard.record({ id: 'blocked', decisionId: denied.decisionId, outcome: 'blocked' });
    await guard.flush();
    const events = await guard.query({ traceId: 'trace_self_approval', order: 'asc' });
    expect(events.map((e) => `${e.type} ${e.outcome ?? e.effect}`)).toEqual([
      'decision deny',
      'outcome blocked',
    ]);
    // Set aside for an operator, with the gateway's reason.
    const rejected = readdirSync(join(dir, 'spool')).find((f) => f.endsWith('.rejected.jsonl'))!;
    const text = readFileSync(join(dir, 'spool', rejected), 'utf8');
    expect(text).toContain('"self-approval"');
    expect(text).toContain('"self-rejection"');

    const res = await fetch(`${url}/v1/audit`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await tokenFor(url)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: [{ id: 'x', outcome: 'approved', action: 'write:refund' }] }),
    });
    expect(await res.json()).toMatchObject({
      recorded: [],
      rejected: [
        { index: 0, id: 'x', error: 'forbidden', message: expect.stringMatching(/recorded by the approver/) },
      ],
    });
  });
});

// Found attacking issue 15: fetch followed a 307 to another origin, sending it the check (its
// context unredacted) and taking its answer, from a server that never saw a token, as the decision.
describe('the remote guard does not follow redirects', () => {
  it('denies a check answered with a redirect, and sends nothing where it points', async () => {
    const dir = tempDir();
    let reached = 0;
    const elsewhere = await serve((_req, res) => {
      reached++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(decision(true, 'allow')));
    });
    const url = await serve((_req, res) => {
      res.writeHead(307, { location: `${elsewhere}/v1/check` });
      res.end();
    });
    const answer = await remote(url, 'token', join(dir, 's-redirect')).check({
      action: 'read:orders',
      context: { password: 'hunter2' },
      agent,
    });
    expect(answer).toMatchObject({ allowed: false, effect: 'deny' });
    expect(reached).toBe(0);
  });
});

// Found attacking issue 15: a probe answered with more than the cap neither closed nor reopened
// the circuit, so it stayed "probing" and every later check was denied at once, for good, even
// once the gateway answered normally again.
describe('the circuit recovers after a probe whose answer is too large', () => {
  it('lets checks through again once the gateway answers normally', async () => {
    const dir = tempDir();
    let calls = 0;
    const url = await serve((req, res) => {
      if (!req.url?.startsWith('/v1/check')) {
        res.writeHead(503).end(); // outcomes stay spooled
        return;
      }
      calls++;
      if (calls === 1) return; // stalls: the check times out and the circuit opens
      res.writeHead(200, { 'content-type': 'application/json' });
      if (calls === 2) res.end(JSON.stringify({ ...decision(true, 'allow'), pad: 'x'.repeat(8192) }));
      else res.end(JSON.stringify(decision(true, 'allow')));
    });
    const guard = remote(url, 'token', join(dir, 's-probe'), {
      timeoutMs: 200,
      circuitRetryMs: 20,
      maxResponseBytes: 4096,
    });
    const ask = () => guard.check({ action: 'read:orders', agent });
    expect((await ask()).reason).toMatch(/did not answer within 200 ms/);
    await sleep(30);
    expect((await ask()).reason).toMatch(/answered more than 4096 bytes/); // the probe
    await sleep(30);
    expect(await ask()).toMatchObject({ allowed: true });
  });
});
