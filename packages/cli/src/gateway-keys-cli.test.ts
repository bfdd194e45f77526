import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSqliteStore } from '@meshguard/store';
import { makeOldGatewayDatabase } from '@meshguard/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLI,
  cleanUp,
  cliRun,
  envWithout,
  freePort,
  GATEWAY_VARIABLES,
  scratchDir,
  untilListening,
} from './test-helpers/cli-harness';

const ADMIN = 'cli-keys-admin-token-0123456789ab';

let dir: string;
const children: ChildProcess[] = [];
beforeAll(async () => {
  dir = await scratchDir('mg-keys-cli-');
});
afterAll(() => cleanUp(children, dir));

const env = (extra: Record<string, string> = {}) =>
  envWithout([...GATEWAY_VARIABLES, 'MESHGUARD_SIGNING_KEY', 'MESHGUARD_DB'], extra);

/** The CLI under umask 0, so that only MeshGuard's own modes keep its files private. */
const underUmask0 = (args: string[]) => ['-c', 'umask 0 && exec "$0" "$@"', process.execPath, CLI, ...args];

function meshguard(args: string[], extra: Record<string, string> = {}) {
  return cliRun(spawnSync('sh', underUmask0(args), { cwd: dir, encoding: 'utf8', env: env(extra) }));
}

/** `meshguard gateway start` under umask 0; resolves once it listens. */
async function startGateway(args: string[], extra: Record<string, string> = {}) {
  const port = await freePort();
  const child = spawn('sh', underUmask0(['gateway', 'start', '--port', String(port), ...args]), {
    cwd: dir,
    env: env({ MESHGUARD_ADMIN_TOKEN: ADMIN, MESHGUARD_LOG_LEVEL: 'warn', ...extra }),
  });
  children.push(child);
  const out = await untilListening(child, 60_000);
  const url = `http://127.0.0.1:${port}`;
  const admin = { MESHGUARD_GATEWAY_URL: url, MESHGUARD_ADMIN_TOKEN: ADMIN };
  return { child, out, url, admin };
}

const mode = (path: string) => statSync(path).mode & 0o777;
const kidOf = (token: string) =>
  (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
const checkStatus = async (url: string, token: string) =>
  (
    await fetch(`${url}/v1/check`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'read:orders' }),
    })
  ).status;
const jwksKids = async (url: string) =>
  ((await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys
    .map((key) => key.kid)
    .sort();

// Each starts gateways and runs the CLI several times: slow on a busy machine.
describe('meshguard gateway: keys and files at rest', { timeout: 120_000 }, () => {
  it('keeps the database and the key file private under umask 0, and rotates the key: SIGHUP signs with the new one, old tokens verify', async () => {
    const db = join(dir, 'data', 'gateway.db');
    const keyFile = `${db}.signing-key.json`;
    const gateway = await startGateway(['--db', `sqlite:${db}`]);
    const first = meshguard(['agent', 'create', '--name', 'bot-1'], gateway.admin);
    expect(first.code).toBe(0);
    const before = first.stdout.trim();

    expect(mode(join(dir, 'data'))).toBe(0o700);
    for (const file of [db, `${db}-wal`, `${db}-shm`, keyFile]) expect(mode(file), file).toBe(0o600);
    const oldKid = (JSON.parse(readFileSync(keyFile, 'utf8')) as { kid: string }).kid;
    expect(kidOf(before)).toBe(oldKid);
    expect(readFileSync(db).toString('latin1')).not.toContain(
      (JSON.parse(readFileSync(keyFile, 'utf8')) as { d: string }).d,
    );

    const rotated = meshguard(['gateway', 'rotate-key', '--db', `sqlite:${db}`]);
    expect(rotated.code).toBe(0);
    const newKid = rotated.stdout.trim();
    expect(newKid).not.toBe(oldKid);
    expect(rotated.stderr).toContain(`key ${oldKid} retired`);
    expect(mode(keyFile)).toBe(0o600);

    gateway.child.kill('SIGHUP');
    await expect
      .poll(() => gateway.out.stderr, { timeout: 30_000 })
      .toContain(`SIGHUP: agent tokens are signed with key ${newKid}`);
    const second = meshguard(['agent', 'create', '--name', 'bot-2'], gateway.admin);
    const after = second.stdout.trim();
    expect(kidOf(after)).toBe(newKid);
    expect(await checkStatus(gateway.url, before)).toBe(200);
    expect(await checkStatus(gateway.url, after)).toBe(200);
    expect(await jwksKids(gateway.url)).toEqual([oldKid, newKid].sort());
    gateway.child.kill('SIGTERM');
    await new Promise((r) => gateway.child.once('exit', r));
  });

  it('moves the private key of a database made the old way into the key file, and says so', async () => {
    const db = join(dir, 'old.db');
    const { generateKeyPairSync, randomUUID } = await import('node:crypto');
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const kid = randomUUID();
    const privateJwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'EdDSA' };
    const publicJwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'EdDSA', use: 'sig' };
    // The audit trail and the gateway's state in one file, as the gateway kept them.
    await openSqliteStore(db).close();
    makeOldGatewayDatabase(db, { kid, privateJwk, publicJwk }, 'old-bot');
    const gateway = await startGateway(['--db', `sqlite:${db}`]);
    await expect
      .poll(() => gateway.out.stdout, { timeout: 10_000 })
      .toContain('moved the token signing key out of the database into the key file');
    expect(gateway.out.stdout).not.toContain(privateJwk.d as string);
    const keyFile = `${db}.signing-key.json`;
    expect(JSON.parse(readFileSync(keyFile, 'utf8'))).toMatchObject({ kid, d: privateJwk.d });
    expect(mode(keyFile)).toBe(0o600);
    expect(readFileSync(db).toString('latin1')).not.toContain(privateJwk.d as string);
    gateway.child.kill('SIGTERM');
    await new Promise((r) => gateway.child.once('exit', r));
  });

  it('refuses to start on a key file it cannot make private, or a MESHGUARD_SIGNING_KEY that is no key, naming which', async () => {
    const real = join(dir, 'real-key.json');
    writeFileSync(real, '{}');
    const link = join(dir, 'linked-key.json');
    symlinkSync(real, link);
    const linked = meshguard(
      ['gateway', 'start', '--port', '0', '--db', `sqlite:${join(dir, 'linked.db')}`, '--signing-key', link],
      { MESHGUARD_ADMIN_TOKEN: ADMIN },
    );
    expect(linked.code).toBe(2);
    expect(linked.stderr).toContain(`${link} is a symbolic link`);

    const secret = 'definitely-not-a-key-0123456789abcdef';
    const bad = meshguard(['gateway', 'start', '--port', '0', '--db', `sqlite:${join(dir, 'env.db')}`], {
      MESHGUARD_ADMIN_TOKEN: ADMIN,
      MESHGUARD_SIGNING_KEY: secret,
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('MESHGUARD_SIGNING_KEY is not an Ed25519 private key');
    expect(bad.stderr).not.toContain(secret);
  });
});
