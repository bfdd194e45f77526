import { type AuditStore, ConfigError } from '@meshguard/core';
import { openSqliteStore, type SqliteAuditStore, type SqliteStoreOptions } from './sqlite-store';
import { parseStoreUrl } from './store-url';

export type OpenStoreOptions = SqliteStoreOptions;

/**
 * Opens the store a URL names: `sqlite:<path>` (the embedded default, `.meshguard/meshguard.db`)
 * or a bare path. `createGuard()` calls it for `MESHGUARD_DB`.
 *
 * @example
 * const store = await openStore('sqlite:.meshguard/meshguard.db');
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<AuditStore> {
  const location = parseStoreUrl(url);
  if (location.kind === 'sqlite') return openSqliteStore(location.path, options);
  throw new ConfigError(
    `this version of @meshguard/store has no PostgreSQL store; use sqlite:<path> ("${url}")`,
    {
      code: 'store_url_invalid',
    },
  );
}

/** Opens a SQLite store for the CLI's read commands (never writes, refuses a missing file). */
export function openSqliteForReading(url: string): SqliteAuditStore {
  const location = parseStoreUrl(url);
  if (location.kind !== 'sqlite') {
    throw new ConfigError(`"${url}" is not a SQLite store URL`, { code: 'store_url_invalid' });
  }
  return openSqliteStore(location.path, { readonly: true });
}
