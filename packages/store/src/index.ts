// The public surface of @meshguard/store; what only MeshGuard's CLI and gateway use is in
// `./internal`. The interfaces these stores implement (`AuditStore`, `GatewayState`) are core's.
export type { OpenStoreOptions } from './open-store';
export { openStore } from './open-store';
export { readPendingEvents } from './pending-journals';
export type { PostgresGatewayStateOptions } from './postgres-gateway-state';
export { openPostgresGatewayState } from './postgres-gateway-state';
export { POSTGRES_SCHEMA_VERSION } from './postgres-schema';
export type { PostgresAuditStore, PostgresStoreOptions } from './postgres-store';
export { openPostgresStore } from './postgres-store';
export type { SqliteDriverName } from './sqlite-driver';
export { openSqliteGatewayState } from './sqlite-gateway-state';
export type { SqliteAuditStore, SqliteStoreOptions } from './sqlite-store';
export { openSqliteStore, SQLITE_SCHEMA_VERSION } from './sqlite-store';
