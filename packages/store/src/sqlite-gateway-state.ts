import { ConfigError } from '@meshguard/core';
import { isoTime } from '@meshguard/core/internal';
import {
  type AgentRow,
  type ApproverRow,
  agentExists,
  agentFromRow,
  approverExists,
  approverFromRow,
  type GatewayState,
  gatewayStateTables,
  type LegacySigningKeyRow,
  legacySigningKeyFromRow,
  liveKeys,
  type PolicyFile,
  type PolicySet,
  type PolicySetRow,
  type PublicKeyRow,
  policySetFromRow,
  publicKeyFromRow,
} from './gateway-state';
import type { SqliteDatabase } from './sqlite-driver';
import { openPrivateSqlite } from './sqlite-open';

/**
 * The gateway's state in a SQLite file (by default the same file as the audit trail): WAL, so
 * several processes on one machine share it; every read goes to the database, so a revocation
 * holds on the next request in every process.
 */
export function openSqliteGatewayState(path: string): GatewayState {
  let db: SqliteDatabase;
  try {
    db = openPrivateSqlite(path);
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(gatewayStateTables(''));
  } catch (error) {
    throw new ConfigError(`cannot open the gateway state in ${path}: ${(error as Error).message}`, {
      code: 'store_unreadable',
      cause: error,
    });
  }
  const now = () => isoTime(Date.now());
  const putKey = db.prepare(
    `INSERT INTO gateway_keys (kid, public_jwk, created_at, expires_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (kid) DO UPDATE SET expires_at = CASE
       WHEN excluded.expires_at IS NULL THEN expires_at
       WHEN expires_at IS NULL OR excluded.expires_at > expires_at THEN excluded.expires_at
       ELSE expires_at END`,
  );
  const getKey = db.prepare('SELECT * FROM gateway_keys WHERE kid = ?');
  const listKeys = db.prepare('SELECT * FROM gateway_keys ORDER BY created_at, kid');
  const dropSpentKeys = db.prepare(
    'DELETE FROM gateway_keys WHERE retired_at IS NOT NULL AND (expires_at IS NULL OR expires_at < ?)',
  );
  const retireKey = db.prepare('UPDATE gateway_keys SET retired_at = coalesce(retired_at, ?) WHERE kid = ?');
  const hasLegacyKey = () =>
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gateway_signing_key'").get() !==
    undefined;
  const insertAgent = db.prepare(
    'INSERT INTO gateway_agents (id, name, tags, tier, created_at) VALUES (?, ?, ?, ?, ?)',
  );
  const getAgent = db.prepare('SELECT * FROM gateway_agents WHERE id = ?');
  const listAgents = db.prepare('SELECT * FROM gateway_agents ORDER BY created_at, id');
  const revokeAgent = db.prepare(
    'UPDATE gateway_agents SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
  );
  const insertApprover = db.prepare(
    'INSERT INTO gateway_approvers (id, name, tags, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)',
  );
  const getApprover = db.prepare('SELECT * FROM gateway_approvers WHERE id = ?');
  const listApprovers = db.prepare('SELECT * FROM gateway_approvers ORDER BY created_at, id');
  const revokeApprover = db.prepare(
    'UPDATE gateway_approvers SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
  );
  const revokeToken = db.prepare(
    'INSERT OR IGNORE INTO gateway_revoked_tokens (jti, expires_at) VALUES (?, ?)',
  );
  const tokenRevoked = db.prepare('SELECT 1 FROM gateway_revoked_tokens WHERE jti = ?');
  const tokenStatus = db.prepare(
    'SELECT a.*, EXISTS (SELECT 1 FROM gateway_revoked_tokens WHERE jti = ?) AS token_revoked FROM gateway_agents a WHERE a.id = ?',
  );
  const dropExpired = db.prepare('DELETE FROM gateway_revoked_tokens WHERE expires_at < ?');
  const latestPolicies = db.prepare(
    'SELECT version, files, updated_at FROM gateway_policies ORDER BY version DESC LIMIT 1',
  );
  const insertPolicies = db.prepare(
    'INSERT INTO gateway_policies (version, files, updated_at) VALUES (?, ?, ?)',
  );
  const pushPolicies = db.transaction((files: PolicyFile[], at: string): PolicySet => {
    const latest = latestPolicies.get() as { version: number } | undefined;
    const version = (latest?.version ?? 0) + 1;
    insertPolicies.run(version, JSON.stringify(files), at);
    return { version, files, updatedAt: at };
  });
  // `BEGIN IMMEDIATE` so that two processes pushing at once get consecutive versions.
  const pushImmediate = pushPolicies.immediate;

  return {
    async putPublicKey(key, expiresAt) {
      putKey.run(key.kid, JSON.stringify(key.publicJwk), key.createdAt, expiresAt ?? null);
    },
    async getPublicKey(kid) {
      const row = getKey.get(kid) as PublicKeyRow | undefined;
      return row ? publicKeyFromRow(row) : undefined;
    },
    async listPublicKeys() {
      return liveKeys(listKeys.all() as PublicKeyRow[], now(), (at) => dropSpentKeys.run(at));
    },
    async retirePublicKey(kid, at) {
      return retireKey.run(at, kid).changes > 0;
    },
    async takeLegacySigningKey() {
      if (!hasLegacyKey()) return undefined;
      const row = db
        .prepare('SELECT kid, private_jwk, public_jwk, created_at FROM gateway_signing_key')
        .get() as LegacySigningKeyRow | undefined;
      if (!row) return undefined;
      const key = legacySigningKeyFromRow(row);
      putKey.run(key.kid, row.public_jwk, key.createdAt, null);
      return key;
    },
    async dropLegacySigningKey() {
      if (!hasLegacyKey()) return;
      // secure_delete zeroes the freed pages, and the checkpoint copies them over the old ones in
      // the file and empties the WAL: no copy of the private key is left for anyone to read.
      const secure = db.pragma('secure_delete', { simple: true });
      db.pragma('secure_delete = ON');
      try {
        db.exec('DELETE FROM gateway_signing_key; DROP TABLE gateway_signing_key;');
      } finally {
        db.pragma(`secure_delete = ${secure ? 'ON' : 'OFF'}`);
      }
      if (path !== ':memory:') db.pragma('wal_checkpoint(TRUNCATE)');
    },
    async createAgent(agent) {
      const createdAt = now();
      try {
        insertAgent.run(agent.id, agent.name, JSON.stringify(agent.tags), agent.tier, createdAt);
      } catch (error) {
        if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
          throw agentExists(agent.id);
        }
        throw error;
      }
      return { ...agent, createdAt };
    },
    async getAgent(id) {
      const row = getAgent.get(id) as AgentRow | undefined;
      return row ? agentFromRow(row) : undefined;
    },
    async listAgents() {
      return (listAgents.all() as AgentRow[]).map(agentFromRow);
    },
    async revokeAgent(id) {
      if (!getAgent.get(id)) return false;
      revokeAgent.run(now(), id);
      return true;
    },
    async createApprover(approver, secretHash) {
      const createdAt = now();
      try {
        insertApprover.run(approver.id, approver.name, JSON.stringify(approver.tags), secretHash, createdAt);
      } catch (error) {
        if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY')
          throw approverExists(approver.id);
        throw error;
      }
      return { ...approver, createdAt };
    },
    async approverCredentials(id) {
      const row = getApprover.get(id) as ApproverRow | undefined;
      return row ? { approver: approverFromRow(row), secretHash: row.secret_hash } : undefined;
    },
    async listApprovers() {
      return (listApprovers.all() as ApproverRow[]).map(approverFromRow);
    },
    async revokeApprover(id) {
      if (!getApprover.get(id)) return false;
      revokeApprover.run(now(), id);
      return true;
    },
    async revokeToken(jti, expiresAt) {
      revokeToken.run(jti, expiresAt);
      dropExpired.run(now());
    },
    async isTokenRevoked(jti) {
      return tokenRevoked.get(jti) !== undefined;
    },
    async tokenStatus(agentId, jti) {
      const row = tokenStatus.get(jti, agentId) as (AgentRow & { token_revoked: number }) | undefined;
      if (row) return { agent: agentFromRow(row), tokenRevoked: row.token_revoked === 1 };
      return { agent: undefined, tokenRevoked: tokenRevoked.get(jti) !== undefined };
    },
    async putPolicies(files) {
      return pushImmediate(files, now());
    },
    async getPolicies() {
      return policySetFromRow(latestPolicies.get() as PolicySetRow | undefined);
    },
    async close() {
      if (db.open) db.close();
    },
  };
}
