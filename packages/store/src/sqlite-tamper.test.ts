import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqlite, type SqliteDatabase } from './sqlite-driver';
import { openSqliteStore } from './sqlite-store';
import { makeEventBody } from './testing';

/** A closed file with four events (the third a deny). */
async function seeded() {
  const path = join(await mkdtemp(join(tmpdir(), 'mg-tamper-')), 'audit.db');
  const store = openSqliteStore(path, { journal: false });
  const events = await store.append([
    makeEventBody(),
    makeEventBody(),
    makeEventBody({ effect: 'deny', action: 'write:email' }),
    makeEventBody(),
  ]);
  await store.close();
  return { path, events };
}

function tamper(path: string, run: (db: SqliteDatabase) => void) {
  const db = openSqlite(path);
  try {
    run(db);
  } finally {
    db.close();
  }
}

async function verifyFile(path: string) {
  const store = openSqliteStore(path, { readonly: true });
  try {
    return await store.verify();
  } finally {
    await store.close();
  }
}

describe('sqlite: the columns queries read are checked against the hashed body', () => {
  it('names a column rebuilt to disagree with the body, which makes queries by it lie', async () => {
    const { path, events } = await seeded();
    // The table rebuilt with effect as a plain column (everything else as it was), then edited.
    tamper(path, (db) => {
      const ddl = (
        db.prepare("SELECT sql FROM sqlite_schema WHERE name = 'audit_events'").get() as { sql: string }
      ).sql;
      const indexes = db
        .prepare(
          "SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'audit_events' AND sql IS NOT NULL",
        )
        .all() as Array<{ sql: string }>;
      db.transaction(() => {
        db.exec(
          ddl
            .replace('audit_events', 'audit_events_new')
            .replace("effect TEXT GENERATED ALWAYS AS (body ->> '$.effect') VIRTUAL", 'effect TEXT'),
        );
        db.exec(
          "INSERT INTO audit_events_new (pos, stream, body, hash, effect) SELECT pos, stream, body, hash, body ->> '$.effect' FROM audit_events",
        );
        db.exec('DROP TABLE audit_events');
        db.exec('ALTER TABLE audit_events_new RENAME TO audit_events');
        for (const index of indexes) db.exec(index.sql);
        db.prepare("UPDATE audit_events SET effect = 'allow' WHERE seq = 3").run();
      })();
    });
    const store = openSqliteStore(path, { readonly: true });
    expect((await store.query({ effect: 'deny' })).events).toEqual([]);
    expect(await store.verify()).toMatchObject({
      ok: false,
      problem: {
        stream: 'main',
        seq: 3,
        id: events[2]!.id,
        kind: 'edited',
        message: expect.stringContaining('its effect column holds "allow" but the hashed event says "deny"'),
      },
    });
    await store.close();
  });

  it('names a table rebuilt so that a column is no longer computed from the body, before any row disagrees', async () => {
    const { path } = await seeded();
    tamper(path, (db) => {
      db.exec('ALTER TABLE audit_events DROP COLUMN effect');
      db.exec('ALTER TABLE audit_events ADD COLUMN effect TEXT');
      db.exec("UPDATE audit_events SET effect = body ->> '$.effect'");
    });
    expect(await verifyFile(path)).toMatchObject({
      ok: false,
      problem: {
        kind: 'edited',
        message: expect.stringContaining('its effect column is no longer computed from the hashed event'),
      },
    });
  });

  it('names agent names recorded for no event, and events whose name is not recorded', async () => {
    const { path } = await seeded();
    tamper(path, (db) =>
      db.prepare("INSERT INTO audit_agents (name, id) VALUES ('Support', 'agent-2')").run(),
    );
    expect(await verifyFile(path)).toMatchObject({
      ok: false,
      problem: {
        kind: 'edited',
        message: expect.stringContaining('records agent id "agent-2" under the name "Support"'),
      },
    });
    tamper(path, (db) => db.prepare('DELETE FROM audit_agents').run());
    expect(await verifyFile(path)).toMatchObject({
      ok: false,
      problem: {
        kind: 'edited',
        message: expect.stringContaining('"agent-1" named "Support" are missing from audit_agents'),
      },
    });
  });

  it('reports a deleted last event as truncation', async () => {
    const { path, events } = await seeded();
    tamper(path, (db) => db.prepare('DELETE FROM audit_events WHERE id = ?').run(events[3]!.id));
    expect(await verifyFile(path)).toMatchObject({
      ok: false,
      checked: 3,
      problem: { stream: 'main', seq: 4, kind: 'truncated' },
    });
  });

  it('says the events table is gone: dropped under an open store, or before one opens', async () => {
    const { path } = await seeded();
    const store = openSqliteStore(path, { readonly: true });
    tamper(path, (db) => db.exec('DROP TABLE audit_events'));
    expect(await store.verify()).toMatchObject({
      ok: false,
      checked: 0,
      problem: { kind: 'truncated', message: expect.stringContaining('the audit_events table of') },
    });
    await store.close();
    for (const readonly of [true, false]) {
      expect(() => openSqliteStore(path, { readonly })).toThrow(
        expect.objectContaining({ code: 'store_trail_missing', message: expect.stringContaining('is gone') }),
      );
    }
  });
});
