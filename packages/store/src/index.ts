// Defined in core (every package's one contract); exported here as they always were.
export type {
  AgentRecord,
  GatewayState,
  LegacySigningKey,
  PolicyFile,
  PolicySet,
  PublicKeyRecord,
  StoreStats,
} from '@meshguard/core';
export type { OpenStoreOptions } from './open-store';
export { openSqliteForReading, openStore } from './open-store';
export { readPendingEvents } from './pending-journals';
export type { PostgresGatewayStateOptions } from './postgres-gateway-state';
export { openPostgresGatewayState } from './postgres-gateway-state';
export { POSTGRES_SCHEMA_VERSION } from './postgres-schema';
export type { PostgresAuditStore, PostgresStoreOptions } from './postgres-store';
export { openPostgresStore } from './postgres-store';
export { openSqliteGatewayState } from './sqlite-gateway-state';
export type { SqliteAuditStore, SqliteStoreOptions } from './sqlite-store';
export { openSqliteStore, SQLITE_SCHEMA_VERSION } from './sqlite-store';
export type { StoreLocation } from './store-url';
export { parseStoreUrl } from './store-url';
