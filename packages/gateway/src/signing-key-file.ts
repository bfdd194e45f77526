import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '@meshguard/core';
import { ensurePrivateFile, makePrivateDir, PRIVATE_FILE_MODE } from '@meshguard/core/internal';
import { generateSigningKey, type PrivateJwk, parseSigningKey, type TokenSigner } from './token-signer';

/**
 * Loads the signer from a key file; see {@link signingKeyFile}. `adopt` is how the gateway moves
 * a key an older version kept in its database into the file.
 */
export interface SigningKeyLoader {
  (): Promise<TokenSigner>;
  /** The key file, for messages. */
  readonly path?: string;
  /** Writes `key` to the key file if there is none yet; whether it did. */
  adopt?(key: PrivateJwk): Promise<boolean>;
}

/**
 * The gateway's signing key in a file: an Ed25519 private JWK, 0600 in a 0700 folder. Created
 * with a new key on first use; a file others can read is tightened, or a `ConfigError` names it.
 * The loader reads the file each time it is called (`gateway.reloadSigningKey()`, SIGHUP).
 *
 * @example
 * const gateway = await createGateway({ store, state, adminToken, signingKey: signingKeyFile('.meshguard/gateway-signing-key.json') });
 */
export function signingKeyFile(path: string): SigningKeyLoader {
  const load = async (): Promise<TokenSigner> => {
    if (!ensurePrivateFile(path)) {
      // Several processes starting at once: one file wins, and every one reads it.
      writeKeyFile(path, await generateSigningKey(), { replace: false });
    }
    return parseSigningKey(readFileSync(path, 'utf8'), `the signing key file ${path}`);
  };
  return Object.assign(load, {
    path,
    adopt: async (key: PrivateJwk) => {
      if (ensurePrivateFile(path)) return false;
      return writeKeyFile(path, key, { replace: false });
    },
  });
}

/**
 * Writes a key file whole or not at all: a 0600 file beside it, then moved into place. With
 * `replace: false`, an existing file is kept (false is returned).
 */
export function writeKeyFile(path: string, key: PrivateJwk, options: { replace: boolean }): boolean {
  makePrivateDir(dirname(path));
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(key)}\n`, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  try {
    ensurePrivateFile(temporary);
    if (options.replace) {
      renameSync(temporary, path);
      return true;
    }
    try {
      linkSync(temporary, path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw new ConfigError(`cannot write the signing key file ${path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  } finally {
    try {
      unlinkSync(temporary);
    } catch {
      // Renamed into place.
    }
  }
}
