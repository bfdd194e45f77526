import { spawn } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditStore } from '@meshguard/core';
import { describe, expect, it } from 'vitest';
import { makeEventBody } from './testing';
import { CHECKPOINTER_FROM } from './wal-checkpointer';

// The checkpoint worker exists only in the built package, so this suite uses dist/ as a user would.
const DIST = new URL('../dist/index.js', import.meta.url);
type StoreModule = typeof import('./index');

async function load(): Promise<StoreModule> {
  if (!existsSync(DIST))
    throw new Error('packages/store is not built: run `pnpm build` first (pnpm test does)');
  return (await import(DIST.href)) as StoreModule;
}

async function appendMany(store: AuditStore, n: number) {
  for (let i = 0; i < n; i += 500)
    await store.append(Array.from({ length: Math.min(500, n - i) }, () => makeEventBody()));
}

// Appends past CHECKPOINTER_FROM events, so the checkpointer runs, then simply ends: no close().
const ENDS_WITHOUT_CLOSE = `
import { openSqliteStore } from ${JSON.stringify(DIST.href)};
const store = openSqliteStore(process.argv[2], { journal: false });
const agent = { id: 'a', name: 'a', tags: [], tier: 'basic' };
let n = 0;
while (n < ${CHECKPOINTER_FROM + 2_000}) {
  await store.append(Array.from({ length: 500 }, () => ({ v: 1, id: 'e-' + n++, ts: new Date().toISOString(),
    type: 'decision', traceId: 'trace_end', agent, framework: 'test', kind: 'tool', action: 'write:x',
    effect: 'allow', mode: 'enforce', decisionId: 'd-' + n })));
}
`;

describe('background checkpoints', () => {
  it('never keep a process alive that ends without closing its store', async () => {
    await load();
    const dir = await mkdtemp(join(tmpdir(), 'mg-ckpt-end-'));
    // A script file, as an application runs (`node -e` ends its process differently).
    const script = join(dir, 'ends-without-close.mjs');
    writeFileSync(script, ENDS_WITHOUT_CLOSE);
    const child = spawn(process.execPath, [script, join(dir, 'audit.db')], { stdio: 'inherit' });
    const ended = await Promise.race([
      new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code))),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000)),
    ]);
    if (ended === 'hung') child.kill('SIGKILL');
    expect(ended).toBe(0);
  }, 30_000);

  it('copy the WAL into the database file while appends go on, and stop with the store', async () => {
    const { openSqliteStore } = await load();
    const path = join(await mkdtemp(join(tmpdir(), 'mg-checkpoint-')), 'audit.db');
    const store = openSqliteStore(path);
    await appendMany(store, CHECKPOINTER_FROM + 10_000);
    // Far below the 40 MiB at which the writer checkpoints: pages in the file came from the worker
    // (given a moment, and a nudge by the next append, on a busy machine).
    let appended = CHECKPOINTER_FROM + 10_000;
    for (let tries = 0; statSync(path).size < 1_000_000 && tries < 60; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await store.append([makeEventBody()]);
      appended++;
    }
    expect(statSync(path).size).toBeGreaterThan(1_000_000);
    expect(await store.verify()).toMatchObject({ ok: true, checked: appended });
    await store.close();
    // The last connection to close checkpoints and removes the WAL: the worker's had closed.
    expect(existsSync(`${path}-wal`)).toBe(false);
  });

  it('run beside several writers of one file, whose chain stays whole', async () => {
    const { openSqliteStore } = await load();
    const path = join(await mkdtemp(join(tmpdir(), 'mg-checkpoint-')), 'audit.db');
    const a = openSqliteStore(path);
    const b = openSqliteStore(path);
    const rounds = Math.ceil((CHECKPOINTER_FROM + 4_000) / 500);
    for (let round = 0; round < rounds; round++) {
      await Promise.all([a.append(Array.from({ length: 500 }, () => makeEventBody())), appendMany(b, 500)]);
    }
    expect(await a.verify()).toMatchObject({
      ok: true,
      checked: rounds * 1_000,
      streams: [{ stream: 'main', lastSeq: rounds * 1_000 }],
    });
    await Promise.all([a.close(), b.close()]);
    expect(existsSync(`${path}-wal`)).toBe(false);
  });

  it('are off when asked, and for a small trail', async () => {
    const { openSqliteStore } = await load();
    const dir = await mkdtemp(join(tmpdir(), 'mg-checkpoint-'));
    // Nothing copied back from the WAL: each file is about as big as a new, empty one (its
    // tables' and indexes' first pages).
    const empty = openSqliteStore(join(dir, 'empty.db'));
    await empty.close();
    const limit = statSync(join(dir, 'empty.db')).size + 20_000;
    const off = openSqliteStore(join(dir, 'off.db'), { backgroundCheckpoints: false });
    const small = openSqliteStore(join(dir, 'small.db'));
    await appendMany(off, CHECKPOINTER_FROM + 10_000);
    await appendMany(small, CHECKPOINTER_FROM - 500);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(statSync(join(dir, 'off.db')).size).toBeLessThan(limit);
    expect(statSync(join(dir, 'small.db')).size).toBeLessThan(limit);
    await off.close();
    await small.close();
  });
});
