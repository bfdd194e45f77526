import { ConfigError } from '@meshguard/core';
import { safeParseWithSchema } from '@meshguard/core/internal';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';

/** What a channel can hear of: an approval request opened, or a call denied. */
export const NOTIFY_EVENTS = ['approval_requested', 'deny'] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** `standard`: Standard Webhooks JSON, signed; `slack`: a Slack incoming-webhook payload (unsigned). */
export const WEBHOOK_FORMATS = ['standard', 'slack'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

/** What a policy rule's `approval.notify` names: letters, digits, `.`, `_`, `-`, `:`. */
const CHANNEL_NAME = /^[A-Za-z0-9._:-]{1,128}$/;

/** Standard Webhooks secrets are `whsec_` then base64; the spec asks for 24 to 64 random bytes. */
const SECRET_PREFIX = 'whsec_';
const MIN_SECRET_BYTES = 24;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * One notification channel (a webhook), as the gateway's configuration gives it. The secret is
 * checked here and then kept only inside the channel's signer: it reaches no spool file, log line
 * or error message.
 */
export const WebhookChannelSchema = z
  .object({
    /** What a policy rule's `approval.notify: [name]` refers to. */
    name: z.string().regex(CHANNEL_NAME, 'a channel name is 1 to 128 letters, digits, ".", "_", "-" or ":"'),
    /** Where to POST: http or https (a Slack incoming-webhook URL for `slack`). */
    url: z.string().min(1),
    format: z.enum(WEBHOOK_FORMATS),
    /** The Standard Webhooks secret (`whsec_` + base64); required for `standard`, refused for `slack`. */
    secret: z.string().optional(),
    /** What the channel hears of; default `['approval_requested']`. */
    events: z.array(z.enum(NOTIFY_EVENTS)).min(1).optional(),
  })
  .strict();
export type WebhookChannel = z.input<typeof WebhookChannelSchema>;

/** Signs one attempt: the `webhook-signature` header for a message id, a time and a body. */
export type WebhookSigner = (id: string, at: Date, body: string) => string;

/** A channel checked and ready to deliver to; its secret lives only inside `sign`. */
export interface ResolvedChannel {
  readonly name: string;
  readonly url: string;
  readonly format: WebhookFormat;
  readonly events: ReadonlySet<NotifyEvent>;
  /** Present for `standard` channels. */
  readonly sign?: WebhookSigner;
}

/**
 * Checks the channels and makes their signers. Throws a `ConfigError` naming the channel at
 * fault (never quoting its URL or secret): an unknown format, a URL that is not http(s), a
 * missing or malformed secret on a `standard` channel, a secret on a `slack` one, a repeated name.
 *
 * @example
 * const channels = resolveChannels([{ name: 'ops', url: 'https://hooks.example.com/mg', format: 'standard', secret }]);
 */
export function resolveChannels(channels: readonly WebhookChannel[]): Map<string, ResolvedChannel> {
  const out = new Map<string, ResolvedChannel>();
  channels.forEach((input, index) => {
    const label =
      typeof input?.name === 'string' && CHANNEL_NAME.test(input.name)
        ? `notification channel "${input.name}"`
        : `notification channel #${index + 1}`;
    const parsed = safeParseWithSchema(WebhookChannelSchema, input, 'channel');
    // No `cause`: a schema error could carry the input, and the input holds the secret.
    if (!parsed.success) throw new ConfigError(`${label}: ${parsed.error.message}`);
    const channel = parsed.data;
    if (out.has(channel.name)) throw new ConfigError(`${label} is defined twice`);
    out.set(channel.name, {
      name: channel.name,
      url: checkUrl(channel.url, label),
      format: channel.format,
      events: new Set(channel.events ?? ['approval_requested']),
      ...signerFor(channel, label),
    });
  });
  return out;
}

function checkUrl(url: string, label: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`${label}: url is not a valid URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(
      `${label}: url must be http or https, not ${JSON.stringify(parsed.protocol.slice(0, 20))}`,
    );
  }
  return parsed.href;
}

function signerFor(channel: z.output<typeof WebhookChannelSchema>, label: string): { sign?: WebhookSigner } {
  if (channel.format === 'slack') {
    if (channel.secret !== undefined) {
      throw new ConfigError(`${label}: Slack incoming webhooks are not signed; remove the secret`);
    }
    return {};
  }
  const secret = channel.secret;
  if (secret === undefined || secret === '') {
    throw new ConfigError(`${label}: format "standard" needs a secret ("whsec_" followed by base64)`);
  }
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : undefined;
  if (encoded === undefined || !BASE64.test(encoded)) {
    throw new ConfigError(`${label}: the secret must be "whsec_" followed by base64`);
  }
  if (Buffer.from(encoded, 'base64').length < MIN_SECRET_BYTES) {
    throw new ConfigError(`${label}: the secret must hold at least ${MIN_SECRET_BYTES} random bytes`);
  }
  let webhook: Webhook;
  try {
    webhook = new Webhook(secret);
  } catch {
    throw new ConfigError(`${label}: the secret is not a valid Standard Webhooks secret`);
  }
  // The key stays in this closure: nothing that logs or serializes a channel can reach it.
  return { sign: (id, at, body) => webhook.sign(id, at, body) };
}
