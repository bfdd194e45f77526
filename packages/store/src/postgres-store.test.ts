import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openStore } from './open-store';
import { openPostgresStore, type PostgresStoreOptions } from './postgres-store';
import { freshSchema, PG_URL, raw } from './test-helpers/postgres';
import { describeAuditStore, makeEventBody } from './testing';

if (!PG_URL) {
  console.warn(
    'postgres-store.test.ts: skipped, set MESHGUARD_TEST_PG_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run it',
  );
}

// Every test gets its own schema (freshSchema), dropped at the end.
const open = (schema: string, options: PostgresStoreOptions = {}) =>
  openPostgresStore(PG_URL!, { schema, ...options });

describe.skipIf(!PG_URL)('postgres (needs MESHGUARD_TEST_PG_URL)', () => {
  describeAuditStore('postgres', () => open(freshSchema()));

  describe('postgres store', () => {
    it('is what openStore returns for postgres:// and postgresql:// URLs, with ?schema=', async () => {
      const schema = freshSchema();
      const a = await openStore(PG_URL!, { schema });
      const url = new URL(PG_URL!.replace(/^postgres:/, 'postgresql:'));
      url.searchParams.set('schema', schema);
      const b = await openStore(url.toString());
      expect(a.kind).toBe('postgres');
      expect(b).toMatchObject({ kind: 'postgres', schema });
      const [event] = await a.append([makeEventBody()]);
      expect((await b.query({})).events).toEqual([event]);
      await a.close();
      await b.close();
      await expect(openStore(PG_URL!, { schema: 'no"pe' })).rejects.toThrow(/schema name/);
    });

    it('names its stream per process by default, and keeps the salt and the chain across reopening', async () => {
      const schema = freshSchema();
      const one = await open(schema);
      expect(one.stream).toMatch(new RegExp(`-${process.pid}-[0-9a-f]{6}$`));
      const [a] = await one.append([makeEventBody({ context: { email: 'x@y.z' } })]);
      await one.close();
      const two = await open(schema);
      const [b] = await two.append([makeEventBody({ context: { email: 'x@y.z' } })]);
      expect(b!.context!.email).toBe(a!.context!.email);
      expect(b).toMatchObject({ stream: a!.stream, seq: 2, prevHash: a!.hash });
      expect(await two.verify()).toMatchObject({ ok: true, checked: 2 });
      await two.close();
    });

    it('creates the schema once when many processes start at once: one salt wins', async () => {
      const schema = freshSchema();
      const stores = await Promise.all(
        Array.from({ length: 8 }, (_, i) => open(schema, { stream: `s${i}`, poolSize: 2 })),
      );
      const events = await Promise.all(
        stores.map((store) => store.append([makeEventBody({ context: { token: 'same secret' } })])),
      );
      expect(new Set(events.map(([e]) => e!.context!.token)).size).toBe(1);
      expect(await stores[0]!.verify()).toMatchObject({ ok: true, checked: 8 });
      await Promise.all(stores.map((store) => store.close()));
    });

    it('chains several writers on one stream without forking it (the head row is locked)', async () => {
      const schema = freshSchema();
      const a = await open(schema, { stream: 'shared' });
      const b = await open(schema, { stream: 'shared' });
      for (let round = 0; round < 20; round++) {
        await Promise.all([a.append([makeEventBody(), makeEventBody()]), b.append([makeEventBody()])]);
      }
      expect(await a.verify()).toMatchObject({
        ok: true,
        checked: 60,
        streams: [{ stream: 'shared', lastSeq: 60 }],
      });
      await a.close();
      await b.close();
    });

    it('groups concurrent appends into one transaction, each resolved once committed', async () => {
      const schema = freshSchema();
      const store = await open(schema, { stream: 'g' });
      const results = await Promise.all(Array.from({ length: 50 }, () => store.append([makeEventBody()])));
      expect(results.flat().map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      // One transaction: every row carries the same writing transaction id.
      const txs = await raw(
        async (c) =>
          (await c.query(`SELECT count(DISTINCT tx)::int AS n FROM "${schema}".audit_events`)).rows[0].n,
      );
      expect(txs).toBe(1);
      await store.close();
    });

    it('never duplicates an event two writers on different streams append at once', async () => {
      const schema = freshSchema();
      const a = await open(schema, { stream: 'a' });
      const b = await open(schema, { stream: 'b' });
      for (let i = 0; i < 10; i++) {
        const body = makeEventBody();
        const [fromA, fromB] = await Promise.all([a.append([makeEventBody(), body]), b.append([body])]);
        expect(fromA[1]).toEqual(fromB[0]);
      }
      expect(await a.count()).toBe(20);
      expect(await a.verify()).toMatchObject({ ok: true, checked: 20 });
      await a.close();
      await b.close();
    });

    it('keeps the replicas of several processes on their own streams, all verified', async () => {
      const schema = freshSchema();
      const dist = new URL('../dist/index.js', import.meta.url).href;
      const writer = () =>
        new Promise<string>((resolve, reject) => {
          const child = spawn(
            process.execPath,
            [
              '--input-type=module',
              '-e',
              `import { openPostgresStore } from ${JSON.stringify(dist)};
               const store = await openPostgresStore(process.argv[1], { schema: process.argv[2] });
               const event = (n) => ({ v: 1, id: store.stream + '-' + n, ts: new Date().toISOString(), type: 'decision',
                 traceId: 't', agent: { id: 'w', name: 'w', tags: [], tier: 'basic' }, framework: 'test', kind: 'tool',
                 action: 'a:b', effect: 'allow', mode: 'enforce', decisionId: 'd-' + n });
               let n = 0;
               for (let round = 0; round < 10; round++) {
                 await Promise.all(Array.from({ length: 5 }, () => store.append([event(++n), event(++n)])));
               }
               await store.close();
               process.stdout.write(store.stream);`,
              PG_URL!,
              schema,
            ],
            { stdio: ['ignore', 'pipe', 'inherit'] },
          );
          let out = '';
          child.stdout!.on('data', (chunk) => {
            out += chunk;
          });
          child.on('error', reject);
          child.on('exit', (code) =>
            code === 0 ? resolve(out) : reject(new Error(`writer exited ${code}`)),
          );
        });
      const streams = await Promise.all([writer(), writer(), writer()]);
      expect(new Set(streams).size).toBe(3);
      const reader = await open(schema, { readonly: true });
      const report = await reader.verify();
      expect(report).toMatchObject({ ok: true, checked: 300 });
      expect(report.streams.map((s) => [s.stream, s.lastSeq])).toEqual(
        [...streams].sort((x, y) => x.localeCompare(y)).map((s) => [s, 100]),
      );
      await reader.close();
    });

    it('fails only the caller whose event cannot be stored, not the others batched with it', async () => {
      const store = await open(freshSchema(), { stream: 'x' });
      const good = makeEventBody();
      // A NaN cannot be hashed; a trace id of 100 KB of random hex cannot be indexed.
      const [ok, nan, huge, after] = await Promise.allSettled([
        store.append([good]),
        store.append([makeEventBody({ context: { amount: Number.NaN } })]),
        store.append([makeEventBody({ traceId: randomBytes(50_000).toString('hex') })]),
        store.append([makeEventBody()]),
      ]);
      expect(ok).toMatchObject({ status: 'fulfilled', value: [{ id: good.id, seq: 1 }] });
      expect(nan).toMatchObject({ status: 'rejected', reason: { code: 'store_event_invalid' } });
      expect(huge).toMatchObject({ status: 'rejected', reason: { code: 'store_event_invalid' } });
      expect(after).toMatchObject({ status: 'fulfilled', value: [{ seq: 2 }] });
      const [next] = await store.append([makeEventBody()]);
      expect(next!.seq).toBe(3);
      expect(await store.verify()).toMatchObject({ ok: true, checked: 3 });
      await store.close();
    });

    it('stores hostile strings verbatim (NUL, control characters, SQL) and finds them again', async () => {
      const store = await open(freshSchema());
      const hostile = `x'); DROP TABLE audit_events; --\u0000\u001b[31m\u2028é😀\ud800`;
      const [event] = await store.append([
        makeEventBody({ traceId: hostile, action: `write:${hostile}`, context: { note: hostile } }),
      ]);
      const [found] = (await store.query({ traceId: hostile })).events;
      expect(found).toEqual(event);
      expect(found!.context!.note).toBe(hostile);
      expect((await store.query({ action: 'write:x*' })).events).toHaveLength(1);
      expect((await store.query({ action: 'write:x_*' })).events).toHaveLength(0);
      expect(await store.verify()).toMatchObject({ ok: true, checked: 1 });
      await store.close();
    });

    it('refuses updates, and verify names edited, removed and truncated events', async () => {
      const schema = freshSchema();
      const store = await open(schema, { stream: 'main', pageSize: 3 });
      const events = await store.append(Array.from({ length: 8 }, () => makeEventBody()));
      const t = `"${schema}".audit_events`;
      await expect(
        raw((c) => c.query(`UPDATE ${t} SET body = body WHERE id = $1`, [events[0]!.id])),
      ).rejects.toThrow(/append-only/);
      await raw(async (c) => {
        await c.query(`ALTER TABLE ${t} DISABLE TRIGGER USER`);
        await c.query(`UPDATE ${t} SET body = replace(body, '"allow"', '"deny"') WHERE id = $1`, [
          events[4]!.id,
        ]);
      });
      expect(await store.verify()).toMatchObject({
        ok: false,
        checked: 4,
        problem: { stream: 'main', seq: 5, id: events[4]!.id, kind: 'edited' },
      });
      await raw((c) => c.query(`DELETE FROM ${t} WHERE id = $1`, [events[4]!.id]));
      expect(await store.verify()).toMatchObject({ ok: false, problem: { seq: 6, kind: 'missing' } });
      await raw((c) => c.query(`DELETE FROM ${t} WHERE seq >= 5`));
      expect(await store.verify()).toMatchObject({
        ok: false,
        checked: 4,
        problem: { stream: 'main', seq: 8, kind: 'truncated' },
      });
      await store.close();
    });

    it('pages through verify and iterate without loading the trail at once', async () => {
      const schema = freshSchema();
      const a = await open(schema, { stream: 'a', pageSize: 4 });
      const b = await open(schema, { stream: 'b', pageSize: 4 });
      for (let i = 0; i < 5; i++)
        await Promise.all([a.append([makeEventBody()]), b.append([makeEventBody()])]);
      expect(await a.verify()).toMatchObject({
        ok: true,
        checked: 10,
        streams: [
          { stream: 'a', events: 5, lastSeq: 5 },
          { stream: 'b', events: 5, lastSeq: 5 },
        ],
      });
      const seen: string[] = [];
      for await (const event of a.iterate({ order: 'asc' })) seen.push(event.id);
      expect(seen).toEqual((await a.query({ order: 'asc', limit: 100 })).events.map((e) => e.id));
      expect(seen).toHaveLength(10);
      expect(await a.count({ agent: 'Support' })).toBe(10);
      await a.close();
      await b.close();
    });

    it('counts only enforced decisions by effect in stats', async () => {
      const store = await open(freshSchema());
      await store.append([
        makeEventBody({ effect: 'allow' }),
        makeEventBody({ effect: 'deny', mode: 'shadow' }),
        makeEventBody({ effect: 'deny' }),
        makeEventBody({ type: 'outcome', outcome: 'success' }),
      ]);
      const stats = await store.stats();
      expect(stats).toMatchObject({
        total: 4,
        byEffect: [
          { key: 'allow', count: 1 },
          { key: 'deny', count: 1 },
        ],
        byType: [
          { key: 'decision', count: 3 },
          { key: 'outcome', count: 1 },
        ],
        byAgent: [{ key: 'Support', count: 4 }],
      });
      await store.close();
    });

    it('follows the trail with after(), never skipping an event a slower writer commits later', async () => {
      const schema = freshSchema();
      const store = await open(schema, { stream: 'fast' });
      const [initial] = await store.append([makeEventBody()]);
      const start = await store.after(undefined);
      expect(start.events).toEqual([]);
      // A slow writer on its own stream: its row is numbered first, committed last.
      const slow = await openPostgresStore(PG_URL!, { schema, stream: 'slow' });
      const [seeded] = await slow.append([makeEventBody()]);
      await slow.close();
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query('BEGIN');
      const late = makeEventBody();
      await client.query(
        `INSERT INTO "${schema}".audit_events (stream, seq, body, hash, id, ts, type, trace_id, decision_id, agent_id, agent_name, framework, kind, action, effect, mode)
         VALUES ('slow', 2, $1, 'h', $2, $3, 'decision', 't', 'd', 'a', 'A', 'f', 'tool', 'x:y', 'allow', 'enforce')`,
        [JSON.stringify({ ...late, stream: 'slow', seq: 2, prevHash: seeded!.hash }), late.id, late.ts],
      );
      const [quick] = await store.append([makeEventBody()]);
      const first = await store.after(start.cursor);
      // The open transaction holds the horizon: nothing numbered or committed after it is shown yet.
      expect(first.events.map((e) => e.id)).not.toContain(quick!.id);
      await client.query('COMMIT');
      await client.end();
      const seen = first.events.map((e) => e.id);
      let cursor = first.cursor;
      // Other transactions on the server may hold the horizon back a moment longer.
      for (let i = 0; i < 100 && !seen.includes(quick!.id); i++) {
        const next = await store.after(cursor);
        seen.push(...next.events.map((e) => e.id));
        cursor = next.cursor;
        if (!seen.includes(quick!.id)) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(seen.filter((id) => id !== initial!.id)).toEqual([seeded!.id, late.id, quick!.id]);
      expect((await store.after(cursor)).events).toEqual([]);
      const latest = await store.latest(2);
      expect(latest.events.map((e) => e.id)).toEqual([late.id, quick!.id]);
      expect((await store.after(latest.cursor)).events).toEqual([]);
      await expect(store.after('garbage')).rejects.toThrow(/cursor/);
      await store.close();
    });

    it('drains pending appends on close, then refuses more', async () => {
      const store = await open(freshSchema());
      const pending = store.append([makeEventBody(), makeEventBody()]);
      await store.close();
      expect(await pending).toHaveLength(2);
      await expect(store.append([makeEventBody()])).rejects.toMatchObject({ code: 'store_closed' });
      const again = await open(store.schema, { readonly: true });
      expect(await again.count()).toBe(2);
      await expect(again.append([makeEventBody()])).rejects.toThrow(/read-only/);
      await again.close();
    });

    it('refuses a schema that is not a MeshGuard store, or one written by a newer schema', async () => {
      const foreign = freshSchema();
      await raw(async (c) => {
        await c.query(`CREATE SCHEMA "${foreign}"`);
        await c.query(`CREATE TABLE "${foreign}".audit_events (x int)`);
      });
      await expect(open(foreign)).rejects.toMatchObject({ code: 'store_not_meshguard' });
      await expect(open(freshSchema(), { readonly: true })).rejects.toMatchObject({
        code: 'store_not_meshguard',
      });
      const newer = freshSchema();
      await (await open(newer)).close();
      await raw((c) =>
        c.query(`UPDATE "${newer}".meshguard_meta SET value = '99' WHERE key = 'schema_version'`),
      );
      await expect(open(newer)).rejects.toThrow(/written by a newer MeshGuard \(schema 99/);
    });

    it('says which server it could not reach, without the password', async () => {
      const error = await openPostgresStore('postgres://meshguard:hunter2@127.0.0.1:1/nowhere').catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: 'store_unavailable' });
      expect(String((error as Error).message)).toContain('postgres://127.0.0.1:1/nowhere');
      expect(String((error as Error).message)).not.toContain('hunter2');
    });
  });
});
