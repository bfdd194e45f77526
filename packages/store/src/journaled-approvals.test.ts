import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type ApprovalRequest,
  createEmbeddedGuard,
  createPolicyEngine,
  parsePolicies,
} from '@meshguard/core';
import { canJournal } from '@meshguard/core/internal';
import { describe, expect, it } from 'vitest';
import { makeApprovalRequest } from './approval-store-suite';
import { journalDir } from './journal-files';
import { journalLine } from './journal-line';
import { readPendingEvents } from './pending-journals';
import { openSqlite } from './sqlite-driver';
import { openSqliteStore } from './sqlite-store';
import { makeEventBody } from './testing';

const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));

const newPath = async (prefix: string) => join(await mkdtemp(join(tmpdir(), prefix)), 'audit.db');

/** A writable store on a file: it journals its events and its new approval requests. */
function openJournaling(path: string) {
  const store = openSqliteStore(path);
  if (!canJournal(store)) throw new Error(`the store on ${path} does not journal`);
  return store;
}

/** Rows of approval_requests with this id, read as another connection sees the file. */
function rowsWithId(path: string, id: string): number {
  const db = openSqlite(path, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM approval_requests WHERE id = ?').get(id) as { n: number })
      .n;
  } finally {
    db.close();
  }
}

/** An embedded guard over `store` whose one rule asks a person about every `write:*`, for reason `reason` (YAML). */
function askingGuard(store: ReturnType<typeof openSqliteStore>, reason: string) {
  const policy = `name: p\nversion: "1"\nrules:\n  - effect: require_approval\n    actions: ["write:*"]\n    reason: ${reason}\n`;
  return createEmbeddedGuard({ engine: createPolicyEngine(parsePolicies(policy)), store });
}

const agent = { id: 'a', name: 'a', tags: [], tier: 'basic' as const };

// Creates approval requests as the guard does (each followed by its approval_requested event),
// prints them once every create has resolved, then waits to be killed. Its commits cannot happen:
// the test holds the database's write lock.
const CREATOR = `
import { openSqliteStore } from ${JSON.stringify(pathToFileURL(DIST).href)};
const store = openSqliteStore(process.argv[1]);
const agent = { id: 'crash-bot', name: 'Crash Bot', tags: ['support'], tier: 'basic' };
const created = [];
for (let n = 1; n <= 40; n++) {
  const at = new Date(Date.UTC(2026, 0, 5, 10, 0, n)).toISOString();
  const request = {
    id: 'apr_crash_' + n, decisionId: 'd-crash-' + n, traceId: 'trace_crash_approvals', agent,
    framework: 'test', kind: 'tool', action: 'write:refund',
    arguments: { amount: 100 + n, password: 'hunter2', note: 'ünïcödé ✓ "quoted" \\\\ nul\\u0000' },
    argumentsHash: 'b'.repeat(64), reason: 'refunds need a person', status: 'pending',
    requestedAt: at, expiresAt: '2026-01-05T11:00:00.000Z', approvers: ['finance'], notify: [],
  };
  await store.createApproval(request);
  store.journal([{ v: 1, id: '00000000-0000-7000-8000-crash' + String(n).padStart(7, '0'), ts: at,
    type: 'approval_requested', traceId: request.traceId, agent, framework: 'test', kind: 'tool',
    action: 'write:refund', effect: 'require_approval', mode: 'enforce', decisionId: request.decisionId,
    approvalId: request.id, reason: 'refunds need a person' }]);
  created.push(request);
}
process.stdout.write(JSON.stringify(created) + '\\n');
setInterval(() => {}, 1000);
`;

describe('approval requests through the SQLite store journal', () => {
  it('loses no created request when the writer is killed before its commit: the next open replays them, arguments and all', async () => {
    if (!existsSync(DIST))
      throw new Error('packages/store is not built: run `pnpm build` first (pnpm test does)');
    const path = await newPath('mg-approvals-crash-');
    openSqliteStore(path, { journal: false }).close();
    // The write lock, held: the child journals, and none of its commits can happen.
    const blocker = openSqlite(path);
    blocker.exec('BEGIN IMMEDIATE');
    let created: ApprovalRequest[] = [];
    try {
      const child = spawn(process.execPath, ['--input-type=module', '-e', CREATOR, path], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        child.on('exit', (_code, signal) => resolve(signal)),
      );
      try {
        for await (const line of createInterface({ input: child.stdout! })) {
          created = JSON.parse(line) as ApprovalRequest[];
          break;
        }
      } finally {
        child.kill('SIGKILL');
      }
      expect(await exited).toBe('SIGKILL');
    } finally {
      blocker.exec('ROLLBACK');
      blocker.close();
    }
    expect(created).toHaveLength(40);
    // Nothing was committed: the requests wait in the journal, beside their events.
    expect(rowsWithId(path, created[0]!.id)).toBe(0);
    const dir = journalDir(path);
    const journal = readdirSync(dir)
      .filter((f) => f.endsWith('.jsonl'))
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('');
    expect(journal).toContain('hunter2'); // the arguments as they are: the file is private (0600)
    // The CLI's view of what is pending lists the events only.
    expect(readPendingEvents(path).map((e) => e.approvalId)).toEqual(created.map((r) => r.id));

    const store = openSqliteStore(path);
    for (const request of created) expect(await store.getApproval(request.id)).toStrictEqual(request);
    expect(
      (await store.listApprovals({ traceId: 'trace_crash_approvals', limit: 100 })).approvals,
    ).toHaveLength(40);
    const events = [...store.iterate({ traceId: 'trace_crash_approvals', order: 'asc' })];
    expect(events.map((e) => e.approvalId)).toEqual(created.map((r) => r.id));
    expect((await store.verify()).ok).toBe(true);
    expect(existsSync(dir)).toBe(false);
    await store.close();
  }, 60_000);

  it('stores a request journaled twice (a replay of a replay) once, and leaves one the table holds as it is', async () => {
    const path = await newPath('mg-approvals-twice-');
    const answered = makeApprovalRequest({ traceId: 'trace_twice' });
    const twice = makeApprovalRequest({ traceId: 'trace_twice', arguments: { amount: 7, secret: 's3cret' } });
    const setup = openSqliteStore(path, { journal: false });
    await setup.createApproval(answered);
    await setup.answerApproval(answered.id, {
      status: 'approved',
      by: 'ann',
      at: '2026-01-05T10:30:00.000Z',
    });
    await setup.close();
    // Two journals left by writers that are gone: each holds both requests, one of them twice.
    const dir = journalDir(path);
    mkdirSync(dir, { mode: 0o700 });
    for (const id of ['dead-a', 'dead-b']) {
      openSqlite(join(dir, `${id}.lock`)).close();
      const lines = [
        journalLine([], [twice], false),
        journalLine([], [answered], false),
        journalLine([], [twice], false),
      ];
      writeFileSync(join(dir, `${id}.0.jsonl`), `${lines.join('\n')}\n`, { mode: 0o600 });
    }
    const store = openSqliteStore(path);
    expect(rowsWithId(path, twice.id)).toBe(1);
    expect(rowsWithId(path, answered.id)).toBe(1);
    expect(await store.getApproval(twice.id)).toStrictEqual(twice);
    expect(await store.getApproval(answered.id)).toMatchObject({ status: 'approved', answeredBy: 'ann' });
    // And journaled again by a live store: still one row, still answered.
    await store.createApproval(twice);
    await store.createApproval(answered);
    expect((await store.listApprovals({ traceId: 'trace_twice', limit: 10 })).approvals).toHaveLength(2);
    expect(await store.getApproval(answered.id)).toMatchObject({ status: 'approved' });
    expect(existsSync(dir)).toBe(true); // the live store's own journal
    await store.close();
    expect(existsSync(dir)).toBe(false);
  });

  it("journals a guard's request in the line of its decision: one write, its approval_requested built by the store, once after any replay", async () => {
    const path = await newPath('mg-approvals-opened-');
    const store = openJournaling(path);
    const guard = askingGuard(store, '"a person looks (Bearer abcdefgh12345678)"');
    const check = { action: 'write:x', agent, traceId: 'trace_opened', context: { amount: 150 } };
    const decision = await guard.check(check);
    expect(decision.effect).toBe('require_approval');
    // One line holds the decision and the request (its arguments as they were, for the approver).
    const [file] = readdirSync(journalDir(path)).filter((f) => f.endsWith('.jsonl'));
    const lines = readFileSync(join(journalDir(path), file!), 'utf8')
      .trim()
      .split('\n');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as { opened: ApprovalRequest[]; events: Array<{ type: string }> };
    expect(line.opened.map((r) => r.id)).toEqual([decision.approval!.id]);
    expect(line.events.map((e) => e.type)).toEqual(['decision']);
    await guard.close();
    const request = await store.getApproval(decision.approval!.id);
    expect(request).toMatchObject({ status: 'pending', arguments: { amount: 150 } });
    const recorded = () => [...store.iterate({ traceId: 'trace_opened', order: 'asc' })];
    const [told, requested] = recorded();
    expect(told).toMatchObject({ type: 'decision', approvalId: request!.id });
    expect(requested).toMatchObject({
      type: 'approval_requested',
      approvalId: request!.id,
      decisionId: decision.decisionId,
      ts: request!.requestedAt,
      // The request's own uuid, so a replay records it once.
      id: request!.id.slice(4).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5'),
    });
    // Its reason is redacted like any other (the request keeps the rule's words for the approver).
    expect(requested!.reason).not.toContain('abcdefgh12345678');
    expect(request!.reason).toContain('abcdefgh12345678');
    await store.close();
    // The same line left by two writers that died before their commits: nothing twice.
    const dir = journalDir(path);
    mkdirSync(dir, { mode: 0o700 });
    for (const id of ['dead-a', 'dead-b']) {
      openSqlite(join(dir, `${id}.lock`)).close();
      writeFileSync(join(dir, `${id}.0.jsonl`), `${lines[0]}\n`, { mode: 0o600 });
    }
    const again = openSqliteStore(path);
    expect(rowsWithId(path, request!.id)).toBe(1);
    expect([...again.iterate({ traceId: 'trace_opened', order: 'asc' })].map((e) => e.type)).toEqual([
      'decision',
      'approval_requested',
    ]);
    expect((await again.verify()).ok).toBe(true);
    await again.close();
  });

  it('refuses a request the table would refuse before journaling it with its events: nothing is written', async () => {
    const path = await newPath('mg-approvals-opened-invalid-');
    const store = openJournaling(path);
    const bogus = { ...makeApprovalRequest(), status: 'bogus' } as unknown as ApprovalRequest;
    const event = makeEventBody({ traceId: 'trace_opened_invalid', approvalId: bogus.id });
    expect(() => store.journal([event], [bogus])).toThrow(/status/);
    await store.drain();
    expect(store.count({ traceId: 'trace_opened_invalid' })).toBe(0);
    expect(rowsWithId(path, bogus.id)).toBe(0);
    await store.close();
  });

  it('refuses what the table would refuse before journaling it, and passes over such a line in a replay', async () => {
    const path = await newPath('mg-approvals-invalid-');
    const store = openJournaling(path);
    const bogus = { ...makeApprovalRequest(), status: 'bogus' } as unknown as ApprovalRequest;
    await expect(store.createApproval(bogus)).rejects.toMatchObject({ code: 'validation_failed' });
    await expect(store.createApproval(makeApprovalRequest({ expiresAt: 'soon' }))).rejects.toThrow(
      /expiresAt/,
    );
    await store.close();
    // A line the table refuses (as a foreign or damaged journal could hold) fails alone.
    const dir = journalDir(path);
    mkdirSync(dir, { mode: 0o700 });
    openSqlite(join(dir, 'dead.lock')).close();
    const good = makeApprovalRequest();
    const event = makeEventBody({ traceId: 'trace_invalid' });
    const lines = [journalLine([], [bogus], false), journalLine([], [good], false), JSON.stringify([event])];
    writeFileSync(join(dir, 'dead.0.jsonl'), `${lines.join('\n')}\n`, { mode: 0o600 });
    const again = openSqliteStore(path);
    expect(rowsWithId(path, bogus.id)).toBe(0);
    expect(await again.getApproval(good.id)).toStrictEqual(good);
    expect(again.count({ traceId: 'trace_invalid' })).toBe(1);
    await again.close();
  });

  it('commits a request no later than the events journaled after it, as other connections see them', async () => {
    const path = await newPath('mg-approvals-order-');
    const store = openJournaling(path);
    const reader = openSqlite(path, { readonly: true });
    const snapshot = reader.transaction(() => ({
      requests: new Set(
        (reader.prepare('SELECT id FROM approval_requests').all() as Array<{ id: string }>).map((r) => r.id),
      ),
      told: (
        reader
          .prepare(
            "SELECT body ->> '$.approvalId' AS id FROM audit_events WHERE body ->> '$.approvalId' IS NOT NULL",
          )
          .all() as Array<{ id: string }>
      ).map((r) => r.id),
    }));
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      const request = makeApprovalRequest({ traceId: 'trace_order' });
      await store.createApproval(request);
      store.journal([
        makeEventBody({ type: 'approval_requested', traceId: 'trace_order', approvalId: request.id }),
      ]);
      ids.push(request.id);
      if (i % 3 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      const seen = snapshot();
      for (const id of seen.told) expect(seen.requests.has(id), id).toBe(true);
    }
    await store.drain();
    expect(snapshot().told).toEqual(ids);
    reader.close();
    await store.close();
  });

  it('refuses a request while the journal cannot commit (a guard then denies), and takes them again once it can', async () => {
    const path = await newPath('mg-approvals-failing-');
    const store = openJournaling(path);
    const guard = askingGuard(store, 'a person looks');
    expect((await guard.check({ action: 'write:x', agent })).effect).toBe('require_approval');
    await guard.settled();
    // Another connection holds the write lock past the store's busy timeout (5 s).
    const blocker = openSqlite(path);
    blocker.exec('BEGIN IMMEDIATE');
    const pending = makeApprovalRequest();
    await store.createApproval(pending); // journaled before the failure shows: kept, committed later
    store.journal([makeEventBody({ traceId: 'trace_failing' })]);
    const started = Date.now();
    while (!store.journalFailure && Date.now() - started < 30_000)
      await new Promise((r) => setTimeout(r, 50));
    expect(store.journalFailure?.message).toMatch(/could not commit its journal/);
    await expect(store.createApproval(makeApprovalRequest())).rejects.toThrow(/could not commit its journal/);
    expect(await guard.check({ action: 'write:x', agent })).toMatchObject({ allowed: false, effect: 'deny' });
    blocker.exec('ROLLBACK');
    blocker.close();
    while (store.journalFailure && Date.now() - started < 50_000) await new Promise((r) => setTimeout(r, 50));
    expect(store.journalFailure).toBeUndefined();
    expect(await store.getApproval(pending.id)).toStrictEqual(pending);
    expect((await guard.check({ action: 'write:x', agent })).effect).toBe('require_approval');
    await guard.close();
    await store.close();
  }, 90_000);

  it('keeps the journal holding approval arguments 0600 in a 0700 folder, whatever the umask', async () => {
    const umask = process.umask(0);
    try {
      const path = await newPath('mg-approvals-modes-');
      const store = openJournaling(path);
      await store.createApproval(makeApprovalRequest({ arguments: { card: '4111 1111 1111 1111' } }));
      const dir = journalDir(path);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      const files = readdirSync(dir);
      expect(files.some((f) => f.endsWith('.jsonl'))).toBe(true);
      for (const file of files) expect(statSync(join(dir, file)).mode & 0o777, file).toBe(0o600);
      const text = files.filter((f) => f.endsWith('.jsonl')).map((f) => readFileSync(join(dir, f), 'utf8'));
      expect(text.join('')).toContain('4111 1111 1111 1111');
      await store.close();
      expect(existsSync(dirname(path))).toBe(true);
    } finally {
      process.umask(umask);
    }
  });
});
