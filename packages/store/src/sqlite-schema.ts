import { randomBytes } from 'node:crypto';
import { ConfigError } from '@meshguard/core';
import createDebug from 'debug';
import type { SqliteDatabase } from './sqlite-driver';
import { assertTrailTables } from './trail-missing';

const debug = createDebug('meshguard:store');

/** Bumped when the schema changes; a newer file is refused rather than misread. */
export const SQLITE_SCHEMA_VERSION = 3;

/**
 * The agent index is by (bucket, agent id), a bucket being 4,096 consecutive positions, not by
 * agent id alone. Appends then land in the last bucket's few index pages, where an index by agent
 * id alone sends every event to its own agent's place: with many agents active, one index page per
 * event, each written to the WAL again at every commit. With 1,000 agents that index took half of
 * SQLite's time per append (7 of 16 us at 200,000 events, 14 of 24 us at 1,000,000); by bucket it
 * takes about 2 us at any size. A query by agent looks the agent up in each bucket, newest first:
 * a few microseconds per bucket, under a millisecond for 1,000,000 events.
 */
export const BUCKET_BITS = 12;
const AGENT_INDEX = 'CREATE INDEX IF NOT EXISTS audit_events_agent ON audit_events (bucket, agent_id);';

// Schema 3: the approval requests (see approval-table.ts), beside the trail and never in its chain.
// `seq` is the table's own key, so a listing (newest first) walks the table itself; an INTEGER
// PRIMARY KEY, unlike an implicit rowid, keeps its values through VACUUM. The requests are
// looked up by id, swept by (status, expires_at) when they expire, and listed by agent or trace.
const APPROVALS = `
CREATE TABLE IF NOT EXISTS approval_requests (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'cancelled')),
  requested_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  trace_id TEXT NOT NULL,
  answered_at TEXT,
  used_at TEXT,
  arguments_hash TEXT NOT NULL,
  arguments_purged_at TEXT,
  request TEXT NOT NULL,
  answer TEXT,
  arguments TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS approval_requests_expiry ON approval_requests (status, expires_at);
CREATE INDEX IF NOT EXISTS approval_requests_agent ON approval_requests (agent_id, seq);
CREATE INDEX IF NOT EXISTS approval_requests_trace ON approval_requests (trace_id, seq);
`;

// The hashed body is the one source of truth: every value a query filters on is computed from it,
// so no UPDATE can make a filter disagree with what the chain covers (SQLite refuses writes to
// generated columns). The indexed values are VIRTUAL generated columns (they cost nothing in the
// table; their indexes hold the values), and so are seq and effect, which plain SQL looks events
// up by; the queries read the others from the body themselves (see sqlite-query.ts). SQLite
// computes every generated column of a row on each insert, indexed or not, each a JSON lookup:
// schema 1's seven other columns cost about 2 us per event.
const DDL = `
CREATE TABLE IF NOT EXISTS meshguard_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS audit_streams (
  stream TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS audit_events (
  pos INTEGER PRIMARY KEY,
  stream TEXT NOT NULL,
  body TEXT NOT NULL,
  hash TEXT NOT NULL,
  id TEXT GENERATED ALWAYS AS (body ->> '$.id') VIRTUAL,
  seq INTEGER GENERATED ALWAYS AS (body ->> '$.seq') VIRTUAL,
  trace_id TEXT GENERATED ALWAYS AS (body ->> '$.traceId') VIRTUAL,
  agent_id TEXT GENERATED ALWAYS AS (body ->> '$.agent.id') VIRTUAL,
  effect TEXT GENERATED ALWAYS AS (body ->> '$.effect') VIRTUAL,
  bucket INTEGER GENERATED ALWAYS AS (pos >> ${BUCKET_BITS}) VIRTUAL
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS audit_events_id ON audit_events (id);
${AGENT_INDEX}
CREATE INDEX IF NOT EXISTS audit_events_trace ON audit_events (trace_id);
CREATE TABLE IF NOT EXISTS audit_agents (name TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (name, id)) WITHOUT ROWID, STRICT;
${APPROVALS}`;
// Each index costs as much to maintain as the row itself, so there are three: the event id
// (idempotency), the agent and the trace id (the queries that must answer in milliseconds).
// Events are listed in the order they were recorded (pos, the table's own key), which needs no
// index; agent names resolve to ids through the small audit_agents table.

const PAGE_SIZE = 8192;

/** Schema 1's generated columns that schema 2 reads from the body instead. */
const SCHEMA_1_COLUMNS = ['ts', 'type', 'decision_id', 'agent_name', 'framework', 'kind', 'action'];

/**
 * Creates the tables of a new file, or checks that an existing one is a MeshGuard trail this
 * version can read (migrating an older schema when writable). Returns the file's redaction salt.
 */
export function prepareSqliteSchema(db: SqliteDatabase, path: string, readonly: boolean): string {
  const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
  const hasMeta = () =>
    count("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'meshguard_meta'") > 0;
  const notOurs = () =>
    new ConfigError(`"${path}" is not a MeshGuard audit database (it has no meshguard_meta table)`, {
      code: 'store_not_meshguard',
    });
  if (!hasMeta()) {
    if (readonly) throw notOurs();
    // 8 KiB pages rather than 4: an append's commit writes half as many WAL frames (about 1 us per
    // event). It applies when the file is first written (set outside the transaction, which fixes
    // it); an existing file keeps its page size.
    db.pragma(`page_size = ${PAGE_SIZE}`);
    // Checked again inside the write lock: several processes may open a new file at once.
    db.transaction(() => {
      if (hasMeta()) return;
      if (count("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'") > 0) throw notOurs();
      db.exec(DDL);
      const insert = db.prepare('INSERT INTO meshguard_meta (key, value) VALUES (?, ?)');
      insert.run('format', 'meshguard-audit');
      insert.run('schema_version', String(SQLITE_SCHEMA_VERSION));
      insert.run('redaction_salt', randomBytes(32).toString('hex'));
      insert.run('created_at', new Date().toISOString());
    }).immediate();
  }
  const meta = new Map(
    (db.prepare('SELECT key, value FROM meshguard_meta').all() as Array<{ key: string; value: string }>).map(
      (r) => [r.key, r.value],
    ),
  );
  if (meta.get('format') !== 'meshguard-audit') {
    throw new ConfigError(`"${path}" is not a MeshGuard audit database`, { code: 'store_not_meshguard' });
  }
  const version = Number(meta.get('schema_version'));
  if (version > SQLITE_SCHEMA_VERSION) {
    throw new ConfigError(
      `"${path}" was written by a newer MeshGuard (schema ${version}; this one reads up to ${SQLITE_SCHEMA_VERSION}): upgrade @meshguard/store`,
      { code: 'store_too_new' },
    );
  }
  assertTrailTables(db, path);
  if (version < SQLITE_SCHEMA_VERSION && !readonly) migrate(db);
  const salt = meta.get('redaction_salt');
  if (!salt)
    throw new ConfigError(`"${path}" has no redaction salt: the file is damaged`, { code: 'store_damaged' });
  return salt;
}

/**
 * Brings a file of an older schema up to this one, under the write lock (another writer may be
 * doing the same), a step per version. Schema 1 -> 2 drops seven unindexed generated columns (the
 * table's definition only: VIRTUAL columns are not stored in the rows) and rebuilds the agent
 * index by bucket, which reads every event once (a few seconds for a million). Schema 2 -> 3 adds
 * the approval requests' table. A read-only store opens an older file as it is (see `hasBuckets`;
 * it keeps no approval requests).
 */
function migrate(db: SqliteDatabase): void {
  db.transaction(() => {
    const row = db.prepare("SELECT value FROM meshguard_meta WHERE key = 'schema_version'").get() as
      | { value: string }
      | undefined;
    const version = Number(row?.value);
    if (!(version >= 1 && version < SQLITE_SCHEMA_VERSION)) return;
    if (version < 2) {
      db.exec('DROP INDEX IF EXISTS audit_events_agent');
      for (const column of SCHEMA_1_COLUMNS) db.exec(`ALTER TABLE audit_events DROP COLUMN ${column}`);
      db.exec(
        `ALTER TABLE audit_events ADD COLUMN bucket INTEGER GENERATED ALWAYS AS (pos >> ${BUCKET_BITS}) VIRTUAL`,
      );
      db.exec(AGENT_INDEX);
    }
    if (version < 3) db.exec(APPROVALS);
    db.prepare("UPDATE meshguard_meta SET value = ? WHERE key = 'schema_version'").run(
      String(SQLITE_SCHEMA_VERSION),
    );
    debug('migrated %s from schema %d to %d', db.name, version, SQLITE_SCHEMA_VERSION);
  }).immediate();
}

/** Whether the file has schema 2's agent index by bucket (a read-only schema 1 file has not). */
export function hasBuckets(db: SqliteDatabase): boolean {
  return (db.prepare('PRAGMA table_xinfo(audit_events)').all() as Array<{ name: string }>).some(
    (c) => c.name === 'bucket',
  );
}
