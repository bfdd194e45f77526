// Secrets at rest and in words: credentials in the gateway URL never reach a reason, the spool
// or the trail; the spool holds the redacted form only, in private files whatever the umask.
import { chmodSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createMemoryStore, createRemoteGuard } from '@meshguard/core';
import { openSqliteGatewayState } from '@meshguard/store';
import { describe, expect, it } from 'vitest';
import { createGateway } from './gateway-app';
import {
  ADMIN,
  agent,
  gatewayOn,
  recorder,
  remote,
  serve,
  sleep,
  stoppedGateway,
  tempDir,
} from './remote-guard-fixtures';

const SECRET = 's3cr3t-proxy-token';

function spoolText(dir: string): string {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
}

describe('credentials in the gateway URL', () => {
  it('never reach a reason, the spool or the trail', async () => {
    const { dir, url: plain, port, token } = await stoppedGateway();
    const spoolDir = join(dir, 'spool');
    const url = `${plain}/?token=${SECRET}&api_key=${SECRET}`;
    const guard = remote(url, token, spoolDir, { circuitRetryMs: 10 });
    expect(guard.url).toBe(`${plain}/?token=***&api_key=***`);
    const denied = await guard.check({ action: 'read:orders', agent, traceId: 'trace_url' });
    expect(denied.allowed).toBe(false);
    expect(denied.reason).not.toContain(SECRET);
    expect(denied.reason).toContain('token=***');
    expect((await guard.reachable({ action: 'read:orders', agent })).reason).not.toContain(SECRET);
    await guard.flush();
    expect(spoolText(spoolDir)).toContain('token=***');
    expect(spoolText(spoolDir)).not.toContain(SECRET);

    const second = await gatewayOn(dir, undefined, port);
    await sleep(20);
    expect((await guard.check({ action: 'read:orders', agent, traceId: 'trace_url' })).allowed).toBe(true);
    await guard.flush();
    const trail = await fetch(`${second.url}/v1/audit?traceId=trace_url`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const text = await trail.text();
    expect(text).toContain('token=***');
    expect(text).not.toContain(SECRET);
  });

  it("never reach the gateway's request log", async () => {
    const lines: string[] = [];
    const gateway = await createGateway({
      store: createMemoryStore(),
      state: openSqliteGatewayState(':memory:'),
      adminToken: ADMIN,
      logger: { level: 'info', stream: { write: (line: string) => void lines.push(line) } },
    });
    try {
      const res = await gateway.app.inject({ method: 'GET', url: `/healthz?token=${SECRET}` });
      expect(res.statusCode).toBe(200);
    } finally {
      await gateway.close();
    }
    const log = lines.join('');
    expect(log).toContain('/healthz?token=***');
    expect(log).not.toContain(SECRET);
  });

  it('a user name and password in it are refused, and the error does not show them', () => {
    expect(() => createRemoteGuard({ url: `http://bot:${SECRET}@127.0.0.1:8787`, agentToken: 't' })).toThrow(
      /carries a user name or password/,
    );
    try {
      createRemoteGuard({ url: `http://bot:${SECRET}@127.0.0.1:8787`, agentToken: 't' });
    } catch (error) {
      expect((error as Error).message).not.toContain(SECRET);
      expect((error as Error).message).toContain('http://***@127.0.0.1:8787');
    }
    try {
      createRemoteGuard({ url: `ftp://bot:${SECRET}@127.0.0.1/`, agentToken: 't' });
    } catch (error) {
      expect((error as Error).message).not.toContain(SECRET);
    }
  });
});

describe('the spool', () => {
  it('holds the redacted form of the context only', async () => {
    const dir = tempDir();
    const spoolDir = join(dir, 'spool');
    const guard = remote('http://127.0.0.1:9', 'token', spoolDir, { timeoutMs: 300 });
    await guard.record({
      outcome: 'success',
      action: 'write:refund',
      traceId: 't',
      context: { amount: 42, password: 'hunter2-hunter2', customer: { email: 'ann@example.com' } },
    });
    const text = spoolText(spoolDir);
    expect(text).toContain('"amount":42');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('ann@example.com');
    expect(text).toContain('redacted:sha256:');
  });

  it('is private (0700 folders, 0600 files) whatever the umask, and a looser file is tightened', async () => {
    const dir = tempDir();
    const spoolDir = join(dir, 'nested', 'spool');
    // A gateway that rejects every event by id: they go to the rejected file beside the spool.
    const { listen } = recorder();
    const url = await serve(
      listen(({ body }) => {
        const ids = (JSON.parse(body) as { events: Array<{ id: string }> }).events.map((e) => e.id);
        return {
          status: 200,
          body: {
            accepted: 0,
            recorded: [],
            rejected: ids.map((id, index) => ({ index, id, error: 'bad_request', message: 'no' })),
          },
        };
      }),
    );
    const umask = process.umask(0);
    try {
      const away = remote('http://127.0.0.1:9', 'token', spoolDir, { timeoutMs: 300 });
      await away.record({ outcome: 'success', action: 'read:orders', traceId: 't' });
      expect(statSync(join(dir, 'nested')).mode & 0o777).toBe(0o700);
      expect(statSync(spoolDir).mode & 0o777).toBe(0o700);
      const [spooled] = readdirSync(spoolDir);
      expect(statSync(join(spoolDir, spooled!)).mode & 0o777).toBe(0o600);

      const refusing = remote(url, 'token', spoolDir);
      await refusing.record({ outcome: 'success', action: 'read:orders', traceId: 't' });
      await refusing.flush();
      const rejected = join(spoolDir, readdirSync(spoolDir).find((f) => f.endsWith('.rejected.jsonl'))!);
      expect(statSync(rejected).mode & 0o777).toBe(0o600);
      // A file left readable by others (an older version, a copy) is tightened on the next write.
      chmodSync(rejected, 0o644);
      await refusing.record({ outcome: 'success', action: 'read:orders', traceId: 't' });
      await refusing.flush();
      expect(
        readFileSync(rejected, 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== ''),
      ).toHaveLength(2);
      expect(statSync(rejected).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(umask);
    }
  });
});
