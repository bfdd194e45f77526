import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  rmdirSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { AuditEventBody } from '@meshguard/core';
import * as core from '@meshguard/core/internal';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { claimJournalLock, journalDir, recoverJournals } from './journal-files';
import { resolveSqliteDriver } from './sqlite-driver';
import { openSqliteStore } from './sqlite-store';
import { makeEventBody } from './testing';

vi.mock('@meshguard/core/internal', async (original) => {
  const actual = await original<typeof import('@meshguard/core/internal')>();
  return { ...actual, ensurePrivateFile: vi.fn(actual.ensurePrivateFile) };
});

const driver = resolveSqliteDriver();
const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const newPath = async (prefix: string) => join(await mkdtemp(join(tmpdir(), prefix)), 'audit.db');

/** An orphaned journal on disk, as a writer that died leaves it: a free lock and one segment. */
function orphan(dir: string, id: string, bodies: AuditEventBody[]) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, `${id}.lock`), '', { mode: 0o600 });
  writeFileSync(join(dir, `${id}.0.jsonl`), `${JSON.stringify(bodies)}\n`, { mode: 0o600 });
}

// Opens the store, journals one event and closes it, over and over: journals open and close, and
// replays and removals of the folder run, while the other processes do the same.
const CHURN = `
import { openSqliteStore } from ${JSON.stringify(pathToFileURL(DIST).href)};
const [path, name, times] = process.argv.slice(2);
for (let n = 1; n <= Number(times); n++) {
  const store = openSqliteStore(path);
  store.journal([{ v: 1, id: name + '-' + n, ts: new Date().toISOString(), type: 'decision', traceId: 'trace_churn',
    agent: { id: name, name, tags: [], tier: 'basic' }, framework: 'test', kind: 'tool',
    action: 'write:item', effect: 'allow', mode: 'enforce', decisionId: name + '-d-' + n }]);
  await store.close();
}
`;

afterEach(() => {
  vi.mocked(core.ensurePrivateFile).mockReset();
});

describe('the journal files several processes share', () => {
  it('never replays a journal being opened: its lock file is named only once it is locked', async () => {
    const path = await newPath('mg-claim-');
    const dir = journalDir(path);
    // A journal an instant into opening: its claim made, not yet locked, and (as no writer would
    // have yet, but a replay must not touch it either way) a segment.
    orphan(dir, 'opening', [makeEventBody({ id: 'opening-1' })]);
    unlinkSync(join(dir, 'opening.lock'));
    writeFileSync(join(dir, 'opening.claim'), '', { mode: 0o600 });
    const commit = vi.fn();
    expect(recoverJournals(path, driver, commit)).toBe(0);
    expect(commit).not.toHaveBeenCalled();
    expect(readdirSync(dir).sort()).toEqual(['opening.0.jsonl', 'opening.claim']);
    // Claimed, the lock has its name and is held: a replay passes it over.
    const { lock, lockPath } = claimJournalLock(dir, 'live', driver);
    expect(lockPath).toBe(join(dir, 'live.lock'));
    expect(recoverJournals(path, driver, commit)).toBe(0);
    expect(existsSync(lockPath)).toBe(true);
    lock.close();
  });

  it('removes a claim left by a process that died while opening its journal', async () => {
    const path = await newPath('mg-claim-stale-');
    const dir = journalDir(path);
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, 'fresh.claim'), '');
    writeFileSync(join(dir, 'stale.claim'), '');
    const twoMinutesAgo = new Date(Date.now() - 120_000);
    utimesSync(join(dir, 'stale.claim'), twoMinutesAgo, twoMinutesAgo);
    recoverJournals(path, driver, () => {});
    expect(readdirSync(dir)).toEqual(['fresh.claim']);
  });

  it('makes the folder again when another process removes it as a journal opens', async () => {
    const path = await newPath('mg-claim-rmdir-');
    const dir = journalDir(path);
    const actual =
      await vi.importActual<typeof import('@meshguard/core/internal')>('@meshguard/core/internal');
    // Another process's last journal closes between this one making the folder and its lock file.
    vi.mocked(core.ensurePrivateFile).mockImplementationOnce(() => {
      rmdirSync(dir);
      return actual.ensurePrivateFile(join(dir, 'x.claim'), { create: true });
    });
    const { lock, lockPath } = claimJournalLock(dir, 'again', driver);
    expect(existsSync(lockPath)).toBe(true);
    lock.close();
  });

  it('replays past a writer that closed after the replay listed the folder', async () => {
    const path = await newPath('mg-replay-closed-');
    const dir = journalDir(path);
    orphan(dir, 'first', [makeEventBody({ id: 'first-1' })]);
    orphan(dir, 'second', [makeEventBody({ id: 'second-1' })]);
    orphan(dir, 'third', [makeEventBody({ id: 'third-1' })]);
    const committed: string[] = [];
    recoverJournals(path, driver, (lines) => {
      committed.push(...lines.flatMap((entry) => entry.events.map((body) => body.id)));
      if (committed.length > 1) return;
      // While the first is replayed, the writers of the others close: one has removed its
      // segment and not yet its lock (it died there), the other has removed both.
      const [a, b] = ['first', 'second', 'third'].filter((id) => `${id}-1` !== committed[0]);
      unlinkSync(join(dir, `${a}.0.jsonl`));
      unlinkSync(join(dir, `${b}.0.jsonl`));
      unlinkSync(join(dir, `${b}.lock`));
    });
    expect(committed).toHaveLength(1);
    expect(existsSync(dir)).toBe(false);
  });

  it('keeps every event and one whole chain while processes open and close journals on one file', async () => {
    if (!existsSync(DIST))
      throw new Error('packages/store is not built: run `pnpm build` first (pnpm test does)');
    const path = await newPath('mg-churn-');
    const script = join(dirname(path), 'churn.mjs');
    writeFileSync(script, CHURN);
    const times = 15;
    const run = (name: string) =>
      new Promise<string>((resolve) => {
        const child = spawn(process.execPath, [script, path, name, String(times)], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (chunk) => {
          stderr += chunk;
        });
        child.on('exit', (code) => resolve(`${name}: ${code} ${stderr}`.trim()));
      });
    const names = ['a', 'b', 'c', 'd'];
    expect(await Promise.all(names.map(run))).toEqual(names.map((name) => `${name}: 0`));
    const store = openSqliteStore(path, { readonly: true });
    expect(store.count({ traceId: 'trace_churn' })).toBe(names.length * times);
    expect(await store.verify()).toMatchObject({ ok: true, checked: names.length * times });
    await store.close();
    expect(existsSync(journalDir(path))).toBe(false);
  }, 60_000);
});
