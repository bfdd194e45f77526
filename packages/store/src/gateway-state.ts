import { type AgentIdentity, ConfigError } from '@meshguard/core';

/** An agent the gateway issued tokens to. */
export interface AgentRecord extends AgentIdentity {
  createdAt: string;
  /** When the agent was revoked (every token it holds stops working), if it was. */
  revokedAt?: string;
}

/** A policy file as pushed: its name (for file:line:col errors) and its text. */
export interface PolicyFile {
  name: string;
  text: string;
}

export interface PolicySet {
  /** Increases by one with every accepted push. */
  version: number;
  files: PolicyFile[];
  updatedAt: string;
}

/**
 * A token verification key as the database keeps it: public only. The private half lives in a
 * key file, `MESHGUARD_SIGNING_KEY` or a KMS, never in the database.
 */
export interface PublicKeyRecord {
  kid: string;
  publicJwk: Record<string, unknown>;
  createdAt: string;
  /** When `meshguard gateway rotate-key` (or the gateway that held it) retired the key. */
  retiredAt?: string;
  /** The expiry of the latest token signed with it (unset while it has signed none). */
  expiresAt?: string;
}

/** A private signing key that an older version kept in the database (see `takeLegacySigningKey`). */
export interface LegacySigningKey {
  kid: string;
  privateJwk: Record<string, unknown>;
  publicJwk: Record<string, unknown>;
  createdAt: string;
}

/**
 * What a gateway keeps besides the audit trail: the public keys tokens are verified with, the
 * agents it issued tokens to, revoked tokens and the policy set. Shared by every replica on one
 * database.
 */
export interface GatewayState {
  /**
   * Records a public key tokens may be signed with (idempotent by kid). With `expiresAt`, also
   * notes that a token expiring then was signed with it (the latest expiry is kept), so the key
   * is kept until that token has expired; a key dropped since is recorded again.
   */
  putPublicKey(key: Omit<PublicKeyRecord, 'retiredAt' | 'expiresAt'>, expiresAt?: string): Promise<void>;
  getPublicKey(kid: string): Promise<PublicKeyRecord | undefined>;
  /**
   * The public keys, oldest first. Retired keys whose every token has expired are dropped first:
   * nothing they signed can verify any more.
   */
  listPublicKeys(): Promise<PublicKeyRecord[]>;
  /** Marks a key retired (new tokens are signed with another); false when there is no such key. */
  retirePublicKey(kid: string, at: string): Promise<boolean>;
  /**
   * The private signing key an older version stored in the database, if there is one. Its public
   * key is recorded with `putPublicKey` here, so tokens it signed keep verifying once
   * `dropLegacySigningKey` has deleted it.
   */
  takeLegacySigningKey(): Promise<LegacySigningKey | undefined>;
  /** Deletes the private key of an older version from the database, leaving no copy in its pages. */
  dropLegacySigningKey(): Promise<void>;
  createAgent(agent: AgentIdentity): Promise<AgentRecord>;
  getAgent(id: string): Promise<AgentRecord | undefined>;
  listAgents(): Promise<AgentRecord[]>;
  /** Revokes an agent; false when there is no such agent. */
  revokeAgent(id: string): Promise<boolean>;
  revokeToken(jti: string, expiresAt: string): Promise<void>;
  isTokenRevoked(jti: string): Promise<boolean>;
  /** What a token check needs, in one read: the agent (if known) and whether the token is revoked. */
  tokenStatus(
    agentId: string,
    jti: string,
  ): Promise<{ agent: AgentRecord | undefined; tokenRevoked: boolean }>;
  /** Stores a new policy set (the caller has validated it) and returns it with its version. */
  putPolicies(files: PolicyFile[]): Promise<PolicySet>;
  getPolicies(): Promise<PolicySet | undefined>;
  /** Calls `listener` when another process changes policies or revocations (where supported). */
  onChange?(listener: (what: 'policies' | 'agents') => void): () => void;
  close(): Promise<void>;
}

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

/** Thrown by `createAgent` for an id taken already. */
export function agentExists(id: string): ConfigError {
  return new ConfigError(`an agent with id "${id}" exists already`, { code: 'agent_exists' });
}
