import type { AgentIdentity } from '../protocol/agent-identity';

/** An agent the gateway issued tokens to. */
export interface AgentRecord extends AgentIdentity {
  createdAt: string;
  /** When the agent was revoked (every token it holds stops working), if it was. */
  revokedAt?: string;
}

/**
 * A person the gateway issued an approver token to: answers approval requests (those whose rule
 * names one of its tags, or names none) and reads the trail; nothing else.
 */
export interface ApproverRecord {
  id: string;
  name: string;
  tags: string[];
  createdAt: string;
  /** When the approver was revoked (its token stops working), if it was. */
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
 * database. The SQLite and PostgreSQL states of `@meshguard/store` implement it; a state that can
 * tell of changes made by other processes is a `NotifyingGatewayState` as well.
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
  /**
   * Records an approver and the hash of its token's secret (the secret itself is never stored);
   * an id taken already is a `ConfigError` (`approver_exists`).
   */
  createApprover(
    approver: Omit<ApproverRecord, 'createdAt' | 'revokedAt'>,
    secretHash: string,
  ): Promise<ApproverRecord>;
  /** An approver and its secret's hash, to check a token against. */
  approverCredentials(id: string): Promise<{ approver: ApproverRecord; secretHash: string } | undefined>;
  listApprovers(): Promise<ApproverRecord[]>;
  /** Revokes an approver; false when there is no such approver. */
  revokeApprover(id: string): Promise<boolean>;
  /** Stores a new policy set (the caller has validated it) and returns it with its version. */
  putPolicies(files: PolicyFile[]): Promise<PolicySet>;
  getPolicies(): Promise<PolicySet | undefined>;
  close(): Promise<void>;
}

/** What changed in a gateway's state: the policy set, or agents and revocations. */
export type GatewayStateChange = 'policies' | 'agents';

/**
 * A gateway state that tells when another process changes it (PostgreSQL: LISTEN/NOTIFY), so
 * replicas pick up a policy push or a revocation at once rather than at their next poll.
 */
export interface NotifyingGatewayState extends GatewayState {
  /** Calls `listener` when another process changes policies or revocations; returns the unsubscribe. */
  onChange(listener: (what: GatewayStateChange) => void): () => void;
}

/** Whether `state` tells of changes (see `NotifyingGatewayState`). */
export function canNotifyChanges(state: GatewayState): state is NotifyingGatewayState {
  return typeof (state as Partial<NotifyingGatewayState>).onChange === 'function';
}
