import { randomBytes } from 'node:crypto';
import { ConfigError } from '@meshguard/core';
import createDebug from 'debug';
import type { Pool, PoolClient } from 'pg';

const debug = createDebug('meshguard:store');

/** Bumped when the schema changes; a schema written by a newer version is refused rather than misread. */
export const POSTGRES_SCHEMA_VERSION = 2;

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Runs `fn` in a transaction on one pooled client: committed if it returns, rolled back if it throws. */
export async function inTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/** Checks a schema name and returns it quoted for SQL (names are never taken from events). */
export function quoteSchema(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new ConfigError(
      `"${schema}" is not a usable PostgreSQL schema name: use letters, digits and _ (at most 63)`,
      { code: 'store_url_invalid' },
    );
  }
  return `"${schema}"`;
}

// The body column holds the event's canonical JSON exactly as hashed; it is text, not jsonb,
// because jsonb would reorder keys and refuses \u0000. The columns queries filter on are written
// from the same event by the store (NUL replaced, PostgreSQL text cannot hold it), and a trigger
// refuses every UPDATE, so no column can be made to disagree with what the chain covers.
// `tx` is the writing transaction's id: `after()` follows the trail by (tx, pos), which, unlike
// pos alone, never skips an event that several writers committed out of pos order.
// Indexes: the event id (idempotency), (stream, seq) (a chain can never fork, even if the locking
// were bypassed), agent and trace id with pos (ordered pages), and a BRIN on tx (nearly free).
function ddl(s: string): string {
  return `
CREATE TABLE ${s}.meshguard_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE ${s}.audit_streams (
  stream text COLLATE "C" PRIMARY KEY,
  seq integer NOT NULL,
  hash text NOT NULL
);
CREATE TABLE ${s}.audit_events (
  pos bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tx bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
  stream text COLLATE "C" NOT NULL,
  seq integer NOT NULL,
  body text NOT NULL,
  hash text NOT NULL,
  id text COLLATE "C" NOT NULL,
  ts text COLLATE "C" NOT NULL,
  type text COLLATE "C" NOT NULL,
  trace_id text COLLATE "C" NOT NULL,
  decision_id text COLLATE "C" NOT NULL,
  agent_id text COLLATE "C" NOT NULL,
  agent_name text COLLATE "C" NOT NULL,
  framework text COLLATE "C" NOT NULL,
  kind text COLLATE "C" NOT NULL,
  action text COLLATE "C" NOT NULL,
  effect text COLLATE "C" NOT NULL,
  mode text COLLATE "C" NOT NULL
);
CREATE UNIQUE INDEX audit_events_id ON ${s}.audit_events (id);
CREATE UNIQUE INDEX audit_events_stream_seq ON ${s}.audit_events (stream, seq);
CREATE INDEX audit_events_agent ON ${s}.audit_events (agent_id, pos);
CREATE INDEX audit_events_trace ON ${s}.audit_events (trace_id, pos);
CREATE INDEX audit_events_tx ON ${s}.audit_events USING brin (tx) WITH (autosummarize = on);
CREATE TABLE ${s}.audit_agents (
  name text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  PRIMARY KEY (name, id)
);
CREATE FUNCTION ${s}.meshguard_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'MeshGuard audit events are append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON ${s}.audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION ${s}.meshguard_refuse_update();
REVOKE ALL ON ${s}.meshguard_meta, ${s}.audit_streams, ${s}.audit_events, ${s}.audit_agents FROM PUBLIC;
${writerOnlyDdl(s)}${approvalsDdl(s)}`;
}

// Schema 2: the approval requests (see approval-table.ts), beside the trail and never in its chain.
// `seq` numbers them as created (a listing is newest first); the times are ISO text in UTC,
// `toISOString()`'s form, compared as text under the "C" collation (byte order, which is time
// order), like the events' ts, rather than timestamptz, which would come back as a Date in
// another form. Looked up by id, swept by (status, expires_at), listed by agent or trace.
function approvalsDdl(s: string): string {
  return `
CREATE TABLE ${s}.approval_requests (
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id text COLLATE "C" PRIMARY KEY,
  status text COLLATE "C" NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'cancelled')),
  requested_at text COLLATE "C" NOT NULL,
  expires_at text COLLATE "C" NOT NULL,
  agent_id text COLLATE "C" NOT NULL,
  trace_id text COLLATE "C" NOT NULL,
  answered_at text COLLATE "C",
  used_at text COLLATE "C",
  arguments_hash text COLLATE "C" NOT NULL,
  arguments_purged_at text COLLATE "C",
  request text NOT NULL,
  answer text,
  arguments text NOT NULL
);
CREATE INDEX approval_requests_expiry ON ${s}.approval_requests (status, expires_at);
CREATE INDEX approval_requests_agent ON ${s}.approval_requests (agent_id, seq);
CREATE INDEX approval_requests_trace ON ${s}.approval_requests (trace_id, seq);
REVOKE ALL ON ${s}.approval_requests FROM PUBLIC;
`;
}

/**
 * Brings a schema of an older version up to this one, under the schema's advisory lock (another
 * process may be doing the same), a step per version: 1 -> 2 adds the approval requests' table.
 * Only a role that may create tables in the schema can: any other is told to open it once as one.
 */
async function migrate(pool: Pool, schema: string, where: string): Promise<void> {
  const s = quoteSchema(schema);
  try {
    await inTransaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `meshguard:schema:${schema}`,
      ]);
      const row = (
        await client.query<{ value: string }>(
          `SELECT value FROM ${s}.meshguard_meta WHERE key = 'schema_version'`,
        )
      ).rows[0];
      const version = Number(row?.value);
      if (!(version >= 1 && version < POSTGRES_SCHEMA_VERSION)) return;
      if (version < 2) await client.query(approvalsDdl(s));
      await client.query(`UPDATE ${s}.meshguard_meta SET value = $1 WHERE key = 'schema_version'`, [
        String(POSTGRES_SCHEMA_VERSION),
      ]);
      debug('migrated %s from schema %d to %d', where, version, POSTGRES_SCHEMA_VERSION);
    });
  } catch (error) {
    throw new ConfigError(
      `cannot upgrade ${where} to schema ${POSTGRES_SCHEMA_VERSION} (${(error as Error).message}): open it once as the role that owns it`,
      { code: 'store_upgrade_failed', cause: error },
    );
  }
}

// Only the writer's role (the one that created the tables, or a role it is granted to) may insert
// or delete events: a role that was granted more than SELECT by mistake still cannot delete an
// event and insert it again at its old position with other columns. A statement trigger costs
// once per batch, not per row. The owner and superusers can disable triggers: out of reach here,
// which is what verify's check of the columns against the hashed body is for.
function writerOnlyDdl(s: string): string {
  return `${writerOnlyFunctionDdl(s)}
CREATE TRIGGER audit_events_writer_only BEFORE INSERT OR DELETE OR TRUNCATE ON ${s}.audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION ${s}.meshguard_writer_only();
`;
}

// The function runs as the role that fires it: with its search_path pinned (and the calls
// qualified), a role cannot put a schema of its own first and shadow pg_has_role (or an
// operator) with one that says yes.
function writerOnlyFunctionDdl(s: string): string {
  return `
CREATE OR REPLACE FUNCTION ${s}.meshguard_writer_only() RETURNS trigger LANGUAGE plpgsql
  SET search_path = pg_catalog AS $$
BEGIN
  IF NOT pg_catalog.pg_has_role(current_user, (SELECT relowner FROM pg_catalog.pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
    RAISE EXCEPTION 'only the MeshGuard writer role may % MeshGuard audit events (% may not)', TG_OP, current_user
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END $$;`;
}

/** Adds the writer-only trigger to a schema created before it existed (when this role may). */
async function addWriterOnlyTrigger(pool: Pool, schema: string): Promise<void> {
  const s = quoteSchema(schema);
  const has = async (client: Pool | PoolClient) =>
    (
      await client.query(
        `SELECT 1 FROM pg_catalog.pg_trigger WHERE tgname = 'audit_events_writer_only' AND tgrelid = $1::regclass`,
        [`${s}.audit_events`],
      )
    ).rowCount! > 0;
  // A function made before its search_path was pinned is replaced (see writerOnlyFunctionDdl).
  const pinned = async (client: Pool | PoolClient) =>
    (
      await client.query(
        `SELECT 1 FROM pg_catalog.pg_proc WHERE oid = $1::regprocedure AND proconfig IS NOT NULL`,
        [`${s}.meshguard_writer_only()`],
      )
    ).rowCount! > 0;
  if ((await has(pool)) && (await pinned(pool))) return;
  try {
    await inTransaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `meshguard:schema:${schema}`,
      ]);
      if (!(await has(client))) await client.query(writerOnlyDdl(s));
      else if (!(await pinned(client))) await client.query(writerOnlyFunctionDdl(s));
    });
  } catch (error) {
    debug('could not add the writer-only trigger to schema %s (not its owner?): %O', schema, error);
  }
}

const OUR_TABLES = ['meshguard_meta', 'audit_streams', 'audit_events', 'audit_agents', 'approval_requests'];

/**
 * Creates the schema on first use and returns the redaction salt. Safe when several processes
 * start at once: creation runs under a transaction-level advisory lock keyed by the schema name,
 * and the salt is inserted with ON CONFLICT DO NOTHING and read back, so one value wins.
 */
export async function preparePostgresSchema(
  pool: Pool,
  schema: string,
  options: { readonly: boolean; where: string },
): Promise<string> {
  const s = quoteSchema(schema);
  const where = `schema "${schema}" of ${options.where}`;
  const notOurs = (why: string) =>
    new ConfigError(`${where} is not a MeshGuard audit store (${why})`, { code: 'store_not_meshguard' });
  const tables = async (client: Pool | PoolClient) =>
    (
      await client.query<{ name: string }>(
        'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 AND table_name = ANY($2)',
        [schema, OUR_TABLES],
      )
    ).rows.map((r) => r.name);

  if (!(await tables(pool)).includes('meshguard_meta')) {
    if (options.readonly) throw notOurs('it has no meshguard_meta table');
    await inTransaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `meshguard:schema:${schema}`,
      ]);
      // Checked again under the lock: another process may have created it meanwhile.
      const found = await tables(client);
      if (!found.includes('meshguard_meta')) {
        if (found.length > 0) throw notOurs(`it has ${found.join(', ')} but no meshguard_meta table`);
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
        await client.query(ddl(s));
        await client.query(
          `INSERT INTO ${s}.meshguard_meta (key, value) VALUES ('format', 'meshguard-audit'), ('schema_version', $1), ('created_at', $2)`,
          [String(POSTGRES_SCHEMA_VERSION), new Date().toISOString()],
        );
      }
    });
  }

  const readMeta = async () =>
    new Map(
      (
        await pool.query<{ key: string; value: string }>(`SELECT key, value FROM ${s}.meshguard_meta`)
      ).rows.map((r) => [r.key, r.value]),
    );
  let meta = await readMeta();
  if (meta.get('format') !== 'meshguard-audit') throw notOurs('its meshguard_meta names another format');
  const version = Number(meta.get('schema_version'));
  if (!(version <= POSTGRES_SCHEMA_VERSION)) {
    throw new ConfigError(
      `${where} was written by a newer MeshGuard (schema ${meta.get('schema_version')}; this one reads up to ${POSTGRES_SCHEMA_VERSION}): upgrade @meshguard/store`,
      { code: 'store_too_new' },
    );
  }
  if (version < POSTGRES_SCHEMA_VERSION && !options.readonly) await migrate(pool, schema, where);
  if (!meta.get('redaction_salt') && !options.readonly) {
    // One salt per store, whoever gets there first: the losers read the winner's.
    await pool.query(
      `INSERT INTO ${s}.meshguard_meta (key, value) VALUES ('redaction_salt', $1) ON CONFLICT (key) DO NOTHING`,
      [randomBytes(32).toString('hex')],
    );
    meta = await readMeta();
  }
  if (!options.readonly) await addWriterOnlyTrigger(pool, schema);
  const salt = meta.get('redaction_salt');
  if (salt) return salt;
  // A reader never redacts; a writer cannot record without the salt.
  if (options.readonly) return '';
  throw new ConfigError(`${where} has no redaction salt`, { code: 'store_damaged' });
}
