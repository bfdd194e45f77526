// The notifier's spool and retries against real receivers on 127.0.0.1: retried failures under
// one webhook-id, a restart, two notifiers on one folder, crashed claims, dead letters, file modes.
import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createApprovalNotifier } from './approval-notifier';
import {
  approval,
  captureDebug,
  closeTracked,
  FAST,
  filesUnder,
  newSecret,
  pendingFiles,
  RAW_PASSWORD,
  removeTempDirs,
  reports,
  tempDir,
  track,
} from './notify-fixtures';
import { freePort, startReceiver, waitUntil } from './webhook-test-receiver';

afterEach(closeTracked);
afterAll(removeTempDirs);

describe('retries and the spool', () => {
  it('retries a receiver that fails twice, under one webhook-id, and delivers once', async () => {
    const secret = newSecret();
    const receiver = track(await startReceiver({ secret, answers: [500, 503] }));
    const spoolDir = tempDir();
    const seen = reports();
    const notifier = track(
      createApprovalNotifier({
        channels: [{ name: 'ops', url: receiver.url, format: 'standard', secret }],
        spoolDir,
        retry: FAST,
        onReport: seen.onReport,
      }),
    );
    notifier.start();
    const [queued] = await notifier.approvalRequested(approval());
    await waitUntil(() => seen.list.some((r) => r.outcome === 'delivered'), 5000, 'the delivery');
    expect(seen.list.map((r) => [r.outcome, r.attempts, r.status])).toEqual([
      ['retrying', 1, 500],
      ['retrying', 2, 503],
      ['delivered', 3, 200],
    ]);
    expect(receiver.requests.map((r) => r.headers['webhook-id'])).toEqual([
      queued!.id,
      queued!.id,
      queued!.id,
    ]);
    expect(receiver.requests.every((r) => r.refused === undefined)).toBe(true);
    expect(receiver.accepted).toHaveLength(1);
    expect(pendingFiles(spoolDir)).toEqual([]);
  });

  it('keeps a message while the receiver is down; a new notifier on the folder delivers it', async () => {
    const secret = newSecret();
    const port = await freePort();
    const spoolDir = tempDir();
    const channels = [
      { name: 'ops', url: `http://127.0.0.1:${port}/hooks/meshguard`, format: 'standard' as const, secret },
    ];
    const first = reports();
    const before = createApprovalNotifier({ channels, spoolDir, retry: FAST, onReport: first.onReport });
    before.start();
    const [queued] = await before.approvalRequested(approval());
    await waitUntil(() => first.list.length >= 2, 5000, 'failed attempts');
    expect(first.list[0]).toMatchObject({ outcome: 'retrying', error: 'network error (ECONNREFUSED)' });
    await before.close(); // the gateway stops
    expect(pendingFiles(spoolDir)).toEqual([`${queued!.id}.json`]);
    const kept = JSON.parse(readFileSync(join(spoolDir, `${queued!.id}.json`), 'utf8'));
    expect(kept.attempts).toBeGreaterThanOrEqual(2);

    const receiver = track(await startReceiver({ secret, port }));
    const second = reports();
    const after = track(
      createApprovalNotifier({ channels, spoolDir, retry: FAST, onReport: second.onReport }),
    );
    after.start(); // the gateway is back
    await waitUntil(() => second.list.some((r) => r.outcome === 'delivered'), 5000, 'the delivery');
    expect(receiver.accepted.map((a) => a.id)).toEqual([queued!.id]);
    expect(pendingFiles(spoolDir)).toEqual([]);
  });

  it('two notifiers on one folder deliver each message once', async () => {
    const secret = newSecret();
    const receiver = track(await startReceiver({ secret }));
    const spoolDir = tempDir();
    const channels = [{ name: 'ops', url: receiver.url, format: 'standard' as const, secret }];
    const seen = reports();
    const a = track(
      createApprovalNotifier({
        channels,
        spoolDir,
        retry: FAST,
        scanIntervalMs: 20,
        onReport: seen.onReport,
      }),
    );
    const b = track(
      createApprovalNotifier({
        channels,
        spoolDir,
        retry: FAST,
        scanIntervalMs: 20,
        onReport: seen.onReport,
      }),
    );
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const notifier = i % 2 === 0 ? a : b;
      for (const q of await notifier.approvalRequested(approval())) ids.push(q.id);
    }
    a.start();
    b.start();
    for (let i = 0; i < 8; i++) {
      for (const q of await (i % 2 === 0 ? a : b).approvalRequested(approval())) ids.push(q.id);
    }
    await waitUntil(() => receiver.accepted.length === ids.length, 5000, 'every delivery');
    await new Promise((resolve) => setTimeout(resolve, 200)); // room for a second, wrong, delivery
    expect(receiver.requests).toHaveLength(ids.length);
    expect(receiver.requests.filter((r) => r.duplicate)).toEqual([]);
    expect(new Set(receiver.accepted.map((x) => x.id))).toEqual(new Set(ids));
    expect(seen.list.filter((r) => r.outcome === 'delivered')).toHaveLength(ids.length);
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('takes back the claim of a notifier that died mid-send, and cuts short a receiver that does not answer', async () => {
    const secret = newSecret();
    const receiver = track(await startReceiver({ secret, answers: [0] }));
    const spoolDir = tempDir();
    const channels = [{ name: 'ops', url: receiver.url, format: 'standard' as const, secret }];
    const crashed = track(createApprovalNotifier({ channels, spoolDir }));
    const [queued] = await crashed.approvalRequested(approval());
    // As a process that claimed the message and died leaves it (no process has this pid).
    const claim = `${queued!.id}.json.4194305-0bad.${Date.now()}.sending`;
    renameSync(join(spoolDir, `${queued!.id}.json`), join(spoolDir, claim));

    const seen = reports();
    const notifier = track(
      createApprovalNotifier({
        channels,
        spoolDir,
        retry: { ...FAST, timeoutMs: 100 },
        onReport: seen.onReport,
      }),
    );
    notifier.start();
    await waitUntil(() => seen.list.some((r) => r.outcome === 'delivered'), 5000, 'the delivery');
    expect(seen.list.map((r) => [r.outcome, r.error])).toEqual([
      ['retrying', 'no answer within 100 ms'],
      ['delivered', undefined],
    ]);
    expect(receiver.accepted.map((x) => x.id)).toEqual([queued!.id]);
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('a 400 answer is dead at once, kept for an operator, never retried', async () => {
    const secret = newSecret();
    const receiver = track(await startReceiver({ secret, answers: [400, 400, 400] }));
    const spoolDir = tempDir();
    const seen = reports();
    const notifier = track(
      createApprovalNotifier({
        channels: [{ name: 'ops', url: receiver.url, format: 'standard', secret }],
        spoolDir,
        retry: FAST,
        onReport: seen.onReport,
      }),
    );
    notifier.start();
    const [queued] = await notifier.approvalRequested(approval());
    await waitUntil(() => seen.list.length === 1, 5000, 'the attempt');
    await new Promise((resolve) => setTimeout(resolve, 150)); // a retry would have come by now
    expect(receiver.requests).toHaveLength(1);
    expect(seen.list).toEqual([expect.objectContaining({ outcome: 'dead', attempts: 1, status: 400 })]);
    expect(pendingFiles(spoolDir)).toEqual([]);
    const dead = JSON.parse(readFileSync(join(spoolDir, 'dead', `${queued!.id}.json`), 'utf8'));
    expect(dead).toMatchObject({
      id: queued!.id,
      channel: 'ops',
      attempts: 1,
      lastStatus: 400,
      reason: 'HTTP 400',
    });
  });

  it('gives up after the configured attempts and does not follow redirects', async () => {
    const secret = newSecret();
    const failing = track(await startReceiver({ secret, answers: [500, 500, 500, 500] }));
    const target = track(await startReceiver({ secret }));
    const redirecting = track(await startReceiver({ redirectTo: target.url }));
    const spoolDir = tempDir();
    const seen = reports();
    const notifier = track(
      createApprovalNotifier({
        channels: [
          { name: 'flaky', url: failing.url, format: 'standard', secret },
          { name: 'moved', url: redirecting.url, format: 'standard', secret },
        ],
        spoolDir,
        retry: { ...FAST, maxAttempts: 3 },
        onReport: seen.onReport,
      }),
    );
    notifier.start();
    await notifier.approvalRequested(approval());
    await waitUntil(() => seen.list.filter((r) => r.outcome === 'dead').length === 2, 5000, 'both dead');
    const flaky = seen.list.filter((r) => r.channel === 'flaky');
    expect(flaky.map((r) => r.outcome)).toEqual(['retrying', 'retrying', 'dead']);
    expect(flaky[2]!.error).toBe('gave up after 3 attempts; the last: HTTP 500');
    expect(failing.requests).toHaveLength(3);
    expect(seen.list.find((r) => r.channel === 'moved')).toMatchObject({ outcome: 'dead', status: 302 });
    expect(target.requests).toHaveLength(0);
    expect(readdirSync(join(spoolDir, 'dead'))).toHaveLength(2);
  });
});

describe('secrets and files', () => {
  it('keeps the folder 0700 and every file 0600 with umask 000, and the secret out of every file and log', async () => {
    const secret = newSecret();
    const receiver = track(await startReceiver({ secret, answers: [400] }));
    const spoolDir = join(tempDir(), 'nested', 'spool');
    const { logged, restore } = captureDebug('meshguard:*');
    const umask = process.umask(0o000);
    try {
      const notifier = track(
        createApprovalNotifier({
          channels: [
            { name: 'ops', url: receiver.url, format: 'standard', secret },
            { name: 'down', url: `http://127.0.0.1:${await freePort()}/x`, format: 'standard', secret },
          ],
          spoolDir,
          retry: FAST,
        }),
      );
      await notifier.approvalRequested(approval());
      notifier.start();
      await waitUntil(
        () => existsSync(join(spoolDir, 'dead')) && readdirSync(join(spoolDir, 'dead')).length === 1,
      );
      await waitUntil(() => logged.some((line) => line.includes('ECONNREFUSED')), 5000, 'a retry');
      await notifier.close();

      const files = filesUnder(join(spoolDir, '..'));
      expect(files.filter((f) => f.isDir).map((f) => [f.path, f.mode])).toEqual([
        [spoolDir, 0o700],
        [join(spoolDir, 'dead'), 0o700],
      ]);
      const plain = files.filter((f) => !f.isDir);
      expect(plain).toHaveLength(2); // one waiting (the receiver that is down), one dead
      for (const file of plain) expect([file.path, file.mode]).toEqual([file.path, 0o600]);
      const keyBase64 = secret.slice('whsec_'.length);
      for (const text of [...plain.map((f) => f.text), ...logged]) {
        expect(text).not.toContain(keyBase64);
        expect(text).not.toContain(RAW_PASSWORD);
      }
      expect(logged.length).toBeGreaterThan(0);
    } finally {
      process.umask(umask);
      restore();
    }
  });
});
