import { randomUUID } from 'node:crypto';
import { type AgentIdentity, AgentIdentitySchema, ConfigError, type GatewayState } from '@meshguard/core';
import { isoTime, RecentMap } from '@meshguard/core/internal';
import { base64url, compactVerify, decodeProtectedHeader, importJWK, type JWK, jwtVerify } from 'jose';
import { z } from 'zod';
import { type ActClaim, chainFromActClaim } from './delegation-claims';
import type { TokenSigner } from './token-signer';

export const TOKEN_ISSUER = 'meshguard-gateway';
export const TOKEN_AUDIENCE = 'meshguard';
const ALG = 'EdDSA';

const ClaimsSchema = z.object({
  sub: z.string().min(1),
  name: z.string().min(1),
  tags: z.array(z.string()),
  tier: AgentIdentitySchema.shape.tier,
  jti: z.string().min(1),
  iat: z.number(),
  exp: z.number(),
  /** Set on delegated tokens only (RFC 8693 actor chain): read by `chainFromActClaim`. */
  act: z.unknown().optional(),
});

export interface VerifiedToken {
  agent: AgentIdentity;
  jti: string;
  expiresAt: string;
  /** A delegated token's chain (root first), from its verified `act` claim; absent on an agent's own token. */
  delegation?: AgentIdentity[];
}

/** Why a token was refused (always a 401). */
export class TokenError extends Error {
  override readonly name = 'TokenError';
}

/** A public key as the JWKS serves it: the gateway's Ed25519 key with the fields it stores it with. */
export type PublicJwk = JWK & { kty: string; crv: string; x: string; kid: string; alg: string; use: string };

/** Issues and verifies agent tokens: EdDSA JWTs signed with the gateway's key. */
export interface TokenAuthority {
  /** The key id new tokens are signed with. */
  readonly kid: string;
  /**
   * The public key set (`/.well-known/jwks.json`): every key a token that has not expired may be
   * signed with, this gateway's own, other replicas' and retired ones included.
   */
  jwks(): Promise<{ keys: PublicJwk[] }>;
  /** `act`: a delegated token's actor chain (see gateway-delegation.ts). */
  issue(
    agent: AgentIdentity,
    ttlSeconds: number,
    act?: ActClaim,
  ): Promise<{ token: string; jti: string; expiresAt: string }>;
  /** Verifies signature, issuer, audience and expiry, then that neither agent nor token is revoked. */
  verify(token: string): Promise<VerifiedToken>;
  /** Signs new tokens with `signer` from now on; its public key is recorded first. */
  useSigner(signer: TokenSigner): Promise<void>;
}

type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

const asPublicJwk = (kid: string, jwk: Record<string, unknown>): PublicJwk => {
  const { kty, crv, x } = jwk as { kty: string; crv: string; x: string };
  return { kty, crv, x, kid, alg: ALG, use: 'sig' };
};

/**
 * Issues tokens with `signer` and verifies them with the public keys the state holds, looked up
 * by each token's `kid` (a kid this process has not seen yet is read from the database: another
 * replica's key, or one made by `meshguard gateway rotate-key`). The private key is never in the
 * database.
 */
export async function createTokenAuthority(
  state: GatewayState,
  signer: TokenSigner,
): Promise<TokenAuthority> {
  let current = signer;
  let currentKey = await importJWK(current.publicJwk, ALG);
  const record = async (s: TokenSigner, expiresAt?: string) =>
    state.putPublicKey(
      { kid: s.kid, publicJwk: asPublicJwk(s.kid, s.publicJwk), createdAt: isoTime(Date.now()) },
      expiresAt,
    );
  await record(current);
  // Public keys by kid, as imported: a key never changes under its kid.
  const keys = new Map<string, Promise<VerifyKey>>([[current.kid, Promise.resolve(currentKey)]]);
  // The latest token expiry (ms) recorded for each key, as far as this process knows. A token that
  // expires later was not issued by a gateway, whoever holds the key (a retired key that leaked,
  // say): the database is read again before it is refused, another replica may have issued it.
  const covers = new Map<string, number>();
  // A signature, once verified, stays valid: remember verified tokens (bounded) so each request
  // pays for the expiry and revocation checks only, not for an EdDSA verification.
  const verified = new RecentMap<string, z.infer<typeof ClaimsSchema>>(20_000);

  const keyFor = async (kid: string): Promise<VerifyKey | undefined> => {
    const known = keys.get(kid);
    if (known) return known;
    const stored = await state.getPublicKey(kid);
    if (!stored) return undefined; // not remembered: a key recorded later is found then
    const imported = importJWK(asPublicJwk(kid, stored.publicJwk), ALG);
    keys.set(kid, imported);
    return imported;
  };

  return {
    get kid() {
      return current.kid;
    },
    async jwks() {
      const stored = await state.listPublicKeys();
      const list = stored.map((key) => asPublicJwk(key.kid, key.publicJwk));
      if (!list.some((key) => key.kid === current.kid))
        list.push(asPublicJwk(current.kid, current.publicJwk));
      return { keys: list };
    },
    async issue(agent, ttlSeconds, act) {
      const jti = randomUUID();
      const now = Math.floor(Date.now() / 1000);
      const expiresAt = new Date((now + ttlSeconds) * 1000).toISOString();
      const signing = current;
      const header = { alg: ALG, kid: signing.kid, typ: 'JWT' };
      const claims = {
        name: agent.name,
        tags: agent.tags,
        tier: agent.tier,
        ...(act ? { act } : {}),
        sub: agent.id,
        iss: TOKEN_ISSUER,
        aud: TOKEN_AUDIENCE,
        iat: now,
        exp: now + ttlSeconds,
        jti,
      };
      const input = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(claims))}`;
      const signature = await signing.sign(new TextEncoder().encode(input));
      const token = `${input}.${base64url.encode(signature)}`;
      // A signer (a KMS, say) whose signatures its public key does not verify would hand out
      // tokens no gateway accepts: refuse here, loudly, rather than later, at every request.
      try {
        await compactVerify(
          token,
          signing === current ? currentKey : await importJWK(signing.publicJwk, ALG),
        );
      } catch {
        throw new ConfigError(
          `the signing key "${signing.kid}" made a signature its public key does not verify`,
          { code: 'signing_key_invalid' },
        );
      }
      // The key is kept (and listed) until this token has expired, even once retired; recorded
      // before the token is handed out, so every replica accepts it.
      await record(signing, expiresAt);
      covers.set(signing.kid, Math.max(covers.get(signing.kid) ?? 0, (now + ttlSeconds) * 1000));
      return { token, jti, expiresAt };
    },
    async verify(token) {
      let claims = verified.get(token);
      if (!claims) claims = await verifySignature(token);
      if (claims.exp * 1000 <= Date.now()) {
        verified.delete(token);
        throw new TokenError('the agent token has expired');
      }
      const { sub, name, tags, tier, jti, exp } = claims;
      const { agent: record, tokenRevoked } = await state.tokenStatus(sub, jti);
      if (!record) throw new TokenError(`agent "${sub}" is unknown to this gateway`);
      if (record.revokedAt) throw new TokenError(`agent "${sub}" was revoked`);
      if (tokenRevoked) throw new TokenError('the agent token was revoked');
      const verifiedToken: VerifiedToken = {
        agent: { id: sub, name, tags, tier },
        jti,
        expiresAt: new Date(exp * 1000).toISOString(),
      };
      const delegation = delegationOf(claims.act);
      if (delegation) verifiedToken.delegation = delegation;
      return verifiedToken;
    },
    async useSigner(next) {
      const key = await importJWK(next.publicJwk, ALG);
      await record(next);
      keys.set(next.kid, Promise.resolve(key));
      current = next;
      currentKey = key;
    },
  };

  async function verifySignature(token: string): Promise<z.infer<typeof ClaimsSchema>> {
    const invalid = () => new TokenError('the agent token is not valid (signature, issuer or format)');
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      throw invalid();
    }
    if (!kid) throw invalid();
    const key = await keyFor(kid);
    if (!key) throw new TokenError('the agent token is signed by a key this gateway does not know');
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: [ALG],
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
      }));
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ERR_JWT_EXPIRED') throw new TokenError('the agent token has expired');
      throw invalid();
    }
    const claims = ClaimsSchema.safeParse(payload);
    if (!claims.success) throw new TokenError('the agent token lacks MeshGuard claims');
    if (claims.data.exp * 1000 > (covers.get(kid) ?? 0)) {
      const stored = await state.getPublicKey(kid);
      if (!stored) {
        keys.delete(kid); // dropped since: every token it signed has expired
        throw new TokenError('the agent token is signed by a key this gateway does not know');
      }
      covers.set(kid, stored.expiresAt ? Date.parse(stored.expiresAt) : 0);
      if (claims.data.exp * 1000 > (covers.get(kid) ?? 0))
        throw new TokenError(
          'the agent token was not issued by a gateway (it outlives every token its key signed)',
        );
    }
    verified.set(token, claims.data);
    return claims.data;
  }
}

function delegationOf(act: unknown): AgentIdentity[] | undefined {
  try {
    return chainFromActClaim(act);
  } catch (error) {
    throw new TokenError(`the agent token's delegation chain is not valid (${(error as Error).message})`);
  }
}
