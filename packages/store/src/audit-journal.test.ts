import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createEmbeddedGuard, createPolicyEngine, parsePolicies } from '@meshguard/core';
import { canJournal } from '@meshguard/core/internal';
import { describe, expect, it } from 'vitest';
import { journalDir } from './journal-files';
import { openSqlite } from './sqlite-driver';
import { openSqliteStore, type SqliteStoreOptions } from './sqlite-store';
import { makeEventBody } from './testing';

const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const INTERNAL_DIST = fileURLToPath(new URL('../dist/internal.js', import.meta.url));
const CORE_DIST = fileURLToPath(new URL('../../core/dist/index.js', import.meta.url));

function requireBuilt() {
  if (!existsSync(DIST) || !existsSync(CORE_DIST)) {
    throw new Error('packages/store or packages/core is not built: run `pnpm build` first (pnpm test does)');
  }
}

const newPath = async (prefix: string) => join(await mkdtemp(join(tmpdir(), prefix)), 'audit.db');

/** A writable store on a file: it journals. */
function openJournaling(path: string, options?: SqliteStoreOptions) {
  const store = openSqliteStore(path, options);
  if (!canJournal(store)) throw new Error(`the store on ${path} does not journal`);
  return store;
}

// Journals events as fast as it can and prints each id once `journal()` returned, that is, once
// the store promised the event would survive a crash. It never stops on its own.
const JOURNAL_WRITER = `
import { openSqliteStore } from ${JSON.stringify(pathToFileURL(DIST).href)};
const store = openSqliteStore(process.argv[1]);
let n = 0;
const burst = () => {
  const ids = [];
  for (let k = 0; k < 25; k++) {
    n++;
    store.journal([{ v: 1, id: 'j-' + n, ts: new Date().toISOString(), type: 'decision', traceId: 'trace_journal',
      agent: { id: 'w', name: 'writer', tags: [], tier: 'basic' }, framework: 'test', kind: 'tool',
      action: 'write:item', effect: 'allow', mode: 'enforce', decisionId: 'd-' + n, context: { n, email: 'a@b.c' } }]);
    ids.push('j-' + n);
  }
  process.stdout.write(ids.join('\\n') + '\\n');
  setImmediate(burst);
};
burst();
`;

// The default guard over this store: checks, then ends without closing anything.
const DURABLE_GUARD = `
import { createGuard, parsePolicies } from ${JSON.stringify(pathToFileURL(CORE_DIST).href)};
import { openSqliteStore } from ${JSON.stringify(pathToFileURL(DIST).href)};
const policies = parsePolicies('name: p\\nversion: "1"\\nrules:\\n  - effect: allow\\n    actions: ["read:*"]\\n');
const guard = await createGuard({ policies, store: openSqliteStore(process.argv[2]) });
const agent = { id: 'durable', name: 'durable', tags: [], tier: 'basic' };
for (let i = 0; i < 300; i++) {
  const decision = await guard.check({ action: 'read:item', agent, traceId: 'trace_durable', context: { i } });
  if (!decision.allowed) throw new Error(decision.reason);
}
process.stdout.write('checked\\n');
`;

// Holds the store's write lock from another process until a line arrives on its stdin.
const LOCK_HOLDER = `
import { openSqlite } from ${JSON.stringify(pathToFileURL(INTERNAL_DIST).href)};
const db = openSqlite(process.argv[2]);
db.exec('BEGIN EXCLUSIVE');
process.stdout.write('locked\\n');
process.stdin.once('data', () => { db.exec('ROLLBACK'); db.close(); process.exit(0); });
`;

// One of two writers on one file and stream: journals 2,000 events in bursts, then closes.
const TWO_WRITERS = `
import { openSqliteStore } from ${JSON.stringify(pathToFileURL(DIST).href)};
const [path, name] = process.argv.slice(2);
const store = openSqliteStore(path);
for (let n = 1; n <= 2000; n++) {
  store.journal([{ v: 1, id: name + '-' + n, ts: new Date().toISOString(), type: 'decision', traceId: 'trace_two',
    agent: { id: name, name, tags: [], tier: 'basic' }, framework: 'test', kind: 'tool',
    action: 'write:item', effect: 'allow', mode: 'enforce', decisionId: name + '-d-' + n }]);
  if (n % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
}
await store.close();
`;

describe('the sqlite store journal', () => {
  it('commits journaled events on the chain, redacted once, and leaves no files once closed', async () => {
    const path = await newPath('mg-journal-');
    const store = openJournaling(path);
    const journaled = makeEventBody({ context: { email: 'ann@example.com', amount: 5 } });
    store.journal([journaled]);
    expect(readdirSync(journalDir(path)).some((f) => f.endsWith('.jsonl'))).toBe(true);
    // The same context appended directly: redaction is the same, so it ran once on each path.
    const [direct] = await store.append([
      makeEventBody({ context: { email: 'ann@example.com', amount: 5 } }),
    ]);
    await store.drain();
    const [stored] = (await store.query({ traceId: 'trace_a', order: 'asc', limit: 10 })).events.filter(
      (e) => e.id === journaled.id,
    );
    expect(stored!.context).toEqual(direct!.context);
    expect(String(stored!.context!.email)).toMatch(/^redacted:sha256:/);
    expect((await store.verify()).ok).toBe(true);
    await store.close();
    expect(existsSync(journalDir(path))).toBe(false);
  });

  it('is a capability of writable stores on a file only (the others append), with its backlog', async () => {
    const path = await newPath('mg-journal-which-');
    const writable = openJournaling(path);
    const off = openSqliteStore(await newPath('mg-journal-off-'), { journal: false });
    const readonly = openSqliteStore(path, { readonly: true });
    const memory = openSqliteStore(':memory:');
    expect([writable, off, readonly, memory].map(canJournal)).toEqual([true, false, false, false]);
    expect('journal' in off || 'drain' in off || 'journalFailure' in off).toBe(false);
    // The backlog: what is journaled and not committed yet (the gateway's queue depth).
    writable.journal([makeEventBody(), makeEventBody()]);
    expect(writable.journalBacklog).toBe(2);
    await writable.drain();
    expect(writable.journalBacklog).toBe(0);
    await Promise.all([writable, off, readonly, memory].map((store) => store.close()));
  });

  it('commits on this thread until its worker is up, then hands over: one chain, in journal order', async () => {
    requireBuilt(); // the built store: from sources there is no worker
    const built = (await import(pathToFileURL(DIST).href)) as typeof import('./sqlite-store');
    const path = await newPath('mg-journal-handover-');
    const store = built.openSqliteStore(path);
    if (!canJournal(store)) throw new Error('a writable store on a file journals');
    const ids: string[] = [];
    const started = Date.now();
    // Long enough for the worker to start even on a busy machine, draining now and then.
    for (let i = 0; Date.now() - started < 1500 || i < 200; i++) {
      const body = makeEventBody({ traceId: 'trace_handover' });
      ids.push(body.id);
      store.journal([body]);
      if (i % 50 === 0) await store.drain();
      else await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await store.drain();
    expect([...store.iterate({ traceId: 'trace_handover', order: 'asc' })].map((e) => e.id)).toEqual(ids);
    expect((await store.verify()).ok).toBe(true);
    await store.close();
  }, 30_000);

  it('loses no acknowledged event when the writer is killed with SIGKILL: the next open replays its journal', async () => {
    requireBuilt();
    const path = await newPath('mg-journal-crash-');
    const child = spawn(process.execPath, ['--input-type=module', '-e', JOURNAL_WRITER, path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const acknowledged: string[] = [];
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_c, signal) => resolve(signal)),
    );
    try {
      for await (const line of createInterface({ input: child.stdout! })) {
        if (line) acknowledged.push(line);
        if (acknowledged.length >= 5_000) break;
      }
    } finally {
      child.kill('SIGKILL');
    }
    expect(await exited).toBe('SIGKILL');
    // Killed with events journaled and not all committed: they wait in the journal.
    expect(readdirSync(journalDir(path)).some((f) => f.endsWith('.jsonl'))).toBe(true);

    const store = openSqliteStore(path);
    const stored = new Set([...store.iterate({ order: 'asc' })].map((e) => e.id));
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    expect((await store.verify()).ok).toBe(true);
    expect(existsSync(journalDir(path))).toBe(false);
    const sample = [...store.iterate({ traceId: 'trace_journal' })][0]!;
    expect(String(sample.context!.email)).toMatch(/^redacted:sha256:/);
    await store.close();
  }, 60_000);

  it('holds a writer back once 10,000 events wait for their commit', async () => {
    const path = await newPath('mg-journal-behind-');
    const store = openJournaling(path);
    // Written without yielding, so nothing can be committed meanwhile.
    const returned = Array.from({ length: 101 }, () =>
      store.journal(Array.from({ length: 100 }, () => makeEventBody({ traceId: 'trace_behind' }))),
    );
    expect(returned.slice(0, 100).every((r) => r === undefined)).toBe(true);
    expect(returned[100]).toBeInstanceOf(Promise);
    await returned[100];
    expect(store.count({ traceId: 'trace_behind' })).toBe(10_100);
    await store.close();
  });

  it('adds one exit listener to the process however many journals are open', async () => {
    const stores = await Promise.all(
      Array.from({ length: 12 }, async () => openJournaling(await newPath('mg-journal-many-'))),
    );
    stores[0]!.journal([makeEventBody()]);
    const before = [process.listenerCount('exit'), process.listenerCount('beforeExit')];
    for (const store of stores) store.journal([makeEventBody()]);
    expect([process.listenerCount('exit'), process.listenerCount('beforeExit')]).toEqual(before);
    await Promise.all(stores.map((store) => store.close()));
  });

  it('syncs each write with synchronous: full, and commits the same way', async () => {
    const path = await newPath('mg-journal-full-');
    const store = openJournaling(path, { synchronous: 'full' });
    for (let i = 0; i < 20; i++) store.journal([makeEventBody({ traceId: 'trace_full' })]);
    await store.drain();
    expect(store.count({ traceId: 'trace_full' })).toBe(20);
    await store.close();
  });

  it('keeps one whole chain when two processes journal into one file at once', async () => {
    requireBuilt();
    const path = await newPath('mg-journal-two-');
    const dir = dirname(path);
    const script = join(dir, 'writer.mjs');
    writeFileSync(script, TWO_WRITERS);
    const run = (name: string) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [script, path, name], { stdio: 'inherit' });
        child.on('exit', (code) => resolve(code));
      });
    expect(await Promise.all([run('a'), run('b')])).toEqual([0, 0]);
    const store = openSqliteStore(path, { readonly: true });
    expect(store.count({ traceId: 'trace_two' })).toBe(2 * 2_000);
    expect(await store.verify()).toMatchObject({ ok: true, checked: 2 * 2_000 });
    await store.close();
    expect(existsSync(journalDir(path))).toBe(false);
  }, 60_000);

  it('closes with everything committed when another process held the write lock past one busy timeout', async () => {
    requireBuilt();
    const path = await newPath('mg-journal-close-busy-');
    const store = openJournaling(path);
    store.journal([makeEventBody({ traceId: 'trace_close_busy' })]);
    await store.drain();
    const script = join(dirname(path), 'holder.mjs');
    writeFileSync(script, LOCK_HOLDER);
    const holder = spawn(process.execPath, [script, path], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    for (let i = 0; i < 50; i++) store.journal([makeEventBody({ traceId: 'trace_close_busy' })]);
    const closing = store.close();
    // The first commit fails once the store's busy timeout (5 s) is out; the close goes on waiting.
    const started = Date.now();
    while (!store.journalFailure && Date.now() - started < 20_000)
      await new Promise((r) => setTimeout(r, 50));
    expect(store.journalFailure?.message).toMatch(/could not commit its journal/);
    holder.stdin.write('release\n');
    await closing;
    expect(existsSync(journalDir(path))).toBe(false);
    const reader = openSqliteStore(path, { readonly: true });
    expect(reader.count({ traceId: 'trace_close_busy' })).toBe(51);
    await reader.close();
  }, 60_000);

  it('reports failing commits, so a guard denies until they succeed again', async () => {
    const path = await newPath('mg-journal-fail-');
    const store = openJournaling(path);
    const guard = createEmbeddedGuard({
      engine: createPolicyEngine(
        parsePolicies('name: p\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["read:*"]\n'),
      ),
      store,
    });
    const agent = { id: 'a', name: 'a', tags: [], tier: 'basic' as const };
    expect((await guard.check({ action: 'read:x', agent })).allowed).toBe(true);
    await guard.settled();
    // Another connection holds the write lock past the store's busy timeout (5 s).
    const blocker = openSqlite(path);
    blocker.exec('BEGIN EXCLUSIVE');
    store.journal([makeEventBody({ traceId: 'trace_blocked' })]);
    const started = Date.now();
    while (!store.journalFailure && Date.now() - started < 20_000)
      await new Promise((r) => setTimeout(r, 50));
    expect(store.journalFailure?.message).toMatch(/could not commit its journal/);
    expect(await guard.check({ action: 'read:x', agent })).toMatchObject({
      allowed: false,
      reason: expect.stringContaining('could not commit its journal'),
    });
    blocker.exec('ROLLBACK');
    blocker.close();
    while (store.journalFailure && Date.now() - started < 40_000) await new Promise((r) => setTimeout(r, 50));
    expect(store.journalFailure).toBeUndefined();
    expect((await guard.check({ action: 'read:x', agent })).allowed).toBe(true);
    await guard.close();
    expect(store.count({ traceId: 'trace_blocked' })).toBe(1);
    await store.close();
  }, 60_000);

  it('does not replay a journal whose writer is alive', async () => {
    const path = await newPath('mg-journal-live-');
    const writer = openJournaling(path);
    writer.journal([makeEventBody()]);
    const files = readdirSync(journalDir(path));
    const reader = openSqliteStore(path);
    // The reader's open left the live journal alone (its files would be gone if it had replayed it).
    expect(readdirSync(journalDir(path))).toEqual(expect.arrayContaining(files));
    writer.journal([makeEventBody()]);
    await writer.close();
    expect(reader.count()).toBe(2);
    await reader.close();
  });

  it('replays what a crash left, skipping a torn last line', async () => {
    const path = await newPath('mg-journal-torn-');
    openSqliteStore(path, { journal: false }).close();
    const dir = journalDir(path);
    mkdirSync(dir);
    // A journal as a killed writer leaves it: a lock nobody holds, two whole lines, half a third.
    openSqlite(join(dir, 'dead.lock')).close();
    const lines = [[makeEventBody()], [makeEventBody(), makeEventBody()]].map((bodies) =>
      JSON.stringify(bodies),
    );
    writeFileSync(join(dir, 'dead.0.jsonl'), `${lines.join('\n')}\n${lines[1]!.slice(0, 40)}`);
    const store = openSqliteStore(path);
    expect(store.count()).toBe(3);
    expect((await store.verify()).ok).toBe(true);
    expect(existsSync(dir)).toBe(false);
    await store.close();
  });

  it('lets the default guard end its process without closing: every decision is committed', async () => {
    requireBuilt();
    const path = await newPath('mg-journal-exit-');
    // A script file, as an application runs (`node -e` ends its process differently).
    const script = join(dirname(path), 'guard.mjs');
    writeFileSync(script, DURABLE_GUARD);
    const child = spawn(process.execPath, [script, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout!.on('data', (chunk) => {
      output += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    expect(output).toBe('checked\n');
    // Read-only, as the CLI reads: nothing was left waiting in a journal.
    const reader = openSqliteStore(path, { readonly: true });
    expect([...reader.iterate({ traceId: 'trace_durable' })]).toHaveLength(300);
    await reader.close();
    expect(existsSync(journalDir(path))).toBe(false);
  }, 30_000);
});
