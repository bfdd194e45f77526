import { type AuditStore, ConfigError } from '@meshguard/core';
import { openPostgresStore, type PostgresStoreOptions } from './postgres-store';
import { openSqliteStore, type SqliteAuditStore, type SqliteStoreOptions } from './sqlite-store';
import { parseStoreUrl } from './store-url';

/** Options for either store; each takes the ones that apply to it. */
export type OpenStoreOptions = SqliteStoreOptions & PostgresStoreOptions;

/**
 * Opens the store a URL names: `sqlite:<path>` (the embedded default, `.meshguard/meshguard.db`),
 * a bare path, or `postgres://...` / `postgresql://...` (`?schema=` picks the schema).
 * `createGuard()` calls it for `MESHGUARD_DB`.
 *
 * @example
 * const store = await openStore('sqlite:.meshguard/meshguard.db');
 * const shared = await openStore('postgres://meshguard@db:5432/meshguard?schema=audit');
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<AuditStore> {
  const location = parseStoreUrl(url);
  if (location.kind === 'sqlite') return openSqliteStore(location.path, options);
  return openPostgresStore(location.url, options);
}

/** Opens a SQLite store for the CLI's read commands (never writes, refuses a missing file). */
export function openSqliteForReading(url: string): SqliteAuditStore {
  const location = parseStoreUrl(url);
  if (location.kind !== 'sqlite') {
    throw new ConfigError(`"${url}" is not a SQLite store URL`, { code: 'store_url_invalid' });
  }
  return openSqliteStore(location.path, { readonly: true });
}
