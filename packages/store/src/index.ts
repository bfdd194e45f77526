export { openSqliteForReading, openStore } from './open-store';
export type { OpenStoreOptions } from './open-store';
export { openSqliteStore, SQLITE_SCHEMA_VERSION } from './sqlite-store';
export type { SqliteAuditStore, SqliteStoreOptions, StoreStats } from './sqlite-store';
export { parseStoreUrl } from './store-url';
export type { StoreLocation } from './store-url';
