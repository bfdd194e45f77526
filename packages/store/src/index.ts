export type { AgentRecord, GatewayState, PolicyFile, PolicySet, SigningKey } from './gateway-state';
export type { OpenStoreOptions } from './open-store';
export { openSqliteForReading, openStore } from './open-store';
export { openSqliteGatewayState } from './sqlite-gateway-state';
export type { SqliteAuditStore, SqliteStoreOptions, StoreStats } from './sqlite-store';
export { openSqliteStore, SQLITE_SCHEMA_VERSION } from './sqlite-store';
export type { StoreLocation } from './store-url';
export { parseStoreUrl } from './store-url';
