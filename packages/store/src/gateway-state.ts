import type { AgentIdentity } from '@meshguard/core';

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

/** The signing key of a gateway, as JWKs (the private one never leaves the gateway). */
export interface SigningKey {
  kid: string;
  privateJwk: Record<string, unknown>;
  publicJwk: Record<string, unknown>;
  createdAt: string;
}

/**
 * What a gateway keeps besides the audit trail: its signing key, the agents it issued tokens to,
 * revoked tokens and the policy set. Shared by every replica on one database.
 */
export interface GatewayState {
  /** The signing key; `create` makes and stores one if there is none (race-safe: one wins). */
  signingKey(create: () => Promise<SigningKey>): Promise<SigningKey>;
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
