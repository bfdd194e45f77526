import { loadPg } from './postgres-driver';
import { inTransaction, quoteSchema } from './postgres-schema';
import { openSqlite } from './sqlite-driver';

/** A signing key as versions before key files kept it, in the `gateway_signing_key` table. */
export interface OldSigningKeyRow {
  kid: string;
  privateJwk: Record<string, unknown>;
  publicJwk: Record<string, unknown>;
}

const OLD_TABLES = (s: string) => `
CREATE TABLE ${s}gateway_signing_key (slot INTEGER PRIMARY KEY CHECK (slot = 1), kid TEXT NOT NULL,
  private_jwk TEXT NOT NULL, public_jwk TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE ${s}gateway_agents (id TEXT PRIMARY KEY, name TEXT NOT NULL, tags TEXT NOT NULL,
  tier TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT);
CREATE TABLE ${s}gateway_revoked_tokens (jti TEXT PRIMARY KEY, expires_at TEXT NOT NULL);
CREATE TABLE ${s}gateway_policies (version INTEGER PRIMARY KEY, files TEXT NOT NULL, updated_at TEXT NOT NULL);
`;

/**
 * Makes a gateway database the way versions before key files did, the private signing key in
 * it, with one agent (`agentId`): for tests of the move out of the database.
 */
export function makeOldGatewayDatabase(path: string, key: OldSigningKeyRow, agentId: string): void {
  const db = openSqlite(path);
  try {
    db.pragma('journal_mode = WAL');
    db.exec(OLD_TABLES(''));
    const at = new Date().toISOString();
    db.prepare('INSERT INTO gateway_signing_key VALUES (1, ?, ?, ?, ?)').run(
      key.kid,
      JSON.stringify(key.privateJwk),
      JSON.stringify(key.publicJwk),
      at,
    );
    db.prepare("INSERT INTO gateway_agents VALUES (?, ?, '[]', 'basic', ?, NULL)").run(agentId, agentId, at);
  } finally {
    db.close();
  }
}

/** The same in a PostgreSQL schema (created here). */
export async function makeOldPostgresGatewaySchema(
  url: string,
  schema: string,
  key: OldSigningKeyRow,
  agentId: string,
): Promise<void> {
  const pool = new (loadPg().Pool)({ connectionString: url, max: 1 });
  try {
    const s = quoteSchema(schema);
    await inTransaction(pool, async (client) => {
      await client.query(`CREATE SCHEMA ${s}`);
      await client.query(OLD_TABLES(`${s}.`));
      const at = new Date().toISOString();
      await client.query(`INSERT INTO ${s}.gateway_signing_key VALUES (1, $1, $2, $3, $4)`, [
        key.kid,
        JSON.stringify(key.privateJwk),
        JSON.stringify(key.publicJwk),
        at,
      ]);
      await client.query(`INSERT INTO ${s}.gateway_agents VALUES ($1, $1, '[]', 'basic', $2, NULL)`, [
        agentId,
        at,
      ]);
    });
  } finally {
    await pool.end();
  }
}
