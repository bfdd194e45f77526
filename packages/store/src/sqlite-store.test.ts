import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuditEvent, chainEvents, createMemoryStore, GENESIS_HASH } from '@meshguard/core';
import { eventBody } from '@meshguard/core/internal';
import { describe, expect, it } from 'vitest';
import { makeApprovalRequest } from './approval-store-suite';
import { openSqlite } from './sqlite-driver';
import { openSqliteStore, SQLITE_SCHEMA_VERSION } from './sqlite-store';
import { describeAuditStore } from './testing';

const tempDb = async () => join(await mkdtemp(join(tmpdir(), 'mg-store-')), 'audit.db');

describeAuditStore('memory', async () => createMemoryStore());
describeAuditStore('sqlite', async () => openSqliteStore(await tempDb()));

describe('sqlite store', () => {
  it('keeps the redaction salt in the file and continues the chain after reopening', async () => {
    const path = await tempDb();
    const { makeEventBody } = await import('./testing');
    const one = openSqliteStore(path);
    const [a] = await one.append([makeEventBody({ context: { email: 'x@y.z' } })]);
    await one.close();
    const two = openSqliteStore(path);
    const [b] = await two.append([makeEventBody({ context: { email: 'x@y.z' } })]);
    expect(b!.context!.email).toBe(a!.context!.email);
    expect(b!.seq).toBe(2);
    expect(b!.prevHash).toBe(a!.hash);
    expect((await two.verify()).ok).toBe(true);
    await two.close();
  });

  it('chains the appends of several writers on one file onto the shared stream', async () => {
    const path = await tempDb();
    const { makeEventBody } = await import('./testing');
    const a = openSqliteStore(path);
    const b = openSqliteStore(path);
    for (let round = 0; round < 20; round++) {
      await Promise.all([a.append([makeEventBody(), makeEventBody()]), b.append([makeEventBody()])]);
    }
    const report = await a.verify();
    expect(report).toMatchObject({ ok: true, checked: 60, streams: [{ stream: 'main', lastSeq: 60 }] });
    await a.close();
    await b.close();
  });

  it('keeps separate writer streams apart and verifies them all', async () => {
    const path = await tempDb();
    const { makeEventBody } = await import('./testing');
    const a = openSqliteStore(path, { stream: 'replica-a' });
    const b = openSqliteStore(path, { stream: 'replica-b' });
    await a.append([makeEventBody(), makeEventBody()]);
    await b.append([makeEventBody()]);
    expect(await a.verify()).toMatchObject({
      ok: true,
      streams: [
        { stream: 'replica-a', events: 2 },
        { stream: 'replica-b', events: 1 },
      ],
    });
    await a.close();
    await b.close();
  });

  it('refuses to write when opened read-only, and refuses a file from a newer schema', async () => {
    const path = await tempDb();
    const { makeEventBody } = await import('./testing');
    const writer = openSqliteStore(path);
    await writer.append([makeEventBody()]);
    await writer.close();
    const reader = openSqliteStore(path, { readonly: true });
    await expect(reader.append([makeEventBody()])).rejects.toThrow(/read-only/);
    await reader.close();
    const raw = openSqlite(path);
    raw.prepare("UPDATE meshguard_meta SET value = '99' WHERE key = 'schema_version'").run();
    raw.close();
    expect(() => openSqliteStore(path)).toThrow(/written by a newer MeshGuard \(schema 99/);
  });

  it('commits many callers of one tick together, each answered with its own events in chain order', async () => {
    const store = openSqliteStore(await tempDb());
    const { makeEventBody } = await import('./testing');
    const stored = makeEventBody();
    await store.append([stored]);
    const bodies = Array.from({ length: 40 }, (_, i) =>
      i % 7 === 3 ? [makeEventBody(), makeEventBody()] : [makeEventBody()],
    );
    const answers = await Promise.all(bodies.map((b) => store.append(b)));
    expect(answers.map((events) => events.map((e) => e.id))).toEqual(bodies.map((b) => b.map((e) => e.id)));
    const seqs = answers.flat().map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 2));
    // A caller re-sending a stored event among new ones: the batch falls back, and nobody loses out.
    const fresh = Array.from({ length: 5 }, () => [makeEventBody()]);
    const mixed = await Promise.all(
      [...fresh, [{ ...stored, reason: 'retried' }]].map((b) => store.append(b)),
    );
    expect(mixed.at(-1)![0]).toMatchObject({ id: stored.id, seq: 1 });
    expect(mixed.slice(0, 5).map((events) => events[0]!.id)).toEqual(fresh.map((b) => b[0]!.id));
    expect(await store.verify()).toMatchObject({ ok: true, checked: 1 + seqs.length + 5 });
    await store.close();
  });

  it('fails only the caller whose event cannot be stored, not the others batched with it', async () => {
    const store = openSqliteStore(await tempDb());
    const { makeEventBody } = await import('./testing');
    const good = makeEventBody();
    const [ok, bad] = await Promise.allSettled([
      store.append([good]),
      store.append([makeEventBody({ context: { amount: Number.NaN } })]),
    ]);
    expect(ok).toMatchObject({ status: 'fulfilled', value: [{ id: good.id, seq: 1 }] });
    expect(bad).toMatchObject({ status: 'rejected', reason: { code: 'store_event_invalid' } });
    const [next] = await store.append([makeEventBody()]);
    expect(next!.seq).toBe(2);
    expect(await store.verify()).toMatchObject({ ok: true, checked: 2 });
    await store.close();
  });

  it('verifies a consistent snapshot while another process keeps appending', async () => {
    const path = await tempDb();
    const { makeEventBody } = await import('./testing');
    const seed = openSqliteStore(path);
    await seed.append([makeEventBody()]);
    await seed.close();
    const dist = new URL('../dist/index.js', import.meta.url).href;
    const writer = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { openSqliteStore } from ${JSON.stringify(dist)};
         const store = openSqliteStore(process.argv[1]);
         let n = 0;
         for (;;) {
           const batch = Array.from({ length: 20 }, () => ({ v: 1, id: 'w-' + ++n, ts: new Date().toISOString(), type: 'decision',
             traceId: 't', agent: { id: 'w', name: 'w', tags: [], tier: 'basic' }, framework: 'test', kind: 'tool',
             action: 'a:b', effect: 'allow', mode: 'enforce', decisionId: 'd-' + n }));
           await store.append(batch);
           if (n === 20) process.stdout.write('writing\\n');
         }`,
        path,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const reports = [];
    try {
      await new Promise((resolve) => writer.stdout!.once('data', resolve));
      const reader = openSqliteStore(path, { readonly: true });
      for (let i = 0; i < 30; i++) {
        reports.push(await reader.verify());
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await reader.close();
    } finally {
      writer.kill('SIGKILL'); // never left running (it appends for ever) when something fails
    }
    expect(reports.filter((r) => !r.ok)).toEqual([]);
    expect(reports.at(-1)!.checked).toBeGreaterThan(reports[0]!.checked);
  });

  it('counts only enforced decisions by effect; shadow verdicts are not decisions that were made', async () => {
    const store = openSqliteStore(await tempDb());
    const { makeEventBody } = await import('./testing');
    await store.append([
      makeEventBody({ effect: 'allow' }),
      makeEventBody({ effect: 'deny', mode: 'shadow' }),
      makeEventBody({ effect: 'deny' }),
    ]);
    expect(store.stats().byEffect).toEqual([
      { key: 'allow', count: 1 },
      { key: 'deny', count: 1 },
    ]);
    await store.close();
  });
});

describe('sqlite store: the agent index by bucket', () => {
  it('pages by agent id and by name across buckets, newest or oldest first, as a scan would', async () => {
    const store = openSqliteStore(await tempDb());
    const { makeEventBody } = await import('./testing');
    // 9,000 events over three buckets of 4,096 positions; three agents, one of them also under a
    // second id with the same name, so a name resolves to two ids.
    const agents = [
      { id: 'agent-a', name: 'Alpha', tags: [], tier: 'basic' as const },
      { id: 'agent-b', name: 'Beta', tags: [], tier: 'basic' as const },
      { id: 'agent-c', name: 'Alpha', tags: [], tier: 'basic' as const },
    ];
    const all: AuditEvent[] = [];
    for (let i = 0; i < 9_000; i += 500) {
      const batch = Array.from({ length: 500 }, (_, j) =>
        makeEventBody({
          agent: agents[(i + j) % 7 === 0 ? 2 : (i + j) % 2]!,
          action: (i + j) % 3 ? 'read:x' : 'write:y',
        }),
      );
      all.push(...(await store.append(batch)));
    }
    const pages = async (filter: Record<string, unknown>) => {
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.query({ ...filter, limit: 700, cursor });
        seen.push(...page.events.map((e) => e.id));
        cursor = page.nextCursor;
      } while (cursor);
      return seen;
    };
    const ids = (match: (e: AuditEvent) => boolean) => all.filter(match).map((e) => e.id);
    const alpha = (e: AuditEvent) => e.agent.name === 'Alpha';
    expect(await pages({ agent: 'agent-b', order: 'asc' })).toEqual(ids((e) => e.agent.id === 'agent-b'));
    expect(await pages({ agent: 'agent-b' })).toEqual(ids((e) => e.agent.id === 'agent-b').reverse());
    expect(await pages({ agent: 'Alpha' })).toEqual(ids(alpha).reverse());
    expect(await pages({ agent: 'Alpha', action: 'write:*', order: 'asc' })).toEqual(
      ids((e) => alpha(e) && e.action === 'write:y'),
    );
    expect([...store.iterate({ agent: 'Alpha', order: 'asc' })].map((e) => e.id)).toEqual(ids(alpha));
    expect(store.count({ agent: 'Alpha' })).toBe(ids(alpha).length);
    expect(store.stats({ agent: 'agent-c' }).total).toBe(ids((e) => e.agent.id === 'agent-c').length);
    expect(await store.verify()).toMatchObject({ ok: true, checked: 9_000 });
    await store.close();
  });

  it('upgrades a schema 1 file when a writer opens it (to schema 3, approvals and all), and reads it as it is when opened read-only', async () => {
    const path = await tempDb();
    const { makeEventBody } = await import('./testing');
    const raw = openSqlite(path);
    // Schema 1 as @meshguard/store wrote it: twelve generated columns, the agent index by id alone.
    raw.exec(`
      CREATE TABLE meshguard_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
      CREATE TABLE audit_streams (stream TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL) STRICT;
      CREATE TABLE audit_events (
        pos INTEGER PRIMARY KEY, stream TEXT NOT NULL, body TEXT NOT NULL, hash TEXT NOT NULL,
        id TEXT GENERATED ALWAYS AS (body ->> '$.id') VIRTUAL,
        seq INTEGER GENERATED ALWAYS AS (body ->> '$.seq') VIRTUAL,
        ts TEXT GENERATED ALWAYS AS (body ->> '$.ts') VIRTUAL,
        type TEXT GENERATED ALWAYS AS (body ->> '$.type') VIRTUAL,
        trace_id TEXT GENERATED ALWAYS AS (body ->> '$.traceId') VIRTUAL,
        decision_id TEXT GENERATED ALWAYS AS (body ->> '$.decisionId') VIRTUAL,
        agent_id TEXT GENERATED ALWAYS AS (body ->> '$.agent.id') VIRTUAL,
        agent_name TEXT GENERATED ALWAYS AS (body ->> '$.agent.name') VIRTUAL,
        framework TEXT GENERATED ALWAYS AS (body ->> '$.framework') VIRTUAL,
        kind TEXT GENERATED ALWAYS AS (body ->> '$.kind') VIRTUAL,
        action TEXT GENERATED ALWAYS AS (body ->> '$.action') VIRTUAL,
        effect TEXT GENERATED ALWAYS AS (body ->> '$.effect') VIRTUAL
      ) STRICT;
      CREATE UNIQUE INDEX audit_events_id ON audit_events (id);
      CREATE INDEX audit_events_agent ON audit_events (agent_id);
      CREATE INDEX audit_events_trace ON audit_events (trace_id);
      CREATE TABLE audit_agents (name TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (name, id)) WITHOUT ROWID, STRICT;
      INSERT INTO meshguard_meta VALUES ('format', 'meshguard-audit'), ('schema_version', '1'),
        ('redaction_salt', 'salt'), ('created_at', '2026-01-05T10:00:00.000Z');
    `);
    const bodies = Array.from({ length: 20 }, (_, i) =>
      makeEventBody({
        agent: { id: `agent-${i % 2}`, name: `Agent ${i % 2}`, tags: [], tier: 'basic' },
        effect: i % 4 ? 'allow' : 'deny',
      }),
    );
    const { events, head } = chainEvents({ stream: 'main', seq: 0, hash: GENESIS_HASH }, bodies);
    const insert = raw.prepare('INSERT INTO audit_events (stream, body, hash) VALUES (?, ?, ?)');
    for (const event of events) insert.run('main', eventBody(event), event.hash);
    raw.prepare('INSERT INTO audit_streams VALUES (?, ?, ?)').run('main', head.seq, head.hash);
    raw.prepare("INSERT INTO audit_agents VALUES ('Agent 0', 'agent-0'), ('Agent 1', 'agent-1')").run();
    raw.close();

    const reader = openSqliteStore(path, { readonly: true });
    const newest = events.filter((e) => e.agent.id === 'agent-1').reverse();
    expect((await reader.query({ agent: 'Agent 1', limit: 3 })).events.map((e) => e.id)).toEqual(
      newest.slice(0, 3).map((e) => e.id),
    );
    expect(reader.stats().byEffect).toEqual([
      { key: 'allow', count: 15 },
      { key: 'deny', count: 5 },
    ]);
    expect((await reader.verify()).ok).toBe(true);
    await reader.close();

    const writer = openSqliteStore(path);
    const [next] = await writer.append([makeEventBody({ agent: events[0]!.agent })]);
    expect(next).toMatchObject({ seq: 21, prevHash: head.hash });
    // Upgraded through schema 2 to 3: it keeps approval requests too.
    const request = makeApprovalRequest();
    await writer.createApproval(request);
    expect(await writer.getApproval(request.id)).toStrictEqual(request);
    expect((await writer.query({ agent: 'agent-0', order: 'asc' })).events.map((e) => e.seq)).toEqual([
      1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21,
    ]);
    expect(await writer.verify()).toMatchObject({ ok: true, checked: 21 });
    await writer.close();
    const after = openSqlite(path, { readonly: true });
    expect(after.prepare("SELECT value FROM meshguard_meta WHERE key = 'schema_version'").get()).toEqual({
      value: String(SQLITE_SCHEMA_VERSION),
    });
    const columns = (after.prepare('PRAGMA table_xinfo(audit_events)').all() as Array<{ name: string }>).map(
      (c) => c.name,
    );
    expect(columns).toEqual([
      'pos',
      'stream',
      'body',
      'hash',
      'id',
      'seq',
      'trace_id',
      'agent_id',
      'effect',
      'bucket',
    ]);
    after.close();
    // The same table as a new file's, and the same approval requests' table and indexes.
    const fresh = openSqliteStore(await tempDb());
    const created = openSqlite(fresh.path, { readonly: true });
    expect(
      (created.prepare('PRAGMA table_xinfo(audit_events)').all() as Array<{ name: string }>).map(
        (c) => c.name,
      ),
    ).toEqual(columns);
    const approvalSchema =
      "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'approval_requests' ORDER BY name";
    const upgraded = openSqlite(path, { readonly: true });
    expect(upgraded.prepare(approvalSchema).all()).toEqual(created.prepare(approvalSchema).all());
    expect(upgraded.prepare(approvalSchema).all()).toHaveLength(5);
    upgraded.close();
    created.close();
    await fresh.close();
  });

  it('chains large appends with events stored before or repeated among them, never storing one twice', async () => {
    const store = openSqliteStore(await tempDb());
    const { makeEventBody } = await import('./testing');
    const first = await store.append(Array.from({ length: 100 }, () => makeEventBody()));
    const fresh = Array.from({ length: 90 }, () => makeEventBody());
    const mixed = fresh.map((body, i) =>
      i === 10 ? first[3]! : i === 70 ? { ...first[99]!, reason: 'retried' } : i === 31 ? fresh[30]! : body,
    );
    const second = await store.append(mixed);
    expect(second).toHaveLength(90);
    expect(second[10]).toEqual(first[3]);
    expect(second[70]).toEqual(first[99]);
    expect(second[31]).toEqual(second[30]);
    const added = second.filter((_, i) => i !== 10 && i !== 70 && i !== 31);
    expect(added.map((e) => e.seq)).toEqual(Array.from({ length: 87 }, (_, i) => 101 + i));
    expect(store.count()).toBe(187);
    expect(await store.verify()).toMatchObject({ ok: true, checked: 187 });
    // The same events again, and a batch of 64 with one repeat at its end: nothing is added twice.
    await store.append(mixed);
    const tail = [...Array.from({ length: 63 }, () => makeEventBody()), fresh[0]!];
    const third = await store.append(tail);
    expect(third[63]).toEqual(second[0]);
    expect(third[62]!.seq).toBe(250);
    expect(store.count()).toBe(250);
    expect(await store.verify()).toMatchObject({ ok: true, checked: 250 });
    await store.close();
  });

  it('stores the canonical body and the chain hash core computes, whatever shape the body comes in', async () => {
    const store = openSqliteStore(await tempDb());
    const { makeEventBody } = await import('./testing');
    const odd = { ...makeEventBody({ context: { b: 1, a: [2, { d: 'x', c: null }], email: 'x@y.z' } }) };
    const stored = await store.append([
      makeEventBody(),
      odd,
      JSON.parse(`{"__proto__": {"x": 1}, ${JSON.stringify(makeEventBody()).slice(1)}`),
    ]);
    const raw = openSqlite(store.path, { readonly: true });
    const rows = raw.prepare('SELECT body, hash FROM audit_events ORDER BY pos').all() as Array<{
      body: string;
      hash: string;
    }>;
    raw.close();
    expect(rows.map((r) => r.body)).toEqual(stored.map((e) => eventBody(e)));
    expect(rows.map((r) => r.hash)).toEqual(stored.map((e) => e.hash));
    expect(Object.hasOwn(stored[2]!, '__proto__')).toBe(true);
    expect(await store.verify()).toMatchObject({ ok: true, checked: 3 });
    await store.close();
  });
});
