import {
  type AgentIdentity,
  type AgentRecord,
  type ApproverRecord,
  ConfigError,
  type LegacySigningKey,
  type PolicyFile,
  type PolicySet,
  type PublicKeyRecord,
} from '@meshguard/core';

// The state's interfaces live in core (one contract for every package); the states here use these.
export type { GatewayState, PolicyFile, PolicySet } from '@meshguard/core';

/** A public key as both gateway-state stores keep it (the JWK as JSON text). */
export interface PublicKeyRow {
  kid: string;
  public_jwk: string;
  created_at: string;
  retired_at: string | null;
  expires_at: string | null;
}

/** A retired key whose every token has expired (`at` an ISO time): nothing it signed verifies. */
function keySpent(row: PublicKeyRow, at: string): boolean {
  return row.retired_at !== null && (row.expires_at === null || row.expires_at < at);
}

export function publicKeyFromRow(row: PublicKeyRow): PublicKeyRecord {
  const record: PublicKeyRecord = {
    kid: row.kid,
    publicJwk: JSON.parse(row.public_jwk) as Record<string, unknown>,
    createdAt: row.created_at,
  };
  if (row.retired_at) record.retiredAt = row.retired_at;
  if (row.expires_at) record.expiresAt = row.expires_at;
  return record;
}

/** The private key of an older version as both gateway-state stores kept it (the JWKs as JSON text). */
export interface LegacySigningKeyRow {
  kid: string;
  private_jwk: string;
  public_jwk: string;
  created_at: string;
}

export function legacySigningKeyFromRow(row: LegacySigningKeyRow): LegacySigningKey {
  return {
    kid: row.kid,
    privateJwk: JSON.parse(row.private_jwk),
    publicJwk: JSON.parse(row.public_jwk),
    createdAt: row.created_at,
  };
}

/** An agent as both gateway-state stores keep it (tags as JSON text). */
export interface AgentRow {
  id: string;
  name: string;
  tags: string;
  tier: AgentIdentity['tier'];
  created_at: string;
  revoked_at: string | null;
}

export function agentFromRow(row: AgentRow): AgentRecord {
  const record: AgentRecord = {
    id: row.id,
    name: row.name,
    tags: JSON.parse(row.tags) as string[],
    tier: row.tier,
    createdAt: row.created_at,
  };
  if (row.revoked_at) record.revokedAt = row.revoked_at;
  return record;
}

/**
 * The gateway state's tables, the same in SQLite and PostgreSQL; `prefix` is the quoted schema and
 * a dot in PostgreSQL, empty in SQLite. Public keys only: the private signing key is never in the
 * database (gateway_signing_key is where older versions kept it; see takeLegacySigningKey).
 */
export function gatewayStateTables(prefix: string): string {
  return `
CREATE TABLE IF NOT EXISTS ${prefix}gateway_keys (
  kid TEXT PRIMARY KEY,
  public_jwk TEXT NOT NULL,
  created_at TEXT NOT NULL,
  retired_at TEXT,
  expires_at TEXT
);
CREATE TABLE IF NOT EXISTS ${prefix}gateway_agents (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  tags TEXT NOT NULL,
  tier TEXT NOT NULL,
  created_at TEXT NOT NULL,
  revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS ${prefix}gateway_revoked_tokens (
  jti TEXT PRIMARY KEY,
  expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ${prefix}gateway_approvers (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  tags TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  created_at TEXT NOT NULL,
  revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS ${prefix}gateway_policies (
  version INTEGER PRIMARY KEY,
  files TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
`;
}

/**
 * The keys that still verify tokens at `at` (an ISO time). Spent keys are dropped with `dropSpent`
 * only when there are any: the JWKS route is public, and a GET must not write.
 */
export async function liveKeys(
  rows: readonly PublicKeyRow[],
  at: string,
  dropSpent: (at: string) => unknown,
): Promise<PublicKeyRecord[]> {
  if (rows.some((row) => keySpent(row, at))) await dropSpent(at);
  return rows.filter((row) => !keySpent(row, at)).map(publicKeyFromRow);
}

/** The latest policy set as both gateway-state stores keep it (the files as JSON text). */
export interface PolicySetRow {
  version: number;
  files: string;
  updated_at: string;
}

export function policySetFromRow(row: PolicySetRow | undefined): PolicySet | undefined {
  return row
    ? { version: row.version, files: JSON.parse(row.files) as PolicyFile[], updatedAt: row.updated_at }
    : undefined;
}

/** An approver as both gateway-state stores keep it (tags as JSON text, the secret hashed). */
export interface ApproverRow {
  id: string;
  name: string;
  tags: string;
  secret_hash: string;
  created_at: string;
  revoked_at: string | null;
}

export function approverFromRow(row: ApproverRow): ApproverRecord {
  const record: ApproverRecord = {
    id: row.id,
    name: row.name,
    tags: JSON.parse(row.tags) as string[],
    createdAt: row.created_at,
  };
  if (row.revoked_at) record.revokedAt = row.revoked_at;
  return record;
}

/** Thrown by `createApprover` for an id taken already. */
export function approverExists(id: string): ConfigError {
  return new ConfigError(`an approver with id "${id}" exists already`, { code: 'approver_exists' });
}

/** Thrown by `createAgent` for an id taken already. */
export function agentExists(id: string): ConfigError {
  return new ConfigError(`an agent with id "${id}" exists already`, { code: 'agent_exists' });
}
