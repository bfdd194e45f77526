import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import {
  type AuditStore,
  type GatewayClient,
  type GatewayState,
  isGatewayRefusal,
  MeshGuardError,
  type PolicyFile,
} from '@meshguard/core';
import { TRUST_TIERS } from '@meshguard/core/internal';
import { createGateway, parseSigningKey, type SigningKeyOption, signingKeyFile } from '@meshguard/gateway';
import { readPolicyDir, rotateSigningKeyFile } from '@meshguard/gateway/internal';
import {
  openPostgresGatewayState,
  openPostgresStore,
  openSqliteGatewayState,
  openSqliteStore,
} from '@meshguard/store';
import { parseStoreUrl, type StoreLocation } from '@meshguard/store/internal';
import { auditDbUrl } from './audit-source';
import { parseList, UsageError } from './cli-error';
import { type CliIo, paint } from './cli-output';
import { asUsageError, openAdminClient } from './gateway-admin-client';

export interface GatewayStartFlags {
  port?: string;
  host?: string;
  db?: string;
  policies?: string;
  dev?: boolean;
  requestTimeout?: string;
  headersTimeout?: string;
  keepAliveTimeout?: string;
  idleTimeout?: string;
  maxConnections?: string;
  delegatedTokenTtl?: string;
  signingKey?: string;
}

/** A positive whole number given as a flag, or undefined when the flag is absent. */
function positiveFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0)
    throw new UsageError(`${name}: "${value}" is not a positive whole number`);
  return number;
}
/** The default key file: beside a SQLite database, else in the gateway's data folder. */
function defaultKeyFile(location: StoreLocation): string {
  return location.kind === 'sqlite' && location.path !== ':memory:'
    ? `${location.path}.signing-key.json`
    : resolve('.meshguard', 'gateway-signing-key.json');
}

/** `--signing-key <file>`, else `MESHGUARD_SIGNING_KEY` (a JWK or PEM), else the default key file. */
async function signingKeyOption(flag: string | undefined, url: string): Promise<SigningKeyOption> {
  if (flag) return signingKeyFile(flag);
  const fromEnv = process.env.MESHGUARD_SIGNING_KEY?.trim();
  if (fromEnv) return parseSigningKey(fromEnv, 'MESHGUARD_SIGNING_KEY');
  return signingKeyFile(defaultKeyFile(parseStoreUrl(url)));
}

/**
 * `meshguard gateway start`: serves until SIGTERM or SIGINT, then stops taking requests,
 * finishes those in flight and flushes the audit trail before exiting 0.
 */
export async function gatewayStart(io: CliIo, flags: GatewayStartFlags): Promise<number> {
  const port = flags.port === undefined ? 8787 : Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new UsageError(`--port: "${flags.port}" is not a port`);
  const limits = Object.fromEntries(
    Object.entries({
      requestTimeoutMs: positiveFlag('--request-timeout', flags.requestTimeout),
      headersTimeoutMs: positiveFlag('--headers-timeout', flags.headersTimeout),
      keepAliveTimeoutMs: positiveFlag('--keep-alive-timeout', flags.keepAliveTimeout),
      idleTimeoutMs: positiveFlag('--idle-timeout', flags.idleTimeout),
      maxConnections: positiveFlag('--max-connections', flags.maxConnections),
    }).filter(([, value]) => value !== undefined),
  );
  const ttlSeconds = positiveFlag('--delegated-token-ttl', flags.delegatedTokenTtl);
  let adminToken = process.env.MESHGUARD_ADMIN_TOKEN?.trim();
  if (!adminToken) {
    if (!flags.dev) {
      throw new UsageError(
        'the gateway needs an admin token: set MESHGUARD_ADMIN_TOKEN (16+ characters), or pass --dev to generate one',
      );
    }
    adminToken = `mg_admin_${randomBytes(24).toString('base64url')}`;
    // Printed once, to the terminal that started it; never logged.
    io.err(`development admin token (shown once): ${adminToken}`);
  }
  if (adminToken.length < 16) throw new UsageError('MESHGUARD_ADMIN_TOKEN must be at least 16 characters');
  const url = auditDbUrl(flags.db);
  const signingKey = await signingKeyOption(flags.signingKey, url);
  const { store, state } = await openGatewayStores(url);
  let policies: PolicyFile[] | undefined;
  if (flags.policies) {
    try {
      await stat(flags.policies);
    } catch {
      throw new UsageError(`--policies: no such file or folder "${flags.policies}"`);
    }
    policies = await readPolicyDir(flags.policies);
  }
  const gateway = await createGateway({
    store,
    state,
    adminToken,
    limits,
    ...(ttlSeconds ? { delegation: { ttlSeconds } } : {}),
    signingKey,
    ...(policies ? { policies } : {}),
    logger: { level: process.env.MESHGUARD_LOG_LEVEL ?? 'info' },
  });
  const host = flags.host ?? '127.0.0.1';
  const address = await gateway.app.listen({ port, host });
  io.err(`meshguard gateway listening on ${address} (policy set v${gateway.policies.version})`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      io.err(`${signal}: finishing requests in flight and flushing the audit trail`);
      gateway.close().then(resolve, (error: unknown) => {
        io.err(`meshguard: shutdown failed: ${(error as Error).message}`);
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // After `meshguard gateway rotate-key`: sign new tokens with the key file's new key.
    process.on('SIGHUP', () => {
      gateway.reloadSigningKey().then(
        (kid) => io.err(`SIGHUP: agent tokens are signed with key ${kid}`),
        (error: unknown) =>
          io.err(`meshguard: SIGHUP: the signing key was not reloaded (${(error as Error).message})`),
      );
    });
  });
  return 0;
}

/**
 * `meshguard gateway rotate-key`: a new signing key in the key file, the old one retired (its
 * tokens verify until they expire). Running gateways sign with the new key after SIGHUP or a
 * restart.
 */
export async function gatewayRotateKey(
  io: CliIo,
  flags: { db?: string; signingKey?: string; json?: boolean },
): Promise<number> {
  const url = auditDbUrl(flags.db);
  if (!flags.signingKey && process.env.MESHGUARD_SIGNING_KEY?.trim()) {
    throw new UsageError(
      'the gateway signs with MESHGUARD_SIGNING_KEY: put a new key there and restart it (rotate-key rotates a key file; pass --signing-key <file> for one)',
    );
  }
  let location: StoreLocation;
  try {
    location = parseStoreUrl(url);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const path = flags.signingKey ?? defaultKeyFile(location);
  const { state } = await openGatewayStores(url, { stateOnly: true });
  try {
    const warn = (fields: Record<string, unknown>, message: string) =>
      io.err(`${message} (${JSON.stringify(fields)})`);
    const rotated = await rotateSigningKeyFile(state, path, { warn });
    if (flags.json) {
      io.out(JSON.stringify({ kid: rotated.kid, retired: rotated.retired ?? null, file: path }));
      return 0;
    }
    io.err(
      `${paint(io).green('✓')} new signing key ${rotated.kid} in ${path}${
        rotated.retired ? `; key ${rotated.retired} retired (its tokens verify until they expire)` : ''
      }. Running gateways sign with it after SIGHUP (kill -HUP <pid>) or a restart.`,
    );
    io.out(rotated.kid);
    return 0;
  } finally {
    await state.close();
  }
}

/** The audit trail and the gateway's state, in one SQLite file or one PostgreSQL schema. */
async function openGatewayStores(url: string, options: { stateOnly: true }): Promise<{ state: GatewayState }>;
async function openGatewayStores(url: string): Promise<{ store: AuditStore; state: GatewayState }>;
async function openGatewayStores(
  url: string,
  options?: { stateOnly: true },
): Promise<{ store?: AuditStore; state: GatewayState }> {
  try {
    const location = parseStoreUrl(url);
    if (location.kind === 'sqlite') {
      if (options?.stateOnly) return { state: openSqliteGatewayState(location.path) };
      return { store: openSqliteStore(location.path), state: openSqliteGatewayState(location.path) };
    }
    if (options?.stateOnly) return { state: await openPostgresGatewayState(location.url) };
    const store = await openPostgresStore(location.url);
    try {
      return { store, state: await openPostgresGatewayState(location.url, { schema: store.schema }) };
    } catch (error) {
      await store.close();
      throw error;
    }
  } catch (error) {
    if (MeshGuardError.isInstance(error)) throw new UsageError(error.message);
    throw error;
  }
}

// --- Admin commands: talk to a running gateway ---

export interface GatewayClientFlags {
  gateway?: string;
}

/** The gateway the admin commands talk to, with the admin token. */
function adminGateway(flags: GatewayClientFlags): GatewayClient {
  const url = (flags.gateway ?? process.env.MESHGUARD_GATEWAY_URL ?? '').trim().replace(/\/+$/, '');
  if (!url) throw new UsageError('no gateway: pass --gateway <url> or set MESHGUARD_GATEWAY_URL');
  const token = process.env.MESHGUARD_ADMIN_TOKEN?.trim();
  if (!token) throw new UsageError('set MESHGUARD_ADMIN_TOKEN to talk to the gateway as its admin');
  return openAdminClient(url, token, 10_000);
}

/** A refusal as a usage error: of the admin token (401, 403), or of the request. */
function refused(error: unknown): unknown {
  const denied = isGatewayRefusal(error) && (error.status === 401 || error.status === 403);
  return asUsageError(error, denied ? 'the gateway refused the admin token' : 'the gateway refused');
}

export async function agentCreate(
  io: CliIo,
  flags: GatewayClientFlags & {
    name: string;
    tags?: string;
    tier?: string;
    ttl?: string;
    id?: string;
    json?: boolean;
  },
): Promise<number> {
  const ttl = flags.ttl ? parseDuration('--ttl', flags.ttl) : undefined;
  const tier = TRUST_TIERS.find((t) => t === flags.tier);
  if (flags.tier && !tier) {
    throw new UsageError(`--tier: "${flags.tier}" is not one of ${TRUST_TIERS.join(', ')}`);
  }
  const created = await adminGateway(flags)
    .createAgent({
      name: flags.name,
      tags: flags.tags ? parseList(flags.tags) : [],
      ...(tier ? { tier } : {}),
      ...(flags.id ? { id: flags.id } : {}),
      ...(ttl ? { ttl } : {}),
    })
    .catch((error: unknown) => {
      throw refused(error);
    });
  if (flags.json) {
    io.out(JSON.stringify(created));
    return 0;
  }
  const { agent } = created;
  const c = paint(io);
  io.err(
    `${c.green('✓')} agent ${agent.id} (${agent.name}; tags: ${agent.tags.join(', ') || 'none'}; tier: ${agent.tier}) token expires ${created.expiresAt}`,
  );
  // The token alone on stdout, so `export MESHGUARD_AGENT_TOKEN=$(meshguard agent create ...)` works.
  io.out(created.token);
  return 0;
}

export async function agentList(io: CliIo, flags: GatewayClientFlags & { json?: boolean }): Promise<number> {
  const { agents } = await adminGateway(flags)
    .listAgents()
    .catch((error: unknown) => {
      throw refused(error);
    });
  if (flags.json) {
    for (const agent of agents) io.out(JSON.stringify(agent));
    return 0;
  }
  for (const a of agents) {
    io.out(
      [a.id, a.name, a.tier, a.tags.join(',') || '-', a.revokedAt ? `revoked ${a.revokedAt}` : 'active'].join(
        '  ',
      ),
    );
  }
  if (agents.length === 0) io.err('no agents');
  return 0;
}

export async function agentRevoke(io: CliIo, id: string, flags: GatewayClientFlags): Promise<number> {
  try {
    await adminGateway(flags).revokeAgent(id);
  } catch (error) {
    if (isGatewayRefusal(error) && error.status === 404) {
      io.err(`meshguard: no agent "${id}"`);
      return 1;
    }
    throw refused(error);
  }
  io.err(`${paint(io).green('✓')} agent ${id} revoked: its tokens stop working on their next request`);
  return 0;
}

export async function policyPush(io: CliIo, paths: string[], flags: GatewayClientFlags): Promise<number> {
  const files: PolicyFile[] = [];
  // The gateway keeps a policy set's files by name: two files of one name would be ambiguous.
  const from = new Map<string, string>();
  for (const path of paths) {
    let found: PolicyFile[];
    try {
      found = await readPolicyDir(path);
    } catch {
      throw new UsageError(`no such policy file or folder "${path}"`);
    }
    for (const file of found) {
      const where = found.length === 1 && file.name === basename(path) ? path : join(path, file.name);
      const earlier = from.get(file.name);
      if (earlier !== undefined) {
        throw new UsageError(
          `two policy files named "${file.name}" ("${earlier}" and "${where}"): a policy set keeps its files by name, so rename one`,
        );
      }
      from.set(file.name, where);
      files.push(file);
    }
  }
  if (files.length === 0) throw new UsageError('no policy files (.yaml, .yml, .json) to push');
  let set: Awaited<ReturnType<GatewayClient['putPolicies']>>;
  try {
    set = await adminGateway(flags).putPolicies({ files });
  } catch (error) {
    const issues = isGatewayRefusal(error) && error.status === 400 ? error.reply?.issues : undefined;
    if (!issues) throw refused(error);
    for (const issue of issues) io.err(`${issue.file}:${issue.line}:${issue.column}: ${issue.message}`);
    io.err('the gateway kept the policy set in force');
    return 2;
  }
  io.err(
    `${paint(io).green('✓')} policy set v${set.version} in force (${files.map((f) => f.name).join(', ')})`,
  );
  return 0;
}

/** `30d`, `12h`, `15m`, `3600s` or plain seconds. */
function parseDuration(flag: string, text: string): number {
  const match = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!match) throw new UsageError(`${flag}: "${text}" is not a duration (e.g. 30d, 12h, 3600)`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as '' | 's' | 'm' | 'h' | 'd'];
  const seconds = Number(match[1]) * unit;
  if (seconds <= 0) throw new UsageError(`${flag}: must be positive`);
  return seconds;
}
