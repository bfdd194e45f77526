import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type AuditStore, type GatewayState, MeshGuardError, type PolicyFile } from '@meshguard/core';
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
import { UsageError } from './cli-error';
import { type CliIo, paint } from './cli-output';
import { readNotifyFile } from './notify-config';

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
  notify?: string;
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
  const notify = flags.notify ? readNotifyFile(flags.notify, url) : undefined;
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
    ...(notify ? { notify } : {}),
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
