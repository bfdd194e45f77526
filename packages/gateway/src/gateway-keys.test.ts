import { randomUUID, sign } from 'node:crypto';
import { readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStore, type GatewayState } from '@meshguard/core';
import { openSqliteGatewayState } from '@meshguard/store';
import { makeOldGatewayDatabase } from '@meshguard/store/testing';
import { decodeProtectedHeader, importJWK, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from './gateway-app';
import { rotateSigningKeyFile } from './gateway-keys';
import { signingKeyFile } from './signing-key-file';
import { oldSigningKey } from './test-helpers/old-signing-key';
import { generateSigningKey, parseSigningKey, type TokenSigner } from './token-signer';

const ADMIN = 'keys-admin-token-0123456789abcdef';
const admin = { authorization: `Bearer ${ADMIN}` };
const POLICY = {
  name: 'support.yaml',
  text: 'name: support\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["read:*"]\n',
};
const quiet = { warn: () => {} };

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close();
});

const tempDir = () => mkdtemp(join(tmpdir(), 'mg-keys-'));
const mode = (path: string) => statSync(path).mode & 0o777;
const kidOf = (token: string) => decodeProtectedHeader(token).kid;

async function startGateway(
  state: GatewayState,
  signingKey?: Parameters<typeof createGateway>[0]['signingKey'],
): Promise<Gateway> {
  const gateway = await createGateway({
    store: createMemoryStore(),
    state,
    adminToken: ADMIN,
    policies: [POLICY],
    ...(signingKey ? { signingKey } : {}),
  });
  open.push(gateway);
  return gateway;
}

async function newAgent(gateway: Gateway, id = `bot-${randomUUID()}`): Promise<string> {
  const res = await gateway.app.inject({
    method: 'POST',
    url: '/v1/agents',
    headers: admin,
    payload: { id, name: 'support-bot', tags: ['support'], ttl: 3600 },
  });
  expect(res.statusCode).toBe(201);
  return (res.json() as { token: string }).token;
}

const check = (gateway: Gateway, token: string) =>
  gateway.app.inject({
    method: 'POST',
    url: '/v1/check',
    headers: { authorization: `Bearer ${token}` },
    payload: { action: 'read:orders' },
  });

const jwksKids = async (gateway: Gateway) =>
  (
    (await gateway.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json() as {
      keys: Array<{ kid: string; d?: string }>;
    }
  ).keys.map((key) => {
    expect(key.d).toBeUndefined();
    return key.kid;
  });

/** Every byte SQLite keeps of the database: the file and its -wal, if any. */
const databaseBytes = (path: string) =>
  [path, `${path}-wal`]
    .map((file) => {
      try {
        return readFileSync(file).toString('latin1');
      } catch {
        return '';
      }
    })
    .join('');

/**
 * A gateway database as versions before this one made it: the private key in a table of its
 * own, and an agent with a token that key signed.
 */
async function oldDatabase(path: string) {
  const { kid, privateJwk, publicJwk, token } = await oldSigningKey();
  makeOldGatewayDatabase(path, { kid, privateJwk, publicJwk }, 'old-bot');
  return { kid, d: privateJwk.d as string, token };
}

describe('the signing key lives outside the database', () => {
  it('creates a key file 0600 in a 0700 folder (umask 0) and keeps only the public key in the database', async () => {
    const dir = await tempDir();
    const db = join(dir, 'gateway.db');
    const keyFile = join(dir, 'keys', 'signing-key.json');
    const umask = process.umask(0);
    let gateway: Gateway;
    try {
      gateway = await startGateway(openSqliteGatewayState(db), signingKeyFile(keyFile));
    } finally {
      process.umask(umask);
    }
    expect(mode(join(dir, 'keys'))).toBe(0o700);
    expect(mode(keyFile)).toBe(0o600);
    const jwk = JSON.parse(readFileSync(keyFile, 'utf8')) as { kid: string; d: string };
    expect(jwk.kid).toBe(gateway.tokens.kid);
    const token = await newAgent(gateway);
    expect(kidOf(token)).toBe(jwk.kid);
    expect((await check(gateway, token)).statusCode).toBe(200);
    // Nowhere in the database's bytes: the private part of the key.
    expect(databaseBytes(db)).not.toContain(jwk.d);
    expect(await jwksKids(gateway)).toEqual([jwk.kid]);
  });

  it('signs with the same key after a restart, and tightens a key file others could read', async () => {
    const dir = await tempDir();
    const db = join(dir, 'gateway.db');
    const keyFile = join(dir, 'signing-key.json');
    const first = await startGateway(openSqliteGatewayState(db), signingKeyFile(keyFile));
    const token = await newAgent(first);
    await first.close();
    const { chmodSync } = await import('node:fs');
    chmodSync(keyFile, 0o644);
    const second = await startGateway(openSqliteGatewayState(db), signingKeyFile(keyFile));
    expect(mode(keyFile)).toBe(0o600);
    expect(second.tokens.kid).toBe(kidOf(token));
    expect((await check(second, token)).statusCode).toBe(200);
  });

  it('refuses to start on a key file it cannot make private, and says which file', async () => {
    const dir = await tempDir();
    const real = join(dir, 'real.json');
    writeFileSync(real, JSON.stringify(await generateSigningKey()));
    const keyFile = join(dir, 'signing-key.json');
    symlinkSync(real, keyFile);
    await expect(
      createGateway({
        store: createMemoryStore(),
        state: openSqliteGatewayState(':memory:'),
        adminToken: ADMIN,
        signingKey: signingKeyFile(keyFile),
      }),
    ).rejects.toThrow(keyFile);
  });

  it('takes a key given as text (MESHGUARD_SIGNING_KEY: a JWK or a PEM), never quoting it in an error', async () => {
    const jwk = await generateSigningKey();
    const fromJwk = await parseSigningKey(JSON.stringify(jwk), 'MESHGUARD_SIGNING_KEY');
    expect(fromJwk.kid).toBe(jwk.kid);
    const { createPrivateKey } = await import('node:crypto');
    const pem = createPrivateKey({ key: jwk, format: 'jwk' }).export({ format: 'pem', type: 'pkcs8' });
    const fromPem = await parseSigningKey(pem.toString(), 'MESHGUARD_SIGNING_KEY');
    expect(fromPem.publicJwk.x).toBe(jwk.x);
    const gateway = await startGateway(openSqliteGatewayState(':memory:'), fromPem);
    expect((await check(gateway, await newAgent(gateway))).statusCode).toBe(200);

    const secret = 'not-a-key-but-a-secret-0123456789';
    const refused = parseSigningKey(secret, 'MESHGUARD_SIGNING_KEY');
    await expect(refused).rejects.toThrow(/MESHGUARD_SIGNING_KEY is not an Ed25519 private key/);
    await expect(refused).rejects.not.toThrow(secret);
    await expect(
      parseSigningKey(JSON.stringify({ kty: 'RSA', n: 'x', e: 'AQAB', d: 'y' }), 'the key file k.json'),
    ).rejects.toThrow(/the key file k.json is not an Ed25519 private key/);
  });

  it('signs through a provider hook (a KMS) that never hands over the private key', async () => {
    const jwk = await generateSigningKey();
    const { createPrivateKey } = await import('node:crypto');
    const hidden = createPrivateKey({ key: jwk, format: 'jwk' }); // stands for the KMS's key
    let signed = 0;
    const kms: TokenSigner = {
      kid: 'kms-key-1',
      publicJwk: { kty: 'OKP', crv: 'Ed25519', x: jwk.x },
      sign: async (data) => {
        signed++;
        return sign(null, data, hidden);
      },
    };
    const gateway = await startGateway(openSqliteGatewayState(':memory:'), kms);
    const token = await newAgent(gateway);
    expect(signed).toBe(1);
    expect(kidOf(token)).toBe('kms-key-1');
    expect((await check(gateway, token)).statusCode).toBe(200);

    // A provider whose signatures its public key does not verify: refused at issue, not later.
    const broken = await startGateway(openSqliteGatewayState(':memory:'), {
      ...kms,
      kid: 'kms-broken',
      sign: async () => new Uint8Array(64),
    });
    const res = await broken.app.inject({
      method: 'POST',
      url: '/v1/agents',
      headers: admin,
      payload: { name: 'bot' },
    });
    expect(res.statusCode).toBe(500);
  });

  it('moves the private key of a database made the old way into the key file, deletes it there, and its tokens still verify', async () => {
    const dir = await tempDir();
    const db = join(dir, 'gateway.db');
    const old = await oldDatabase(db);
    expect(databaseBytes(db)).toContain(old.d);
    const keyFile = join(dir, 'signing-key.json');
    const logged: string[] = [];
    const gateway = await createGateway({
      store: createMemoryStore(),
      state: openSqliteGatewayState(db),
      adminToken: ADMIN,
      signingKey: signingKeyFile(keyFile),
      logger: {
        level: 'warn',
        stream: { write: (line: string) => logged.push(line) },
      } as never,
    });
    open.push(gateway);
    expect(JSON.parse(readFileSync(keyFile, 'utf8'))).toMatchObject({ kid: old.kid, d: old.d });
    expect(mode(keyFile)).toBe(0o600);
    expect(gateway.tokens.kid).toBe(old.kid);
    expect(logged.join('')).toContain('moved the token signing key out of the database into the key file');
    expect(logged.join('')).not.toContain(old.d);
    const again = openSqliteGatewayState(db);
    open.push(again);
    expect(await again.takeLegacySigningKey()).toBeUndefined();
    expect(databaseBytes(db)).not.toContain(old.d);
    // The token the old version issued, and a new one: both verify, both by the same key.
    expect((await check(gateway, old.token)).statusCode).toBe(200);
    const token = await newAgent(gateway);
    expect(kidOf(token)).toBe(old.kid);
  });

  it('without a key file, deletes the old private key but keeps its public key for the tokens it signed', async () => {
    const dir = await tempDir();
    const db = join(dir, 'gateway.db');
    const old = await oldDatabase(db);
    const gateway = await startGateway(openSqliteGatewayState(db));
    expect(gateway.tokens.kid).not.toBe(old.kid);
    expect(databaseBytes(db)).not.toContain(old.d);
    expect((await check(gateway, old.token)).statusCode).toBe(200);
    expect(await jwksKids(gateway)).toContain(old.kid);
  });
});

describe('key rotation', () => {
  it('signs new tokens with the new key after a reload; tokens of the old key verify until they expire; JWKS lists both', async () => {
    const dir = await tempDir();
    const db = join(dir, 'gateway.db');
    const keyFile = join(dir, 'signing-key.json');
    const gateway = await startGateway(openSqliteGatewayState(db), signingKeyFile(keyFile));
    const before = await newAgent(gateway);
    const oldKid = gateway.tokens.kid;

    // What `meshguard gateway rotate-key` does, from another process's handle on the database.
    const admin2 = openSqliteGatewayState(db);
    open.push(admin2);
    const rotated = await rotateSigningKeyFile(admin2, keyFile, quiet);
    expect(rotated.retired).toBe(oldKid);
    expect(rotated.kid).not.toBe(oldKid);
    expect(mode(keyFile)).toBe(0o600);

    // Until it reloads, the gateway signs with the old key; its tokens still verify.
    expect(kidOf(await newAgent(gateway))).toBe(oldKid);
    expect(await gateway.reloadSigningKey()).toBe(rotated.kid);
    const after = await newAgent(gateway);
    expect(kidOf(after)).toBe(rotated.kid);
    expect((await check(gateway, before)).statusCode).toBe(200);
    expect((await check(gateway, after)).statusCode).toBe(200);
    expect(new Set(await jwksKids(gateway))).toEqual(new Set([oldKid, rotated.kid]));

    // Another gateway on the database learns the new key by its kid.
    const other = await startGateway(openSqliteGatewayState(db));
    expect((await check(other, after)).statusCode).toBe(200);
    expect((await check(other, before)).statusCode).toBe(200);
  });

  it('refuses a token signed by a key not in the set, and one whose kid is known but whose signature is not', async () => {
    const gateway = await startGateway(openSqliteGatewayState(':memory:'));
    const token = await newAgent(gateway, 'bot-forged');
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    const stranger = await generateSigningKey();
    const forge = async (kid: string) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
        .sign(await importJWK(stranger, 'EdDSA'));
    const unknown = await check(gateway, await forge(stranger.kid));
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json().message).toBe('the agent token is signed by a key this gateway does not know');
    const wrongSignature = await check(gateway, await forge(gateway.tokens.kid));
    expect(wrongSignature.statusCode).toBe(401);
    expect((await check(gateway, token)).statusCode).toBe(200);
  });

  it('refuses a token its own key signed that outlives every token a gateway issued with it (a leaked key)', async () => {
    const dir = await tempDir();
    const keyFile = join(dir, 'signing-key.json');
    const gateway = await startGateway(
      openSqliteGatewayState(join(dir, 'gateway.db')),
      signingKeyFile(keyFile),
    );
    const token = await newAgent(gateway, 'bot-leak'); // ttl 3600
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
      exp: number;
      jti: string;
    };
    const leaked = JSON.parse(readFileSync(keyFile, 'utf8')) as { kid: string };
    const mint = async (exp: number) =>
      new SignJWT({ ...claims, exp, jti: randomUUID() })
        .setProtectedHeader({ alg: 'EdDSA', kid: leaked.kid, typ: 'JWT' })
        .sign(await importJWK(leaked, 'EdDSA'));
    const forever = await check(gateway, await mint(claims.exp + 10 * 365 * 86_400));
    expect(forever.statusCode).toBe(401);
    expect(forever.json().message).toMatch(/not issued by a gateway/);
    // Within what the gateway issued, the key's signature is all there is to go by.
    expect((await check(gateway, await mint(claims.exp - 60))).statusCode).toBe(200);
  });

  it('drops a retired key from the JWKS once every token it signed has expired', async () => {
    const dir = await tempDir();
    const db = join(dir, 'gateway.db');
    const keyFile = join(dir, 'signing-key.json');
    const state = openSqliteGatewayState(db);
    const gateway = await startGateway(state, signingKeyFile(keyFile));
    const oldKid = gateway.tokens.kid;
    await gateway.tokens.issue({ id: 'short', name: 'short', tags: [], tier: 'basic' }, 1);
    const rotated = await rotateSigningKeyFile(state, keyFile, quiet);
    await gateway.reloadSigningKey();
    expect(new Set(await jwksKids(gateway))).toEqual(new Set([oldKid, rotated.kid]));
    await new Promise((r) => setTimeout(r, 1100));
    expect(await jwksKids(gateway)).toEqual([rotated.kid]);
  });
});
