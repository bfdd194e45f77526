// For the tests of gateway databases made by versions before this one, which kept the private
// signing key in the database. Test code only: no entry of the package's build reaches this file.
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '../agent-tokens';

/**
 * A signing key as an older version kept it (its JWKs), and a token for the agent `old-bot` that
 * key signed, valid for an hour.
 */
export async function oldSigningKey() {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const kid = randomUUID();
  const privateJwk = { ...(await exportJWK(pair.privateKey)), kid, alg: 'EdDSA' };
  const publicJwk = { ...(await exportJWK(pair.publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  const token = await new SignJWT({ name: 'old-bot', tags: [], tier: 'basic' })
    .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
    .setSubject('old-bot')
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('1h')
    .setJti(randomUUID())
    .sign(pair.privateKey);
  return { kid, privateJwk, publicJwk, token };
}
