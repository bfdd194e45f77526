import { existsSync } from 'node:fs';
import { DEFAULT_DB, MeshGuardError } from '@meshguard/core';
import { openSqliteForReading, parseStoreUrl, type SqliteAuditStore } from '@meshguard/store';
import { UsageError } from './cli-error';

/** The store URL the audit commands read: `--db`, else `MESHGUARD_DB`, else the embedded default. */
export function auditDbUrl(flag: string | undefined): string {
  return flag ?? (process.env.MESHGUARD_DB?.trim() || DEFAULT_DB);
}

/** Opens the audit database read-only: a query never modifies the store. */
export function openAuditForReading(flag: string | undefined): SqliteAuditStore {
  const url = auditDbUrl(flag);
  const location = parseStoreUrl(url);
  if (location.kind !== 'sqlite')
    throw new UsageError(`--db: reading "${url}" needs a gateway; the CLI reads sqlite:<path> databases`);
  if (!existsSync(location.path)) {
    throw new UsageError(
      `no audit database at "${location.path}" (pass --db, set MESHGUARD_DB, or run a demo first)`,
    );
  }
  try {
    return openSqliteForReading(url);
  } catch (error) {
    if (MeshGuardError.isInstance(error)) throw new UsageError(error.message);
    throw error;
  }
}
