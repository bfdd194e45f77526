import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStore } from '@meshguard/core';
import { describe, expect, it } from 'vitest';
import { openSqliteStore } from './sqlite-store';
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
    const Database = (await import('better-sqlite3')).default;
    const raw = new Database(path);
    raw.prepare("UPDATE meshguard_meta SET value = '99' WHERE key = 'schema_version'").run();
    raw.close();
    expect(() => openSqliteStore(path)).toThrow(/written by a newer MeshGuard \(schema 99/);
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
    await new Promise((resolve) => writer.stdout!.once('data', resolve));
    const reader = openSqliteStore(path, { readonly: true });
    const reports = [];
    for (let i = 0; i < 30; i++) {
      reports.push(await reader.verify());
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    writer.kill('SIGKILL');
    await reader.close();
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
