import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openSqliteStore } from '@meshguard/store';
import { openSqlite } from '@meshguard/store/internal';
import { describe, expect, it } from 'vitest';
import { meshguardNamingDb as meshguard } from './test-helpers/cli-harness';

const CORE = pathToFileURL(fileURLToPath(new URL('../../core/dist/index.js', import.meta.url))).href;
const STORE = pathToFileURL(fileURLToPath(new URL('../../store/dist/index.js', import.meta.url))).href;

// A guard in the default durable mode: each check resolves once its decision is in the store's
// journal. It checks five sends, says so, and then waits to be killed.
const WRITER = `
import { createGuard, parsePolicies } from ${JSON.stringify(CORE)};
import { openSqliteStore } from ${JSON.stringify(STORE)};
const policies = parsePolicies('name: p\\nversion: "1"\\nrules:\\n  - effect: allow\\n    actions: ["write:*"]\\n');
const guard = await createGuard({ policies, store: openSqliteStore(process.argv[1]) });
const agent = { id: 'mailer-1', name: 'Mailer', tags: [], tier: 'basic' };
for (let i = 0; i < 5; i++) {
  const d = await guard.check({ action: 'write:email', agent, traceId: 'trace_pending', context: { n: i, password: 'hunter2' } });
  if (!d.allowed) throw new Error(d.reason);
}
process.stdout.write('checked\\n');
setInterval(() => {}, 1000);
`;

/** The journal files beside the database and their contents. */
function journalFiles(path: string): Record<string, string> {
  const dir = `${path}.pending`;
  return Object.fromEntries(
    readdirSync(dir)
      .filter((f) => f.endsWith('.jsonl'))
      .map((f) => [f, readFileSync(join(dir, f), 'utf8')]),
  );
}

describe('meshguard audit: events a crashed writer journaled and never committed', () => {
  it('shows them as pending (query, trace, verify) without a writer opening the store, never touching a live writer', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'mg-pending-')), 'audit.db');
    const seed = openSqliteStore(path, { journal: false });
    await seed.append([
      {
        v: 1,
        id: '00000000-0000-7000-8000-000000000001',
        ts: new Date().toISOString(),
        type: 'decision',
        traceId: 'trace_seed',
        agent: { id: 'seed', name: 'Seed', tags: [], tier: 'basic' },
        framework: 'test',
        kind: 'tool',
        action: 'read:x',
        effect: 'allow',
        mode: 'enforce',
        decisionId: 'd-seed',
      },
    ]);
    await seed.close();
    // Another connection holds the write lock: the writer's journal cannot be committed.
    const blocker = openSqlite(path);
    blocker.exec('BEGIN IMMEDIATE');
    const child = spawn(process.execPath, ['--input-type=module', '-e', WRITER, path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_c, signal) => resolve(signal)),
    );
    try {
      for await (const line of createInterface({ input: child.stdout! })) if (line === 'checked') break;

      // The writer lives: its journal is shown, and left exactly as it was.
      const before = journalFiles(path);
      const live = meshguard('audit', 'query', '--db', path, '--json');
      expect(live.code).toBe(0);
      const liveLines = live.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(liveLines.filter((e) => e.pending)).toHaveLength(5);
      expect(journalFiles(path)).toEqual(before);
    } finally {
      child.kill('SIGKILL');
    }
    expect(await exited).toBe('SIGKILL');
    blocker.exec('ROLLBACK');
    blocker.close();

    const query = meshguard('audit', 'query', '--db', path, '--agent', 'Mailer');
    expect(query.code).toBe(0);
    expect(query.stdout).toContain('5 pending events: journaled by a writer that did not commit them');
    expect(query.stdout.match(/write:email/g)).toHaveLength(5);
    expect(query.stdout).not.toContain('hunter2'); // the journal holds the redacted form

    const json = meshguard('audit', 'query', '--db', path, '--json', '--action', 'write:*');
    const events = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events).toHaveLength(5);
    expect(events.every((e) => e.pending === true && e.action === 'write:email' && e.seq === undefined)).toBe(
      true,
    );
    expect(events.map((e) => e.context.n)).toEqual([0, 1, 2, 3, 4]);

    const trace = meshguard('audit', 'trace', 'trace_pending', '--db', path);
    expect(trace.code).toBe(0);
    expect(trace.stdout).toContain('5 pending events');

    const verify = meshguard('audit', 'verify', '--db', path);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/^✓ audit trail intact: 1 event in 1 stream verified/);
    expect(verify.stdout).toContain('5 pending events: journaled by a writer that did not commit them');
    expect(JSON.parse(meshguard('audit', 'verify', '--db', path, '--json').stdout)).toMatchObject({
      ok: true,
      checked: 1,
      pending: 5,
    });

    // A writer opening the store replays the journal: the events are stored, none pending.
    const writer = openSqliteStore(path);
    await writer.close();
    const after = meshguard('audit', 'query', '--db', path, '--json', '--trace', 'trace_pending');
    const stored = after.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(stored).toHaveLength(5);
    expect(stored.every((e) => e.pending === undefined && typeof e.seq === 'number')).toBe(true);
    expect(meshguard('audit', 'verify', '--db', path).stdout).toMatch(
      /^✓ audit trail intact: 6 events in 1 stream verified in [\d.]+s\n$/,
    );
  }, 60_000);
});
