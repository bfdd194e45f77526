import { ConfigError, type NotifyingGatewayState } from '@meshguard/core';
import { isoTime } from '@meshguard/core/internal';
import createDebug from 'debug';
import type pg from 'pg';
import {
  type AgentRow,
  type ApproverRow,
  agentExists,
  agentFromRow,
  approverExists,
  approverFromRow,
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
import { loadPg } from './postgres-driver';
import { listenPostgres } from './postgres-listen';
import { inTransaction, quoteSchema } from './postgres-schema';
import { readUrl } from './postgres-url';

const debug = createDebug('meshguard:store');

export interface PostgresGatewayStateOptions {
  /** The schema the tables live in (default `meshguard`, the audit store's). */
  schema?: string;
}

function ddl(s: string): string {
  return `CREATE SCHEMA IF NOT EXISTS ${s};${gatewayStateTables(`${s}.`)}`;
}

const CHANGES = ['policies', 'agents'] as const;

/**
 * The gateway's state in PostgreSQL, shared by every replica: a policy push or a revocation is
 * announced with NOTIFY, so the other replicas reload at once (they also poll as a backstop), and
 * every token check reads the agent and the token's revocation from the database.
 */
export async function openPostgresGatewayState(
  url: string,
  options: PostgresGatewayStateOptions = {},
): Promise<NotifyingGatewayState> {
  const target = readUrl(url);
  const schemaName = options.schema ?? target.schema ?? 'meshguard';
  const s = quoteSchema(schemaName);
  const channel = `meshguard_${schemaName}`.slice(0, 63);
  const pool = new (loadPg().Pool)({ connectionString: target.connectionString, max: 8 });
  pool.on('error', (error) => debug('idle PostgreSQL client failed: %O', error));
  try {
    await inTransaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`meshguard-gateway:${schemaName}`]);
      await client.query(ddl(s));
    });
  } catch (error) {
    await pool.end().catch(() => {});
    throw new ConfigError(`cannot open the gateway state in ${target.where} (${(error as Error).message})`, {
      code: 'store_unreadable',
      cause: error,
    });
  }
  const listeners = new Set<(what: 'policies' | 'agents') => void>();
  let listener: { close(): Promise<void> } | undefined;
  const notify = (what: 'policies' | 'agents') => pool.query('SELECT pg_notify($1, $2)', [channel, what]);
  const now = () => isoTime(Date.now());

  const state: NotifyingGatewayState = {
    async putPublicKey(key, expiresAt) {
      await pool.query(
        `INSERT INTO ${s}.gateway_keys (kid, public_jwk, created_at, expires_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (kid) DO UPDATE SET expires_at = CASE
           WHEN excluded.expires_at IS NULL THEN gateway_keys.expires_at
           WHEN gateway_keys.expires_at IS NULL OR excluded.expires_at > gateway_keys.expires_at THEN excluded.expires_at
           ELSE gateway_keys.expires_at END`,
        [key.kid, JSON.stringify(key.publicJwk), key.createdAt, expiresAt ?? null],
      );
    },
    async getPublicKey(kid) {
      const res = await pool.query(`SELECT * FROM ${s}.gateway_keys WHERE kid = $1`, [kid]);
      return res.rows[0] ? publicKeyFromRow(res.rows[0] as PublicKeyRow) : undefined;
    },
    async listPublicKeys() {
      const rows = (await pool.query(`SELECT * FROM ${s}.gateway_keys ORDER BY created_at, kid`))
        .rows as PublicKeyRow[];
      return liveKeys(rows, now(), (at) =>
        pool.query(
          `DELETE FROM ${s}.gateway_keys WHERE retired_at IS NOT NULL AND (expires_at IS NULL OR expires_at < $1)`,
          [at],
        ),
      );
    },
    async retirePublicKey(kid, at) {
      const res = await pool.query(
        `UPDATE ${s}.gateway_keys SET retired_at = coalesce(retired_at, $1) WHERE kid = $2`,
        [at, kid],
      );
      return (res.rowCount ?? 0) > 0;
    },
    async takeLegacySigningKey() {
      const legacy = await pool.query('SELECT to_regclass($1) AS t', [`${s}.gateway_signing_key`]);
      if (!(legacy.rows[0] as { t: string | null }).t) return undefined;
      let res: pg.QueryResult;
      try {
        res = await pool.query(
          `SELECT kid, private_jwk, public_jwk, created_at FROM ${s}.gateway_signing_key`,
        );
      } catch (error) {
        // Another replica moved it out meanwhile.
        if ((error as { code?: string }).code === '42P01') return undefined;
        throw error;
      }
      const row = res.rows[0] as LegacySigningKeyRow | undefined;
      if (!row) return undefined;
      const key = legacySigningKeyFromRow(row);
      await state.putPublicKey({ kid: key.kid, publicJwk: key.publicJwk, createdAt: key.createdAt });
      return key;
    },
    async dropLegacySigningKey() {
      // DROP TABLE removes the table's files at commit: no dead row is left for VACUUM to find.
      await pool.query(`DROP TABLE IF EXISTS ${s}.gateway_signing_key`);
    },
    async createAgent(agent) {
      const createdAt = now();
      const res = await pool.query(
        `INSERT INTO ${s}.gateway_agents (id, name, tags, tier, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
        [agent.id, agent.name, JSON.stringify(agent.tags), agent.tier, createdAt],
      );
      if (res.rowCount === 0) throw agentExists(agent.id);
      return { ...agent, createdAt };
    },
    async getAgent(id) {
      const res = await pool.query(`SELECT * FROM ${s}.gateway_agents WHERE id = $1`, [id]);
      return res.rows[0] ? agentFromRow(res.rows[0] as AgentRow) : undefined;
    },
    async listAgents() {
      const res = await pool.query(`SELECT * FROM ${s}.gateway_agents ORDER BY created_at, id`);
      return (res.rows as AgentRow[]).map(agentFromRow);
    },
    async revokeAgent(id) {
      const exists = await pool.query(`SELECT 1 FROM ${s}.gateway_agents WHERE id = $1`, [id]);
      if (exists.rowCount === 0) return false;
      await pool.query(
        `UPDATE ${s}.gateway_agents SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`,
        [now(), id],
      );
      await notify('agents');
      return true;
    },
    async createApprover(approver, secretHash) {
      const createdAt = now();
      const res = await pool.query(
        `INSERT INTO ${s}.gateway_approvers (id, name, tags, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
        [approver.id, approver.name, JSON.stringify(approver.tags), secretHash, createdAt],
      );
      if (res.rowCount === 0) throw approverExists(approver.id);
      return { ...approver, createdAt };
    },
    async approverCredentials(id) {
      const res = await pool.query(`SELECT * FROM ${s}.gateway_approvers WHERE id = $1`, [id]);
      const row = res.rows[0] as ApproverRow | undefined;
      return row ? { approver: approverFromRow(row), secretHash: row.secret_hash } : undefined;
    },
    async listApprovers() {
      const res = await pool.query(`SELECT * FROM ${s}.gateway_approvers ORDER BY created_at, id`);
      return (res.rows as ApproverRow[]).map(approverFromRow);
    },
    async revokeApprover(id) {
      const res = await pool.query(
        `UPDATE ${s}.gateway_approvers SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2`,
        [now(), id],
      );
      if (res.rowCount === 0) return false;
      await notify('agents');
      return true;
    },
    async revokeToken(jti, expiresAt) {
      await pool.query(
        `INSERT INTO ${s}.gateway_revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
        [jti, expiresAt],
      );
      await pool.query(`DELETE FROM ${s}.gateway_revoked_tokens WHERE expires_at < $1`, [now()]);
      await notify('agents');
    },
    async isTokenRevoked(jti) {
      return (
        ((await pool.query(`SELECT 1 FROM ${s}.gateway_revoked_tokens WHERE jti = $1`, [jti])).rowCount ??
          0) > 0
      );
    },
    async tokenStatus(agentId, jti) {
      const res = await pool.query(
        `SELECT a.*, EXISTS (SELECT 1 FROM ${s}.gateway_revoked_tokens WHERE jti = $1) AS token_revoked
           FROM (SELECT 1) one LEFT JOIN ${s}.gateway_agents a ON a.id = $2`,
        [jti, agentId],
      );
      const row = res.rows[0] as (AgentRow & { token_revoked: boolean }) | undefined;
      return {
        agent: row?.id ? agentFromRow(row) : undefined,
        tokenRevoked: row?.token_revoked === true,
      };
    },
    async putPolicies(files: PolicyFile[]): Promise<PolicySet> {
      return inTransaction(pool, async (client) => {
        // Two replicas pushing at once get consecutive versions.
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
          `meshguard-policies:${schemaName}`,
        ]);
        const latest = await client.query(`SELECT max(version) AS version FROM ${s}.gateway_policies`);
        const version = Number((latest.rows[0] as { version: number | null }).version ?? 0) + 1;
        const updatedAt = now();
        await client.query(
          `INSERT INTO ${s}.gateway_policies (version, files, updated_at) VALUES ($1, $2, $3)`,
          [version, JSON.stringify(files), updatedAt],
        );
        await client.query('SELECT pg_notify($1, $2)', [channel, 'policies']);
        return { version, files, updatedAt };
      });
    },
    async getPolicies() {
      const res = await pool.query(
        `SELECT version, files, updated_at FROM ${s}.gateway_policies ORDER BY version DESC LIMIT 1`,
      );
      return policySetFromRow(res.rows[0] as PolicySetRow | undefined);
    },
    onChange(fn) {
      listeners.add(fn);
      // When its connection was lost, the listeners are told to reload at once: notifications
      // sent meanwhile were missed.
      listener ??= listenPostgres({
        connectionString: target.connectionString,
        channel,
        onNotify: (payload) => {
          const what = payload === 'policies' ? 'policies' : 'agents';
          for (const l of listeners) l(what);
        },
        onRecovered: () => {
          for (const l of listeners) for (const what of CHANGES) l(what);
        },
      });
      return () => listeners.delete(fn);
    },
    async close() {
      listeners.clear();
      await listener?.close();
      await pool.end();
    },
  };

  return state;
}
