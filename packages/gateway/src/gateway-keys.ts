import type { GatewayState } from '@meshguard/core';
import { ensurePrivateFile, isoTime } from '@meshguard/core/internal';
import type { FastifyBaseLogger } from 'fastify';
import { createTokenAuthority, type TokenAuthority } from './agent-tokens';
import { type SigningKeyLoader, signingKeyFile, writeKeyFile } from './signing-key-file';
import { generateSigningKey, type PrivateJwk, parseSigningKey, type TokenSigner } from './token-signer';

/**
 * Where the gateway's signing key comes from: a signer (a KMS hook, or a key parsed from
 * `MESHGUARD_SIGNING_KEY` with `parseSigningKey`), or a loader such as `signingKeyFile(path)`,
 * called at start and again by `gateway.reloadSigningKey()` (the CLI's SIGHUP).
 */
export type SigningKeyOption = TokenSigner | SigningKeyLoader;

export interface GatewayKeys {
  readonly tokens: TokenAuthority;
  /** Loads the signing key again (a loader only) and signs new tokens with it; its kid. */
  reload(): Promise<string>;
  /** Retires a key made for this process alone: nothing can sign with it once it stops. */
  close(): Promise<void>;
}

/**
 * Sets up token signing for a gateway. A private key that an older version kept in the database
 * is moved out first: into the key file when the loader has one and it does not exist yet, else
 * only deleted (its public key stays, so the tokens it signed keep verifying). Without
 * `option`, the gateway signs with a key made for this process alone: its tokens verify on
 * every replica and after a restart (the public key is in the database), but each start signs
 * with a new kid.
 */
export async function openGatewayKeys(
  state: GatewayState,
  option: SigningKeyOption | undefined,
  log: FastifyBaseLogger,
): Promise<GatewayKeys> {
  const loader = typeof option === 'function' ? option : undefined;
  await moveLegacyKey(state, loader, log);
  const ephemeral = option === undefined;
  let signer: TokenSigner;
  if (loader) signer = await loader();
  else if (typeof option === 'object') signer = option;
  else signer = await parseSigningKey(JSON.stringify(await generateSigningKey()), 'a new key');
  const tokens = await createTokenAuthority(state, signer);
  log.info({ kid: signer.kid, ephemeral }, 'agent tokens are signed with key %s', signer.kid);
  return {
    tokens,
    async reload() {
      if (!loader) return tokens.kid;
      const next = await loader();
      if (next.kid !== tokens.kid) {
        await tokens.useSigner(next);
        log.info({ kid: next.kid }, 'agent tokens are now signed with key %s', next.kid);
      }
      return next.kid;
    },
    async close() {
      if (ephemeral) await state.retirePublicKey(signer.kid, isoTime(Date.now()));
    },
  };
}

/** Where key changes are told (the gateway's pino logger; the CLI's stderr). */
export interface KeyLog {
  warn(fields: Record<string, unknown>, message: string): void;
}

/** The longest lifetime a token can be issued with (`ttl` in `POST /v1/agents`). */
const LONGEST_TOKEN_MS = 366 * 86_400_000;

/**
 * Moves a private key an older version kept in the database out of it (see
 * {@link openGatewayKeys}). Its tokens' expiries were never recorded: the key is kept for the
 * longest token lifetime.
 */
async function moveLegacyKey(
  state: GatewayState,
  loader: SigningKeyLoader | undefined,
  log: KeyLog,
): Promise<void> {
  const legacy = await state.takeLegacySigningKey();
  if (!legacy) return;
  await state.putPublicKey(
    { kid: legacy.kid, publicJwk: legacy.publicJwk, createdAt: legacy.createdAt },
    isoTime(Date.now() + LONGEST_TOKEN_MS),
  );
  const moved = await loader?.adopt?.({ ...legacy.privateJwk, kid: legacy.kid } as PrivateJwk);
  await state.dropLegacySigningKey();
  if (moved) {
    log.warn(
      { kid: legacy.kid, file: loader?.path },
      'moved the token signing key out of the database into the key file',
    );
  } else {
    log.warn(
      { kid: legacy.kid },
      'deleted the token signing key an older version kept in the database (its public key stays: the tokens it signed verify until they expire)',
    );
  }
}

/**
 * `meshguard gateway rotate-key`: writes a new key to the key file and retires the one it held.
 * The new public key is recorded before the file changes, so every replica verifies the new
 * key's tokens from the first; the old key's tokens verify until they expire. A running gateway
 * signs with the new key once it reloads the file (SIGHUP) or restarts.
 */
export async function rotateSigningKeyFile(
  state: GatewayState,
  path: string,
  log: KeyLog,
): Promise<{ kid: string; retired?: string }> {
  const file = signingKeyFile(path);
  await moveLegacyKey(state, file, log);
  const old = ensurePrivateFile(path) ? await file() : undefined;
  const next = await generateSigningKey();
  const now = isoTime(Date.now());
  const { kty, crv, x, kid } = next;
  await state.putPublicKey({ kid, publicJwk: { kty, crv, x }, createdAt: now });
  writeKeyFile(path, next, { replace: true });
  if (!old) return { kid };
  // Recorded first, in case no gateway ever started with it (then it signed nothing to keep).
  await state.putPublicKey({ kid: old.kid, publicJwk: { ...old.publicJwk }, createdAt: now });
  await state.retirePublicKey(old.kid, now);
  return { kid, retired: old.kid };
}
