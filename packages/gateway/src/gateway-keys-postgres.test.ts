import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStore } from '@meshguard/core';
import { openPostgresGatewayState } from '@meshguard/store';
import { makeOldPostgresGatewaySchema } from '@meshguard/store/testing';
import { decodeProtectedHeader } from 'jose';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from './gateway-app';
import { rotateSigningKeyFile } from './gateway-keys';
import { signingKeyFile } from './signing-key-file';
import { oldSigningKey } from './test-helpers/old-signing-key';
import { generateSigningKey, parseSigningKey } from './token-signer';

const PG_URL = process.env.MESHGUARD_TEST_PG_URL;
const ADMIN = 'pg-keys-admin-token-0123456789ab';
const admin = { authorization: `Bearer ${ADMIN}` };
const POLICY = {
  name: 'support.yaml',
  text: 'name: support\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["read:*"]\n',
};

if (!PG_URL) {
  console.warn('signing keys on PostgreSQL: skipped (set MESHGUARD_TEST_PG_URL)');
}

describe.skipIf(!PG_URL)('signing keys of gateways on one PostgreSQL schema', () => {
  const schemas: string[] = [];
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const thing of open.splice(0).reverse()) await thing.close();
  });
  afterAll(async () => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });
  const newSchema = () => {
    const schema = `mg_keys_${randomBytes(4).toString('hex')}`;
    schemas.push(schema);
    return schema;
  };
  const replica = async (schema: string, signingKey?: Parameters<typeof createGateway>[0]['signingKey']) => {
    const gateway = await createGateway({
      store: createMemoryStore(),
      state: await openPostgresGatewayState(PG_URL!, { schema }),
      adminToken: ADMIN,
      policies: [POLICY],
      policyPollMs: 60_000,
      ...(signingKey ? { signingKey } : {}),
    });
    open.push(gateway);
    return gateway;
  };
  const newAgent = async (gateway: Gateway) => {
    const res = await gateway.app.inject({
      method: 'POST',
      url: '/v1/agents',
      headers: admin,
      payload: { id: `bot-${randomUUID()}`, name: 'bot', tags: [], ttl: 3600 },
    });
    expect(res.statusCode).toBe(201);
    return (res.json() as { token: string }).token;
  };
  const status = async (gateway: Gateway, token: string) =>
    (
      await gateway.app.inject({
        method: 'POST',
        url: '/v1/check',
        headers: { authorization: `Bearer ${token}` },
        payload: { action: 'read:orders' },
      })
    ).statusCode;
  const jwksKids = async (gateway: Gateway) =>
    new Set(
      (
        (await gateway.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json() as {
          keys: Array<{ kid: string }>;
        }
      ).keys.map((key) => key.kid),
    );
  const kidOf = (token: string) => decodeProtectedHeader(token).kid;

  it('replicas with keys of their own verify each other’s tokens; the JWKS of each lists both', async () => {
    const schema = newSchema();
    const dir = await mkdtemp(join(tmpdir(), 'mg-pg-keys-'));
    const a = await replica(schema, signingKeyFile(join(dir, 'a.json')));
    const b = await replica(schema, signingKeyFile(join(dir, 'b.json')));
    expect(a.tokens.kid).not.toBe(b.tokens.kid);
    const fromA = await newAgent(a);
    const fromB = await newAgent(b);
    expect(await status(b, fromA)).toBe(200);
    expect(await status(a, fromB)).toBe(200);
    expect(await jwksKids(a)).toEqual(new Set([a.tokens.kid, b.tokens.kid]));
    expect(await jwksKids(b)).toEqual(new Set([a.tokens.kid, b.tokens.kid]));
  });

  it('replicas sharing one key (MESHGUARD_SIGNING_KEY) sign with one kid', async () => {
    const schema = newSchema();
    const text = JSON.stringify(await generateSigningKey());
    const a = await replica(schema, await parseSigningKey(text, 'MESHGUARD_SIGNING_KEY'));
    const b = await replica(schema, await parseSigningKey(text, 'MESHGUARD_SIGNING_KEY'));
    expect(a.tokens.kid).toBe(b.tokens.kid);
    expect(await status(b, await newAgent(a))).toBe(200);
    expect(await jwksKids(b)).toEqual(new Set([a.tokens.kid]));
  });

  it('after a rotation on one replica, the other verifies the new key’s tokens and the old ones', async () => {
    const schema = newSchema();
    const dir = await mkdtemp(join(tmpdir(), 'mg-pg-keys-'));
    const keyFile = join(dir, 'a.json');
    const a = await replica(schema, signingKeyFile(keyFile));
    const b = await replica(schema);
    const before = await newAgent(a);
    const state = await openPostgresGatewayState(PG_URL!, { schema });
    open.push(state);
    const rotated = await rotateSigningKeyFile(state, keyFile, { warn: () => {} });
    expect(rotated.retired).toBe(kidOf(before));
    await a.reloadSigningKey();
    const after = await newAgent(a);
    expect(kidOf(after)).toBe(rotated.kid);
    expect(await status(b, after)).toBe(200); // an unknown kid: b reads it from the database
    expect(await status(b, before)).toBe(200);
    expect(await jwksKids(b)).toEqual(new Set([rotated.kid, kidOf(before), b.tokens.kid]));
  });

  it('moves the private key of a schema made the old way out, drops its table, and its tokens verify', async () => {
    const schema = newSchema();
    const { kid, privateJwk, publicJwk, token } = await oldSigningKey();
    await makeOldPostgresGatewaySchema(PG_URL!, schema, { kid, privateJwk, publicJwk }, 'old-bot');
    const dir = await mkdtemp(join(tmpdir(), 'mg-pg-keys-'));
    const a = await replica(schema, signingKeyFile(join(dir, 'a.json')));
    expect(a.tokens.kid).toBe(kid);
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    const table = await client.query('SELECT to_regclass($1) AS t', [`"${schema}".gateway_signing_key`]);
    const keys = await client.query(`SELECT public_jwk FROM "${schema}".gateway_keys`);
    await client.end();
    expect(table.rows[0].t).toBeNull();
    expect(JSON.stringify(keys.rows)).not.toContain(privateJwk.d as string);
    expect(await status(a, token)).toBe(200);
  });
});
