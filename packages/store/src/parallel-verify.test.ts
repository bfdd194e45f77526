import { copyFileSync, existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openSqlite, type SqliteDatabase } from './sqlite-driver';
import { makeEventBody } from './testing';

// The worker threads exist only in the built package, so this suite uses dist/ as a user would.
const DIST = new URL('../dist/index.js', import.meta.url);
type StoreModule = typeof import('./index');
let store: StoreModule;
let path: string;

beforeAll(async () => {
  if (!existsSync(DIST))
    throw new Error('packages/store is not built: run `pnpm build` first (pnpm test does)');
  store = (await import(DIST.href)) as StoreModule;
  path = join(await mkdtemp(join(tmpdir(), 'mg-parallel-')), 'audit.db');
  const a = store.openSqliteStore(path, { stream: 'a' });
  const b = store.openSqliteStore(path, { stream: 'b' });
  for (let i = 0; i < 30; i++) {
    await a.append(Array.from({ length: 60 }, () => makeEventBody()));
    await b.append(Array.from({ length: 40 }, () => makeEventBody()));
  }
  await a.close();
  await b.close();
});

async function verifyCopy(change?: (sql: SqliteDatabase) => void) {
  const copy = join(await mkdtemp(join(tmpdir(), 'mg-parallel-copy-')), 'audit.db');
  // The writers are closed: the file holds the whole trail (its WAL was checkpointed away).
  copyFileSync(path, copy);
  if (change) {
    const sql = openSqlite(copy);
    change(sql);
    sql.close();
  }
  const reader = store.openSqliteStore(copy, { readonly: true, parallelVerifyFrom: 1000 });
  const report = await reader.verify();
  await reader.close();
  return report;
}

describe('parallel verification (worker threads)', () => {
  it('verifies two interleaved streams across ranges', async () => {
    expect(await verifyCopy()).toMatchObject({
      ok: true,
      checked: 3000,
      threads: Math.min(availableParallelism(), 4),
      streams: [
        { stream: 'a', events: 1800 },
        { stream: 'b', events: 1200 },
      ],
    });
  });

  it.each([
    [
      'an edit inside the second range',
      'UPDATE audit_events SET body = replace(body, \'"allow"\', \'"deny"\') WHERE pos = 2400',
      'edited',
    ],
    [
      'an edit at the first event of a range',
      'UPDATE audit_events SET body = replace(body, \'"allow"\', \'"deny"\') WHERE pos = 1501',
      'edited',
    ],
    ['a deletion at the seam', 'DELETE FROM audit_events WHERE pos = 1501', 'missing'],
  ])('finds %s', async (_name, sql, kind) => {
    const report = await verifyCopy((db) => db.exec(sql));
    expect(report.ok).toBe(false);
    expect(report.problem?.kind).toBe(kind);
  });
});
