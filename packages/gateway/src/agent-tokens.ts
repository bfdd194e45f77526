import { randomUUID } from 'node:crypto';
import { type AgentIdentity, AgentIdentitySchema, isoTime, RecentMap } from '@meshguard/core';
import type { GatewayState, SigningKey } from '@meshguard/store';
import { exportJWK, generateKeyPair, importJWK, type JWK, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { type ActClaim, chainFromActClaim } from './delegation-claims';

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

/** Issues and verifies agent tokens: EdDSA JWTs signed with the gateway's own key. */
export interface TokenAuthority {
  readonly kid: string;
  /** The public key set (`/.well-known/jwks.json`). */
  jwks(): { keys: PublicJwk[] };
  /** `act`: a delegated token's actor chain (see gateway-delegation.ts). */
  issue(
    agent: AgentIdentity,
    ttlSeconds: number,
    act?: ActClaim,
  ): Promise<{ token: string; jti: string; expiresAt: string }>;
  /** Verifies signature, issuer, audience and expiry, then that neither agent nor token is revoked. */
  verify(token: string): Promise<VerifiedToken>;
}

/** Loads the gateway's signing key from the state, creating it on first start. */
export async function createTokenAuthority(state: GatewayState): Promise<TokenAuthority> {
  const key: SigningKey = await state.signingKey(async () => {
    const pair = await generateKeyPair(ALG, { crv: 'Ed25519', extractable: true });
    const kid = randomUUID();
    return {
      kid,
      privateJwk: { ...(await exportJWK(pair.privateKey)), kid, alg: ALG },
      publicJwk: { ...(await exportJWK(pair.publicKey)), kid, alg: ALG, use: 'sig' },
      createdAt: isoTime(Date.now()),
    };
  });
  const privateKey = await importJWK(key.privateJwk as JWK, ALG);
  const publicKey = await importJWK(key.publicJwk as JWK, ALG);
  // A signature, once verified, stays valid: remember verified tokens (bounded) so each request
  // pays for the expiry and revocation checks only, not for an EdDSA verification.
  const verified = new RecentMap<string, z.infer<typeof ClaimsSchema>>(20_000);
  return {
    kid: key.kid,
    jwks: () => ({ keys: [key.publicJwk as PublicJwk] }),
    async issue(agent, ttlSeconds, act) {
      const jti = randomUUID();
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({
        name: agent.name,
        tags: agent.tags,
        tier: agent.tier,
        ...(act ? { act } : {}),
      })
        .setProtectedHeader({ alg: ALG, kid: key.kid, typ: 'JWT' })
        .setSubject(agent.id)
        .setIssuer(TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setIssuedAt(now)
        .setExpirationTime(now + ttlSeconds)
        .setJti(jti)
        .sign(privateKey);
      return { token, jti, expiresAt: new Date((now + ttlSeconds) * 1000).toISOString() };
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
  };

  async function verifySignature(token: string): Promise<z.infer<typeof ClaimsSchema>> {
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(token, publicKey, {
        algorithms: [ALG],
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
      }));
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new TokenError(
        code === 'ERR_JWT_EXPIRED'
          ? 'the agent token has expired'
          : 'the agent token is not valid (signature, issuer or format)',
      );
    }
    const claims = ClaimsSchema.safeParse(payload);
    if (!claims.success) throw new TokenError('the agent token lacks MeshGuard claims');
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
