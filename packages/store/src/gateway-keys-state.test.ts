import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GatewayState } from './gateway-state';
import { makeOldGatewayDatabase, makeOldPostgresGatewaySchema } from './old-gateway-database';
import { openPostgresGatewayState } from './postgres-gateway-state';
import { openSqlite } from './sqlite-driver';
import { openSqliteGatewayState } from './sqlite-gateway-state';
import { freshSchema, PG_URL } from './test-helpers/postgres';

const iso = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();
const jwk = (x: string) => ({ kty: 'OKP', crv: 'Ed25519', x });
const OLD_KEY = {
  kid: 'old-kid',
  privateJwk: { kty: 'OKP', crv: 'Ed25519', x: 'old-x', d: 'PRIVATE-PART-never-to-stay-0123456789' },
  publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'old-x', kid: 'old-kid' },
};

/** The public-key table behaves alike on SQLite and PostgreSQL. */
function describeKeys(
  name: string,
  open: () => Promise<GatewayState>,
  openOld: () => Promise<{ state: GatewayState; bytes?: () => string }>,
) {
  describe(`${name}: public keys`, () => {
    it('keeps public keys by kid, the latest token expiry of each, and drops retired keys whose tokens all expired', async () => {
      const state = await open();
      try {
        await state.putPublicKey({ kid: 'a', publicJwk: jwk('xa'), createdAt: iso(-3000) });
        await state.putPublicKey({ kid: 'a', publicJwk: jwk('other'), createdAt: iso(0) }); // idempotent
        const later = iso(60_000);
        await state.putPublicKey({ kid: 'b', publicJwk: jwk('xb'), createdAt: iso(-2000) }, later);
        await state.putPublicKey({ kid: 'b', publicJwk: jwk('xb'), createdAt: iso(-2000) }, iso(10_000));
        await state.putPublicKey({ kid: 'b', publicJwk: jwk('xb'), createdAt: iso(-2000) });
        await state.putPublicKey({ kid: 'c', publicJwk: jwk('xc'), createdAt: iso(-1000) }, iso(-5000));
        expect(await state.getPublicKey('a')).toMatchObject({ kid: 'a', publicJwk: jwk('xa') });
        expect((await state.getPublicKey('b'))?.expiresAt).toBe(later); // the latest is kept
        expect(await state.getPublicKey('nope')).toBeUndefined();

        expect(await state.retirePublicKey('b', iso(0))).toBe(true); // a token expires later: kept
        expect(await state.retirePublicKey('c', iso(0))).toBe(true); // its last token has expired
        expect(await state.retirePublicKey('nope', iso(0))).toBe(false);
        expect((await state.listPublicKeys()).map((k) => k.kid)).toEqual(['a', 'b']);
        expect(await state.getPublicKey('c')).toBeUndefined();
        expect((await state.getPublicKey('b'))?.retiredAt).toBeDefined();

        // A gateway still signing with a dropped key records it again with the token's expiry.
        await state.putPublicKey({ kid: 'c', publicJwk: jwk('xc'), createdAt: iso(0) }, iso(60_000));
        expect((await state.listPublicKeys()).map((k) => k.kid)).toContain('c');
      } finally {
        await state.close();
      }
    });

    it('hands over a private key kept the old way, then deletes it for good', async () => {
      const { state, bytes } = await openOld();
      try {
        if (bytes) expect(bytes()).toContain(OLD_KEY.privateJwk.d);
        const legacy = await state.takeLegacySigningKey();
        expect(legacy).toMatchObject({ kid: 'old-kid', privateJwk: OLD_KEY.privateJwk });
        expect(await state.getPublicKey('old-kid')).toMatchObject({ publicJwk: OLD_KEY.publicJwk });
        await state.dropLegacySigningKey();
        expect(await state.takeLegacySigningKey()).toBeUndefined();
        await state.dropLegacySigningKey(); // nothing left: a no-op
        if (bytes) expect(bytes()).not.toContain(OLD_KEY.privateJwk.d);
        expect(await state.getPublicKey('old-kid')).toBeDefined();
        expect((await state.getAgent('old-bot'))?.id).toBe('old-bot');
      } finally {
        await state.close();
      }
    });
  });
}

const sqliteFile = async () => join(await mkdtemp(join(tmpdir(), 'mg-state-keys-')), 'gateway.db');
describeKeys(
  'SQLite',
  async () => openSqliteGatewayState(await sqliteFile()),
  async () => {
    const path = await sqliteFile();
    makeOldGatewayDatabase(path, OLD_KEY, 'old-bot');
    const bytes = () =>
      [path, `${path}-wal`]
        .map((file) => {
          try {
            return readFileSync(file).toString('latin1');
          } catch {
            return '';
          }
        })
        .join('');
    return { state: openSqliteGatewayState(path), bytes };
  },
);

describe('SQLite: listing the public keys (the public JWKS route)', () => {
  it('does not write, so it neither waits for nor blocks the audit writer', async () => {
    const path = await sqliteFile();
    const state = openSqliteGatewayState(path);
    await state.putPublicKey({ kid: 'a', publicJwk: jwk('xa'), createdAt: iso(0) });
    const writer = openSqlite(path);
    writer.pragma('busy_timeout = 0');
    writer.exec('BEGIN IMMEDIATE'); // another process's write transaction, in flight
    try {
      const started = Date.now();
      expect((await state.listPublicKeys()).map((k) => k.kid)).toEqual(['a']);
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      writer.exec('ROLLBACK');
      writer.close();
      await state.close();
    }
  });
});

if (PG_URL) {
  describeKeys(
    'PostgreSQL',
    () => openPostgresGatewayState(PG_URL!, { schema: freshSchema() }),
    async () => {
      const schema = freshSchema();
      await makeOldPostgresGatewaySchema(PG_URL!, schema, OLD_KEY, 'old-bot');
      return { state: await openPostgresGatewayState(PG_URL!, { schema }) };
    },
  );
}
