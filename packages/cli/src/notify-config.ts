import { readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PolicyError } from '@meshguard/core';
import { parseYamlAs } from '@meshguard/core/internal';
import { type ApprovalNotifierOptions, WebhookChannelSchema } from '@meshguard/gateway';
import { parseStoreUrl } from '@meshguard/store/internal';
import { z } from 'zod';
import { UsageError } from './cli-error';

/**
 * `gateway start --notify <file>`: the webhooks that hear of approval requests (and denies), as
 * YAML or JSON. The file holds secrets (Standard Webhooks secrets, Slack URLs with their token),
 * so it must be readable by its owner alone, as ssh insists of a private key.
 *
 * @example
 * channels:
 *   - { name: finance, url: https://hooks.example/meshguard, format: standard, secret: whsec_... }
 *   - { name: slack-finance, url: https://hooks.slack.com/services/..., format: slack }
 * consoleUrl: https://meshguard.example.com/console
 */
const NotifyFileSchema = z.strictObject({
  channels: z.array(WebhookChannelSchema).min(1, 'name at least one channel'),
  consoleUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** Where messages wait until delivered; default beside a SQLite database, else .meshguard/notify. */
  spoolDir: z.string().min(1).optional(),
});

export function readNotifyFile(
  path: string,
  dbUrl: string,
): Omit<ApprovalNotifierOptions, 'onReport' | 'fetch'> {
  let mode: number;
  let text: string;
  try {
    mode = statSync(path).mode;
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UsageError(`--notify: cannot read "${path}"`);
  }
  if ((mode & 0o077) !== 0) {
    throw new UsageError(
      `--notify: "${path}" holds webhook secrets and is readable by others (mode ${(mode & 0o777).toString(8)}): chmod 600 it`,
    );
  }
  let parsed: z.output<typeof NotifyFileSchema>;
  try {
    const docs = parseYamlAs(NotifyFileSchema, text, { file: path, what: 'notification settings' });
    if (docs.length !== 1) throw new UsageError(`--notify: "${path}" must hold one document`);
    parsed = docs[0]!.value;
  } catch (error) {
    if (error instanceof PolicyError) throw new UsageError(`--notify: ${error.message}`);
    throw error;
  }
  const location = parseStoreUrl(dbUrl);
  const spoolDir =
    parsed.spoolDir !== undefined
      ? resolve(dirname(path), parsed.spoolDir)
      : location.kind === 'sqlite' && location.path !== ':memory:'
        ? `${location.path}.notify`
        : resolve('.meshguard', 'notify');
  return {
    channels: parsed.channels,
    spoolDir: join(spoolDir),
    ...(parsed.consoleUrl ? { consoleUrl: parsed.consoleUrl.replace(/\/+$/, '') } : {}),
  };
}
