// `@meshguard/store/internal`: what only MeshGuard's CLI and gateway use (no semver promise).
export { openSqliteForReading } from './open-store';
export type { SqliteDatabase, SqliteDriverName } from './sqlite-driver';
export { openSqlite, resolveSqliteDriver, sqliteDriverAvailable } from './sqlite-driver';
export type { StoreLocation } from './store-url';
export { parseStoreUrl } from './store-url';
