import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { DERIVED_COLUMNS } from './derived-columns';
import { openPostgresStore } from './postgres-store';
import { freshRole, freshSchema, PG_URL, raw } from './test-helpers/postgres';
import { makeEventBody } from './testing';

// Every test gets its own schema (and role), dropped at the end.

/** A trail of four events (the third a deny), and the events table's qualified name. */
async function seeded() {
  const schema = freshSchema();
  const store = await openPostgresStore(PG_URL!, { schema, stream: 'main' });
  const events = await store.append([
    makeEventBody(),
    makeEventBody(),
    makeEventBody({ effect: 'deny', action: 'write:email' }),
    makeEventBody(),
  ]);
  return { store, events, schema, t: `"${schema}".audit_events` };
}

describe.skipIf(!PG_URL)('postgres: the trail cannot be rewritten behind verify', () => {
  // Found attacking issue 15: the trigger's function ran with the caller's search_path, so a role
  // granted DELETE by mistake that could create a schema of its own put a pg_has_role there that
  // says yes, first on its path, and deleted events.
  it('refuses a role that shadows pg_has_role on its search_path', async () => {
    const { store, events, schema, t } = await seeded();
    const role = freshRole('mg_intruder');
    const own = freshSchema();
    await raw(async (c) => {
      await c.query(`CREATE ROLE "${role}" NOLOGIN`);
      await c.query(`GRANT USAGE ON SCHEMA "${schema}" TO "${role}"`);
      await c.query(`GRANT ALL ON ${t} TO "${role}"`);
      await c.query(`CREATE SCHEMA "${own}" AUTHORIZATION "${role}"`);
    });
    const attempt = raw(async (c) => {
      await c.query(`SET ROLE "${role}"`);
      await c.query(
        `CREATE FUNCTION "${own}".pg_has_role(name, oid, text) RETURNS boolean LANGUAGE sql AS 'SELECT true'`,
      );
      await c.query(`SET search_path = "${own}", pg_catalog`);
      return c.query(`DELETE FROM ${t} WHERE id = $1`, [events[2]!.id]);
    });
    await expect(attempt).rejects.toThrow(/only the MeshGuard writer role may DELETE/);
    expect(await store.verify()).toMatchObject({ ok: true, checked: 4 });
    await raw(async (c) => {
      await c.query(`DROP SCHEMA "${own}" CASCADE`);
      await c.query(`REVOKE ALL ON ${t} FROM "${role}"`);
      await c.query(`REVOKE ALL ON SCHEMA "${schema}" FROM "${role}"`);
    });
    await store.close();
  });

  it('refuses DELETE and INSERT at a position from a role other than the writer, even one granted them', async () => {
    const { store, events, schema, t } = await seeded();
    const role = freshRole('mg_intruder');
    const row = (await raw((c) => c.query(`SELECT * FROM ${t} WHERE id = $1`, [events[2]!.id]))).rows[0];
    const reinsert = (c: pg.Client) =>
      c.query(
        `INSERT INTO ${t} (pos, tx, stream, seq, body, hash, id, ts, type, trace_id, decision_id, agent_id, agent_name, framework, kind, action, effect, mode)
         OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'allow', $17)`,
        [
          row.pos,
          row.tx,
          row.stream,
          row.seq,
          row.body,
          row.hash,
          row.id,
          row.ts,
          row.type,
          row.trace_id,
          row.decision_id,
          row.agent_id,
          row.agent_name,
          row.framework,
          row.kind,
          row.action,
          row.mode,
        ],
      );
    const asIntruder = (run: (c: pg.Client) => Promise<unknown>) =>
      raw(async (c) => {
        await c.query(`SET ROLE "${role}"`);
        return run(c);
      });
    await raw(async (c) => {
      await c.query(`CREATE ROLE "${role}" NOLOGIN`);
      await c.query(`GRANT USAGE ON SCHEMA "${schema}" TO "${role}"`);
      await c.query(`GRANT SELECT ON ${t} TO "${role}"`);
    });
    // Granted SELECT only (what a reporting role needs): the privileges refuse the rest.
    await expect(
      asIntruder((c) => c.query(`DELETE FROM ${t} WHERE id = $1`, [events[2]!.id])),
    ).rejects.toThrow(/permission denied/);
    // Granted everything by mistake: the writer-only trigger still refuses.
    await raw((c) => c.query(`GRANT ALL ON ${t} TO "${role}"`));
    await expect(
      asIntruder((c) => c.query(`DELETE FROM ${t} WHERE id = $1`, [events[2]!.id])),
    ).rejects.toThrow(/only the MeshGuard writer role may DELETE MeshGuard audit events/);
    await expect(asIntruder((c) => c.query(`TRUNCATE ${t}`))).rejects.toThrow(
      /only the MeshGuard writer role/,
    );
    await expect(asIntruder(reinsert)).rejects.toThrow(/only the MeshGuard writer role may INSERT/);
    expect((await store.query({ effect: 'deny' })).events.map((e) => e.id)).toEqual([events[2]!.id]);
    expect(await store.verify()).toMatchObject({ ok: true, checked: 4 });
    await raw(async (c) => {
      await c.query(`REVOKE ALL ON ${t} FROM "${role}"`);
      await c.query(`REVOKE ALL ON SCHEMA "${schema}" FROM "${role}"`);
    });

    // The writer's role (here the superuser that created the schema) is out of the trigger's
    // reach: deleting the deny and inserting it again at its old place with effect allow makes a
    // query by effect lie, and verify names the column.
    await raw(async (c) => {
      await c.query(`DELETE FROM ${t} WHERE id = $1`, [events[2]!.id]);
      await reinsert(c);
    });
    expect((await store.query({ effect: 'deny' })).events).toEqual([]);
    expect(await store.verify()).toMatchObject({
      ok: false,
      problem: {
        stream: 'main',
        seq: 3,
        id: events[2]!.id,
        kind: 'edited',
        message: expect.stringMatching(/its effect column holds "allow" but the hashed event says "deny"/),
      },
    });
    await store.close();
  });

  it('adds the writer-only trigger to a schema made before it, when the writer opens it', async () => {
    const { store, t } = await seeded();
    await store.close();
    const trigger = `SELECT count(*)::int AS n FROM pg_trigger WHERE tgname = 'audit_events_writer_only' AND tgrelid = '${t}'::regclass`;
    await raw((c) => c.query(`DROP TRIGGER audit_events_writer_only ON ${t}`));
    expect((await raw((c) => c.query(trigger))).rows[0].n).toBe(0);
    const again = await openPostgresStore(PG_URL!, {
      schema: t.split('.')[0]!.replaceAll('"', ''),
      stream: 'main',
    });
    expect((await raw((c) => c.query(trigger))).rows[0].n).toBe(1);
    expect(await again.verify()).toMatchObject({ ok: true, checked: 4 });
    await again.close();
  });

  it('verify compares every column queries filter on with the hashed body', async () => {
    for (const { column } of DERIVED_COLUMNS) {
      const { store, events, t } = await seeded();
      await raw(async (c) => {
        await c.query(`ALTER TABLE ${t} DISABLE TRIGGER USER`);
        await c.query(`UPDATE ${t} SET ${column} = ${column === 'seq' ? '99' : "'forged'"} WHERE id = $1`, [
          events[1]!.id,
        ]);
      });
      const report = await store.verify();
      expect(report, column).toMatchObject({ ok: false, problem: { kind: 'edited' } });
      if (!['id', 'stream', 'seq'].includes(column)) {
        expect(report.problem, column).toMatchObject({
          seq: 2,
          id: events[1]!.id,
          message: expect.stringContaining(`its ${column} column holds "forged"`),
        });
      }
      await store.close();
    }
  });

  it('verify names agent names recorded for no event, or events whose name is not recorded', async () => {
    const { store, schema } = await seeded();
    const agents = `"${schema}".audit_agents`;
    // `--agent Support` would also return the events of agent-2.
    await raw((c) => c.query(`INSERT INTO ${agents} (name, id) VALUES ('Support', 'agent-2')`));
    expect(await store.verify()).toMatchObject({
      ok: false,
      problem: {
        kind: 'edited',
        message: expect.stringContaining('records agent id "agent-2" under the name "Support"'),
      },
    });
    // `--agent Support` would find none of agent-1's events.
    await raw((c) => c.query(`DELETE FROM ${agents}`));
    expect(await store.verify()).toMatchObject({
      ok: false,
      problem: {
        kind: 'edited',
        message: expect.stringContaining('"agent-1" named "Support" are missing from audit_agents'),
      },
    });
    await store.close();
  });

  it('reports a deleted last event as truncation', async () => {
    const { store, events, t } = await seeded();
    await raw((c) => c.query(`DELETE FROM ${t} WHERE id = $1`, [events[3]!.id]));
    expect(await store.verify()).toMatchObject({
      ok: false,
      checked: 3,
      problem: { stream: 'main', seq: 4, kind: 'truncated' },
    });
    await store.close();
  });

  it('says the events table is gone rather than failing', async () => {
    const { store, schema, t } = await seeded();
    await raw((c) => c.query(`DROP TABLE ${t}`));
    expect(await store.verify()).toEqual({
      ok: false,
      checked: 0,
      streams: [],
      problem: {
        stream: '',
        seq: 0,
        id: '',
        kind: 'truncated',
        message: `the audit_events table of schema "${schema}" is gone: the audit trail was deleted (nothing is left to verify)`,
      },
    });
    await store.close();
  });
});
