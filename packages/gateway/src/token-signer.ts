import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  sign,
} from 'node:crypto';
import { ConfigError } from '@meshguard/core';
import { calculateJwkThumbprint, type JWK } from 'jose';

/**
 * What signs the gateway's agent tokens: a key id, the public half and a way to sign. The
 * gateway never needs the private key itself, so a KMS or an HSM can hold it: implement `sign`
 * with the KMS's Ed25519 signing call and pass the signer as `createGateway({ signingKey })`.
 *
 * @example
 * const signer: TokenSigner = {
 *   kid: 'kms-2026-01',
 *   publicJwk: { kty: 'OKP', crv: 'Ed25519', x: '...' },
 *   sign: async (data) => kms.sign({ keyId, message: data, algorithm: 'ED25519' }),
 * };
 */
export interface TokenSigner {
  /** The key id tokens carry in their `kid` header; the database keeps the public key under it. */
  readonly kid: string;
  /** The public half as a JWK (`kty: OKP`, `crv: Ed25519`, `x`). */
  readonly publicJwk: JWK;
  /** The Ed25519 signature (64 bytes) of `data`, the JWS signing input. */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** A private key as a key file holds it: an Ed25519 JWK with its key id. */
export type PrivateJwk = JWK & { kty: 'OKP'; crv: 'Ed25519'; x: string; d: string; kid: string };

function notEd25519(where: string, why: string): ConfigError {
  // Never the text itself: it is a secret.
  return new ConfigError(`${where} is not an Ed25519 private key (a JWK or a PEM): ${why}`, {
    code: 'signing_key_invalid',
  });
}

/** Reads an Ed25519 private key given as a JWK (JSON) or as PEM; `where` names it in errors. */
export async function parseSigningKey(text: string, where: string): Promise<TokenSigner> {
  const trimmed = text.trim();
  let key: KeyObject;
  let kid: string | undefined;
  try {
    if (trimmed.startsWith('{')) {
      const jwk = JSON.parse(trimmed) as JWK;
      if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string')
        throw notEd25519(where, 'a JWK needs kty "OKP", crv "Ed25519" and the private part "d"');
      kid = typeof jwk.kid === 'string' && jwk.kid ? jwk.kid : undefined;
      key = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
    } else {
      key = createPrivateKey(trimmed);
    }
  } catch (error) {
    if (ConfigError.isInstance(error)) throw error;
    throw notEd25519(where, (error as Error).message.split('\n')[0] ?? 'unreadable');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw notEd25519(where, `it is a ${key.asymmetricKeyType} key`);
  return localSigner(key, kid);
}

/** A signer over a private key held in this process. Without a kid, the key's JWK thumbprint. */
async function localSigner(privateKey: KeyObject, kid?: string): Promise<TokenSigner> {
  const { kty, crv, x } = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  const publicJwk: JWK = { kty, crv, x };
  const id = kid ?? (await calculateJwkThumbprint(publicJwk));
  return {
    kid: id,
    publicJwk,
    sign: async (data) => sign(null, data, privateKey),
  };
}

/** A new Ed25519 key with a new key id (its thumbprint), as a key file holds it. */
export async function generateSigningKey(): Promise<PrivateJwk> {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' }) as PrivateJwk;
  const { kty, crv, x, d } = jwk;
  return { kty, crv, x, d, kid: await calculateJwkThumbprint({ kty, crv, x }), alg: 'EdDSA' };
}
