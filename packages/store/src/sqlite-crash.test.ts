import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openSqliteStore } from './sqlite-store';
import { makeEventBody } from './testing';
import { CHECKPOINTER_FROM } from './wal-checkpointer';

const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));

// The writer: appends batches as fast as it can and prints every id once its append resolved
// (that is, once the transaction committed). It never stops on its own.
const WRITER = `
import { openSqliteStore } from ${JSON.stringify(pathToFileURL(DIST).href)};
const store = openSqliteStore(process.argv[1]);
let n = 0;
for (;;) {
  const batch = [];
  for (let i = 0; i < 1 + (n % 7); i++) {
    n++;
    batch.push({ v: 1, id: 'crash-' + n, ts: new Date().toISOString(), type: 'decision', traceId: 'trace_crash',
      agent: { id: 'w', name: 'writer', tags: [], tier: 'basic' }, framework: 'test', kind: 'tool',
      action: 'write:item', effect: 'allow', mode: 'enforce', decisionId: 'd-' + n, context: { n, email: 'a@b.c' } });
  }
  const stored = await Promise.all([store.append(batch.slice(0, 1)), store.append(batch.slice(1))]);
  process.stdout.write(stored.flat().map((e) => e.id).join('\\n') + '\\n');
}
`;

/** Kills the writer after `after` acknowledged events, then checks what it left behind. */
async function killMidStream(after: number) {
  if (!existsSync(DIST))
    throw new Error('packages/store is not built: run `pnpm build` first (pnpm test does)');
  const path = join(await mkdtemp(join(tmpdir(), 'mg-crash-')), 'audit.db');
  const child = spawn(process.execPath, ['--input-type=module', '-e', WRITER, path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const acknowledged: string[] = [];
  const lines = createInterface({ input: child.stdout! });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  try {
    for await (const line of lines) {
      if (line) acknowledged.push(line);
      if (acknowledged.length >= after) break;
    }
  } finally {
    // Mid-stream: the writer is in the middle of appending (and is never left running).
    child.kill('SIGKILL');
  }
  expect(await exited).toBe('SIGKILL');
  const checkpointed = statSync(path).size;

  const store = openSqliteStore(path);
  const stored = new Set([...store.iterate({ order: 'asc' })].map((e) => e.id));
  const lost = acknowledged.filter((id) => !stored.has(id));
  expect(lost).toEqual([]);
  expect(stored.size).toBeGreaterThanOrEqual(acknowledged.length);
  const report = await store.verify();
  expect(report).toMatchObject({ ok: true, checked: stored.size });

  const [next] = await store.append([makeEventBody()]);
  expect(next!.seq).toBe(stored.size + 1);
  expect((await store.verify()).ok).toBe(true);
  await store.close();
  return { checkpointed };
}

describe('sqlite store crash safety', () => {
  it('keeps every acknowledged event when the writer is killed with SIGKILL, and the chain resumes', async () => {
    await killMidStream(3_000);
  });

  it('keeps them too when it is killed while its background checkpointer copies the WAL', async () => {
    // Past CHECKPOINTER_FROM events a worker thread checkpoints; these small events never fill
    // the 40 MiB at which the writer checkpoints, so pages in the database file came from it.
    const { checkpointed } = await killMidStream(CHECKPOINTER_FROM + 12_000);
    expect(checkpointed).toBeGreaterThan(1_000_000);
  });
});

const CORE_DIST = fileURLToPath(new URL('../../core/dist/index.js', import.meta.url));

// A guard in batched durability over this store: checks as fast as it can, then ends without
// closing anything, as a script that simply runs to its end would.
const BATCHED_GUARD = `
import { createGuard, parsePolicies } from ${JSON.stringify(pathToFileURL(CORE_DIST).href)};
import { openSqliteStore } from ${JSON.stringify(pathToFileURL(DIST).href)};
const policies = parsePolicies('name: p\\nversion: "1"\\nrules:\\n  - effect: allow\\n    actions: ["read:*"]\\n');
const guard = await createGuard({
  policies,
  store: openSqliteStore(process.argv[1]),
  audit: { durability: 'batched', batchMs: 50 },
});
const agent = { id: 'batch', name: 'batch', tags: [], tier: 'basic' };
for (let i = 0; i < 500; i++) {
  const decision = await guard.check({ action: 'read:item', agent, traceId: 'trace_batched', context: { i } });
  if (!decision.allowed) throw new Error(decision.reason);
}
process.stdout.write('checked\\n');
`;

describe('a batched guard over the sqlite store', () => {
  it('commits its queue when the process ends without closing the guard', async () => {
    if (!existsSync(DIST) || !existsSync(CORE_DIST)) {
      throw new Error(
        'packages/store or packages/core is not built: run `pnpm build` first (pnpm test does)',
      );
    }
    const path = join(await mkdtemp(join(tmpdir(), 'mg-batched-')), 'audit.db');
    const child = spawn(process.execPath, ['--input-type=module', '-e', BATCHED_GUARD, path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout!.on('data', (chunk) => {
      output += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    expect(output).toBe('checked\n');
    const store = openSqliteStore(path);
    expect([...store.iterate({ traceId: 'trace_batched' })]).toHaveLength(500);
    expect((await store.verify()).ok).toBe(true);
    await store.close();
  }, 30_000);
});
