// The notifier against real receivers on 127.0.0.1: signed delivery verified by the Standard
// Webhooks library (tampered, wrongly signed and replayed requests refused), routing, Slack.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createApprovalNotifier } from './approval-notifier';
import {
  approval,
  captureDebug,
  closeTracked,
  deniedEvent,
  FAST,
  newSecret,
  pendingFiles,
  RAW_CARD,
  RAW_PASSWORD,
  removeTempDirs,
  reports,
  tempDir,
  track,
} from './notify-fixtures';
import type { ApprovalRequestedPayload, DecisionDeniedPayload, SlackPayload } from './webhook-payloads';
import { startReceiver, waitUntil } from './webhook-test-receiver';

afterEach(closeTracked);
afterAll(removeTempDirs);

describe('Standard Webhooks delivery', () => {
  it('delivers a signed request the receiver verifies, spooled first and gone once delivered', async () => {
    const secret = newSecret();
    const receiver = track(await startReceiver({ secret }));
    const spoolDir = join(tempDir(), 'spool');
    const seen = reports();
    const notifier = track(
      createApprovalNotifier({
        channels: [{ name: 'ops', url: receiver.url, format: 'standard', secret }],
        spoolDir,
        consoleUrl: 'https://console.example.com/',
        retry: FAST,
        onReport: seen.onReport,
      }),
    );
    const request = approval();
    const queued = await notifier.approvalRequested(request);
    expect(queued).toEqual([{ id: expect.stringMatching(/^msg_[0-9a-f]{32}$/), channel: 'ops' }]);
    // Durable before delivery: the message is on disk, and nothing was sent before start().
    expect(pendingFiles(spoolDir)).toEqual([`${queued[0]!.id}.json`]);
    expect(receiver.requests).toHaveLength(0);

    notifier.start();
    await waitUntil(() => seen.list.length === 1, 5000, 'the delivery');
    expect(seen.list[0]).toMatchObject({
      outcome: 'delivered',
      attempts: 1,
      status: 200,
      subject: request.id,
    });
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]!.refused).toBeUndefined();
    expect(receiver.requests[0]!.headers['webhook-id']).toBe(queued[0]!.id);
    expect(receiver.requests[0]!.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);

    const payload = receiver.accepted[0]!.payload as ApprovalRequestedPayload;
    expect(payload.type).toBe('approval.requested');
    expect(payload.timestamp).toBe(request.requestedAt);
    expect(payload.data).toMatchObject({
      id: request.id,
      action: 'write:refund',
      agent: { id: 'agent-1', name: 'Refund bot' },
      reason: 'Refunds over $100 need a manager',
      expiresAt: request.expiresAt,
      approvers: ['finance'],
      links: {
        console: `https://console.example.com/approvals/${request.id}`,
        approve: `https://console.example.com/approvals/${request.id}?answer=approve`,
        reject: `https://console.example.com/approvals/${request.id}?answer=reject`,
      },
    });
    // The arguments leave redacted: the password hashed by its key, the card number by its form.
    expect(payload.data.argumentsSummary).toContain('"order":"A-1"');
    expect(payload.data.argumentsSummary).toMatch(/"password":"redacted:sha256:[0-9a-f]+"/);
    expect(receiver.requests[0]!.body).not.toContain(RAW_PASSWORD);
    expect(receiver.requests[0]!.body).not.toContain(RAW_CARD);
    expect(payload.data).not.toHaveProperty('arguments');

    expect(pendingFiles(spoolDir)).toEqual([]);
    expect(existsSync(join(spoolDir, 'dead'))).toBe(false);
  });

  it('is refused by the receiver for a tampered body, a replay is de-duplicated', async () => {
    const secret = newSecret();
    const receiver = track(await startReceiver({ secret }));
    const seen = reports();
    const notifier = track(
      createApprovalNotifier({
        channels: [{ name: 'ops', url: receiver.url, format: 'standard', secret }],
        spoolDir: tempDir(),
        retry: FAST,
        onReport: seen.onReport,
      }),
    );
    notifier.start();
    await notifier.approvalRequested(approval());
    await waitUntil(() => receiver.accepted.length === 1, 5000, 'the delivery');
    const genuine = receiver.requests[0]!;
    const headers = {
      'content-type': 'application/json',
      'webhook-id': String(genuine.headers['webhook-id']),
      'webhook-timestamp': String(genuine.headers['webhook-timestamp']),
      'webhook-signature': String(genuine.headers['webhook-signature']),
    };

    const tampered = genuine.body.replace('write:refund', 'write:refund-all');
    expect(tampered).not.toBe(genuine.body);
    const refused = await fetch(receiver.url, { method: 'POST', headers, body: tampered });
    expect(refused.status).toBe(401);
    expect(receiver.requests[1]!.refused).toBe('No matching signature found');

    // The captured request sent again: genuine, so verified, and dropped as a repeat of its id.
    const replay = await fetch(receiver.url, { method: 'POST', headers, body: genuine.body });
    expect(replay.status).toBe(200);
    expect(receiver.requests[2]!.duplicate).toBe(true);
    expect(receiver.accepted).toHaveLength(1);
  });

  it('signed with the wrong secret: refused (401) and dead at once, never retried', async () => {
    const receiver = track(await startReceiver({ secret: newSecret() }));
    const spoolDir = tempDir();
    const seen = reports();
    const notifier = track(
      createApprovalNotifier({
        channels: [{ name: 'ops', url: receiver.url, format: 'standard', secret: newSecret() }],
        spoolDir,
        retry: FAST,
        onReport: seen.onReport,
      }),
    );
    notifier.start();
    const [queued] = await notifier.approvalRequested(approval());
    await waitUntil(() => seen.list.length === 1, 5000, 'the attempt');
    expect(seen.list[0]).toMatchObject({ outcome: 'dead', attempts: 1, status: 401, error: 'HTTP 401' });
    expect(receiver.requests.map((r) => r.refused)).toEqual(['No matching signature found']);
    expect(receiver.accepted).toHaveLength(0);
    expect(existsSync(join(spoolDir, 'dead', `${queued!.id}.json`))).toBe(true);
  });

  it('signed with a timestamp over 5 minutes old: refused as a replay', async () => {
    const secret = newSecret();
    const receiver = track(await startReceiver({ secret }));
    const seen = reports();
    const notifier = track(
      createApprovalNotifier({
        channels: [{ name: 'ops', url: receiver.url, format: 'standard', secret }],
        spoolDir: tempDir(),
        clock: () => Date.now() - 6 * 60_000,
        retry: FAST,
        onReport: seen.onReport,
      }),
    );
    notifier.start();
    await notifier.approvalRequested(approval());
    await waitUntil(() => seen.list.length === 1, 5000, 'the attempt');
    expect(receiver.requests[0]!.refused).toBe('Message timestamp too old');
    const sentAt = Number(receiver.requests[0]!.headers['webhook-timestamp']);
    expect(Date.now() / 1000 - sentAt).toBeGreaterThan(5 * 60);
    expect(receiver.accepted).toHaveLength(0);
  });
});

describe('routing', () => {
  it('sends to the channels a request names, or to every approval_requested subscriber', async () => {
    const receivers = {
      a: track(await startReceiver()),
      b: track(await startReceiver()),
      denies: track(await startReceiver()),
    };
    const { logged, restore } = captureDebug('meshguard:notify');
    try {
      const notifier = track(
        createApprovalNotifier({
          channels: [
            { name: 'a', url: receivers.a.url, format: 'slack' },
            { name: 'b', url: receivers.b.url, format: 'slack', events: ['approval_requested', 'deny'] },
            { name: 'denies', url: receivers.denies.url, format: 'slack', events: ['deny'] },
          ],
          spoolDir: tempDir(),
          retry: FAST,
        }),
      );
      notifier.start();
      expect(await notifier.approvalRequested(approval({ notify: ['b', 'nowhere'] }))).toEqual([
        { id: expect.any(String), channel: 'b' },
      ]);
      expect(logged.join('\n')).toContain('"nowhere", which is not configured');
      const all = await notifier.approvalRequested(approval({ notify: [] }));
      expect(all.map((q) => q.channel).sort()).toEqual(['a', 'b']);
      const denied = await notifier.denied(deniedEvent());
      expect(denied.map((q) => q.channel).sort()).toEqual(['b', 'denies']);
      expect(await notifier.denied(deniedEvent({ effect: 'allow' }))).toEqual([]);
      await waitUntil(
        () =>
          receivers.a.accepted.length + receivers.b.accepted.length + receivers.denies.accepted.length === 5,
        5000,
        'the deliveries',
      );
      expect(receivers.a.accepted).toHaveLength(1);
      expect(receivers.b.accepted).toHaveLength(3);
      expect(receivers.denies.accepted).toHaveLength(1);
    } finally {
      restore();
    }
  });

  it('sends a denied decision as decision.denied to Standard Webhooks channels', async () => {
    const secret = newSecret();
    const receiver = track(await startReceiver({ secret }));
    const notifier = track(
      createApprovalNotifier({
        channels: [{ name: 'sec', url: receiver.url, format: 'standard', secret, events: ['deny'] }],
        spoolDir: tempDir(),
        consoleUrl: 'https://console.example.com',
        retry: FAST,
      }),
    );
    notifier.start();
    expect(await notifier.approvalRequested(approval())).toEqual([]); // not subscribed
    const event = deniedEvent();
    await notifier.denied(event);
    await waitUntil(() => receiver.accepted.length === 1, 5000, 'the delivery');
    const payload = receiver.accepted[0]!.payload as DecisionDeniedPayload;
    expect(payload).toMatchObject({
      type: 'decision.denied',
      timestamp: event.ts,
      data: {
        id: event.id,
        action: 'delete:customer',
        reason: 'Deleting customers is never allowed',
        policy: { name: 'customers', version: '1' },
        rule: { id: 'no-deletes', index: 0 },
        links: { console: `https://console.example.com/audit/${event.id}` },
      },
    });
    expect(payload.data.argumentsSummary).not.toContain('sk-live-abcdef');
  });
});

describe('Slack', () => {
  it('posts { text, blocks } unsigned, with approve and reject links to the console', async () => {
    const receiver = track(await startReceiver());
    const notifier = track(
      createApprovalNotifier({
        channels: [{ name: 'slack-finance', url: receiver.url, format: 'slack' }],
        spoolDir: tempDir(),
        consoleUrl: 'https://console.example.com',
        retry: FAST,
      }),
    );
    notifier.start();
    const request = approval({ notify: ['slack-finance'], reason: 'Big refund <!channel> & more' });
    await notifier.approvalRequested(request);
    await waitUntil(() => receiver.accepted.length === 1, 5000, 'the delivery');
    const { headers } = receiver.accepted[0]!;
    expect(headers['webhook-signature']).toBeUndefined();
    expect(headers['content-type']).toBe('application/json');
    const payload = receiver.accepted[0]!.payload as SlackPayload;
    expect(Object.keys(payload).sort()).toEqual(['blocks', 'text']);
    expect(payload.text).toBe(
      'Approval requested: write:refund by Refund bot (Big refund &lt;!channel&gt; &amp; more)',
    );
    expect(payload.blocks.map((b) => b.type)).toEqual(['section', 'actions', 'context']);
    const section = payload.blocks[0] as { text: { text: string }; fields: Array<{ text: string }> };
    expect(section.text.text).toContain('Big refund &lt;!channel&gt; &amp; more');
    expect(section.text.text).toContain('"order":"A-1"');
    expect(section.text.text).not.toContain(RAW_PASSWORD);
    expect(section.fields.map((f) => f.text.split('\n')[0])).toEqual([
      '*Action*',
      '*Agent*',
      '*Expires*',
      '*Approvers*',
    ]);
    expect(section.fields[2]!.text).toContain(`<!date^${Math.floor(Date.parse(request.expiresAt) / 1000)}^`);
    const actions = payload.blocks[1] as {
      elements: Array<{ text: { text: string }; url: string; style?: string }>;
    };
    expect(actions.elements.map((e) => [e.text.text, e.url, e.style])).toEqual([
      ['Approve', `https://console.example.com/approvals/${request.id}?answer=approve`, 'primary'],
      ['Reject', `https://console.example.com/approvals/${request.id}?answer=reject`, 'danger'],
      ['Open in console', `https://console.example.com/approvals/${request.id}`, undefined],
    ]);
  });
});
