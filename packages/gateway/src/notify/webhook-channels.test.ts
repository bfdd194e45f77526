import { ConfigError, createRedactor } from '@meshguard/core';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { createApprovalNotifier } from './approval-notifier';
import { approval, newSecret, RAW_PASSWORD, tempDir } from './notify-fixtures';
import { resolveChannels, type WebhookChannel } from './webhook-channels';
import { DEFAULT_RETRY, resolveRetryPolicy, retryDelay } from './webhook-delivery';
import { approvalRequestedBody, type SlackPayload, summarizeArguments, truncate } from './webhook-payloads';

function refusal(channels: WebhookChannel[]): ConfigError {
  try {
    resolveChannels(channels);
  } catch (error) {
    expect(ConfigError.isInstance(error)).toBe(true);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('channels', () => {
  const secret = newSecret();

  it('refuses what cannot work, naming the channel and never quoting its URL or secret', () => {
    const shortSecret = `whsec_${Buffer.from('too short').toString('base64')}`;
    const cases: Array<[WebhookChannel, string]> = [
      [
        { name: 'ops', url: 'ftp://files.example.com/drop?token=T0KEN', format: 'standard', secret },
        'notification channel "ops": url must be http or https, not "ftp:"',
      ],
      [
        { name: 'ops', url: 'not a url T0KEN', format: 'standard', secret },
        'notification channel "ops": url is not a valid URL',
      ],
      [
        { name: 'ops', url: 'https://x.example.com', format: 'standard' },
        'notification channel "ops": format "standard" needs a secret',
      ],
      [
        { name: 'ops', url: 'https://x.example.com', format: 'standard', secret: secret.slice(6) },
        'notification channel "ops": the secret must be "whsec_" followed by base64',
      ],
      [
        { name: 'ops', url: 'https://x.example.com', format: 'standard', secret: shortSecret },
        'at least 24 random bytes',
      ],
      [
        { name: 'ops', url: 'https://hooks.slack.com/services/T0KEN', format: 'slack', secret },
        'Slack incoming webhooks are not signed',
      ],
      [
        { name: 'ops', url: 'https://x.example.com', format: 'teams' as 'slack' },
        'notification channel "ops": format:',
      ],
      [
        { name: 'has space', url: 'https://x.example.com', format: 'slack' },
        'notification channel #1: name:',
      ],
    ];
    for (const [channel, message] of cases) {
      const error = refusal([channel]);
      expect(error.message).toContain(message);
      expect(error.message).not.toContain('T0KEN');
      expect(error.message).not.toContain(secret.slice(6, 20));
      expect(JSON.stringify(error)).not.toContain(secret.slice(6, 20));
      expect(error.cause).toBeUndefined();
    }
    expect(
      refusal([
        { name: 'ops', url: 'https://a.example.com', format: 'slack' },
        { name: 'ops', url: 'https://b.example.com', format: 'slack' },
      ]).message,
    ).toBe('notification channel "ops" is defined twice');
  });

  it('keeps the secret inside the signer, which signs as the library verifies', () => {
    const channel = resolveChannels([
      { name: 'ops', url: 'https://x.example.com/h', format: 'standard', secret },
    ]).get('ops')!;
    expect(channel.events).toEqual(new Set(['approval_requested']));
    expect(JSON.stringify({ ...channel, events: [...channel.events] })).not.toContain(secret.slice(6));
    const at = new Date();
    const signature = channel.sign!('msg_1', at, '{"a":1}');
    const headers = {
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': signature,
    };
    expect(new Webhook(secret).verify('{"a":1}', headers)).toEqual({ a: 1 });
  });

  it('refuses a console URL or settings that cannot work', () => {
    const base = { channels: [], spoolDir: tempDir() };
    expect(() => createApprovalNotifier({ ...base, consoleUrl: 'javascript:alert(1)' })).toThrow(
      'the console URL (consoleUrl) must be http or https',
    );
    expect(() => createApprovalNotifier({ ...base, retry: { jitter: 2 } })).toThrow('retry.jitter');
    expect(() => createApprovalNotifier({ ...base, concurrency: 0 })).toThrow('concurrency');
    expect(() => createApprovalNotifier({ ...base, spoolDir: '' })).toThrow('spoolDir');
  });
});

describe('payloads', () => {
  const redact = createRedactor({ salt: 'test-salt' });

  it('summarizes arguments redacted and cut to size', () => {
    const args = { password: RAW_PASSWORD, big: 'x'.repeat(5000) };
    const summary = summarizeArguments(args, redact, 200);
    expect(summary).toHaveLength(200);
    expect(summary.endsWith('…')).toBe(true);
    expect(summary).toMatch(/^\{"password":"redacted:sha256:[0-9a-f]{32}","big":"xxx/);
    expect(truncate('ab😀', 3)).toBe('ab…');
    const body = JSON.parse(
      approvalRequestedBody(approval({ arguments: args }), 'standard', { redact, summaryMaxChars: 300 }),
    );
    expect(body.data.argumentsSummary).toHaveLength(300);
    expect(body.data.links).toEqual({});
  });

  it('builds a Slack message without links when there is no console', () => {
    const body = JSON.parse(
      approvalRequestedBody(approval({ approvers: [] }), 'slack', { redact }),
    ) as SlackPayload;
    expect(body.blocks.map((b) => b.type)).toEqual(['section', 'context']);
    expect(JSON.stringify(body)).toContain('any approver');
  });
});

describe('retry delays', () => {
  it('double from the first delay up to the cap, with jitter, honouring Retry-After', () => {
    const policy = resolveRetryPolicy({});
    expect(policy).toEqual(DEFAULT_RETRY);
    const none = () => 0;
    expect([1, 2, 3, 4, 9, 10, 50].map((n) => retryDelay(n, policy, undefined, none))).toEqual([
      1000, 2000, 4000, 8000, 256_000, 300_000, 300_000,
    ]);
    expect(retryDelay(1, policy, undefined, () => 1)).toBe(500);
    expect(retryDelay(1, policy, 30_000, none)).toBe(30_000);
    expect(retryDelay(1, policy, 3_600_000, none)).toBe(300_000);
  });
});
