import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmbeddedGuard, createPolicyEngine, parsePolicies } from '@meshguard/core';
import { createTestClock, testAgent } from '@meshguard/core/testing';
import { openSqliteStore } from '@meshguard/store';
import { openSqlite, type SqliteDatabase } from '@meshguard/store/internal';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, meshguardNamingDb as meshguard } from './test-helpers/cli-harness';

const POLICY = `
name: team
version: "1"
rules:
  - effect: allow
    actions: ["read:*", "handoff:Billing Specialist", "write:refund"]
  - effect: deny
    actions: ["write:refund"]
    conditions: { amount_min: 100.01 }
    reason: Refunds over $100 require manager approval
`;

let dir: string;
let db: string;

/** A trail with a handoff: Tier 1 reads, hands off to Billing, which refunds (one allowed, one denied). */
async function seedTrail(path: string, hoursAgo = 1) {
  const clock = createTestClock(Date.now() - hoursAgo * 3_600_000);
  const store = openSqliteStore(path);
  const guard = createEmbeddedGuard({
    engine: createPolicyEngine(parsePolicies(POLICY)),
    store,
    clock,
    framework: 'openai-agents',
  });
  const tier1 = testAgent({ name: 'Tier 1 Support' });
  const billing = testAgent({ name: 'Billing Specialist' });
  const traceId = 'trace_handoff';
  const step = async (
    agent: typeof tier1,
    action: string,
    context?: Record<string, unknown>,
    delegation?: (typeof tier1)[],
  ) => {
    clock.advance(1000);
    const d = await guard.check({
      action,
      agent,
      traceId,
      kind: action.startsWith('handoff:') ? 'handoff' : 'tool',
      ...(context ? { context } : {}),
      ...(delegation ? { delegation } : {}),
    });
    clock.advance(25);
    await guard.record({
      decisionId: d.decisionId,
      outcome: d.allowed ? 'success' : 'blocked',
      durationMs: d.allowed ? 25 : 0,
    });
    return d;
  };
  await step(tier1, 'read:customer_data', { email: 'jo@example.com' });
  await step(tier1, 'handoff:Billing Specialist');
  await step(billing, 'write:refund', { amount: 79.99 }, [tier1]);
  await step(billing, 'write:refund', { amount: 150 }, [tier1]);
  await guard.close();
  await store.close();
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error('packages/cli is not built: run `pnpm build` first (pnpm test does)');
  dir = await mkdtemp(join(tmpdir(), 'mg-audit-cli-'));
  db = join(dir, 'audit.db');
  await seedTrail(db);
});

describe('meshguard audit query', () => {
  it('prints a readable table and JSON lines', () => {
    const table = meshguard('audit', 'query', '--db', `sqlite:${db}`, '--decision', 'deny');
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^TIME\s+AGENT\s+FRAMEWORK\s+ACTION\s+DECISION\s+REASON$/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(
      /Billing Specialist\s+openai-agents\s+write:refund\s+deny\s+Refunds over \$100 require manager approval/,
    );
    const json = meshguard('audit', 'query', '--db', db, '--agent', 'Tier 1 Support', '--json');
    const events = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.map((e) => [e.type, e.action])).toEqual([
      ['decision', 'read:customer_data'],
      ['outcome', 'read:customer_data'],
      ['decision', 'handoff:Billing Specialist'],
      ['outcome', 'handoff:Billing Specialist'],
    ]);
    expect(events[0].context.email).toMatch(/^redacted:sha256:/);
  });

  it('filters by action glob, framework, trace and time (ISO and relative)', () => {
    const count = (...args: string[]) =>
      meshguard('audit', 'query', '--db', db, '--json', ...args)
        .stdout.trim()
        .split('\n')
        .filter(Boolean).length;
    expect(count('--action', 'write:*')).toBe(4);
    expect(count('--framework', 'bedrock')).toBe(0);
    expect(count('--trace', 'trace_handoff')).toBe(8);
    expect(count('--since', '2h')).toBe(8);
    expect(count('--since', '30m')).toBe(0);
    expect(count('--until', new Date().toISOString(), '--limit', '3')).toBe(3);
  });
});

describe('meshguard audit trace', () => {
  it('nests what the target agent does under the handoff and marks denials', () => {
    const { code, stdout } = meshguard('audit', 'trace', 'trace_handoff', '--db', db);
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    const line = (text: string) => lines.find((l) => l.includes(text))!;
    expect(line('read:customer_data')).toMatch(
      /^\+0\.000s\s{7}✓ read:customer_data \[Tier 1 Support, openai-agents\] allow → success 25ms$/,
    );
    expect(line('handoff:Billing')).toMatch(/ {3}✓ handoff:Billing Specialist/);
    expect(line('Billing Specialist takes over')).toBeDefined();
    const refunds = lines.filter((l) => l.includes('write:refund'));
    expect(refunds[0]).toMatch(
      / {5}✓ write:refund \[Billing Specialist, openai-agents\] allow → success 25ms$/,
    );
    expect(refunds[1]).toMatch(
      / {5}✗ write:refund \[Billing Specialist, openai-agents\] deny → blocked 0ms$/,
    );
    expect(stdout).toContain('reason: Refunds over $100 require manager approval');
    expect(stdout).toContain('4 decisions, 1 not allowed');
  });

  it('says so when the trace does not exist', () => {
    expect(meshguard('audit', 'trace', 'trace_nope', '--db', db)).toMatchObject({
      code: 2,
      stderr: 'meshguard: no events with trace id "trace_nope"\n',
    });
  });
});

describe('meshguard audit tail, export and stats', () => {
  it('tails the latest events', () => {
    const { code, stdout } = meshguard('audit', 'tail', '-n', '2', '--db', db, '--json');
    expect(code).toBe(0);
    expect(
      stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).outcome),
    ).toEqual([undefined, 'blocked']);
  });

  it('exports JSON lines and CSV', async () => {
    const out = join(dir, 'export.csv');
    const csv = meshguard('audit', 'export', '--db', db, '--format', 'csv', '--out', out);
    expect(csv).toMatchObject({ code: 0, stderr: `exported 8 events to ${out}\n` });
    const rows = readFileSync(out, 'utf8').trim().split('\n');
    expect(rows[0]).toBe(
      'id,ts,type,traceId,spanId,agentId,agentName,agentTier,framework,kind,action,effect,mode,outcome,durationMs,reason,policy,rule,decisionId,actor,error,stream,seq,hash',
    );
    expect(rows).toHaveLength(9);
    expect(
      rows.some(
        (r) =>
          r.includes('"Refunds over $100 require manager approval (rule team#1)"') ||
          r.includes('Refunds over $100 require manager approval (rule team#1)'),
      ),
    ).toBe(true);
    const jsonl = meshguard('audit', 'export', '--db', db, '--action', 'write:*');
    expect(
      jsonl.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).seq),
    ).toEqual([5, 6, 7, 8]);
  });

  it('counts by decision, action and agent', () => {
    const { stdout } = meshguard('audit', 'stats', '--db', db, '--json');
    const stats = JSON.parse(stdout);
    expect(stats.total).toBe(8);
    expect(stats.byEffect).toEqual([
      { key: 'allow', count: 3 },
      { key: 'deny', count: 1 },
    ]);
    expect(stats.byAgent).toEqual([
      { key: 'Billing Specialist', count: 4 },
      { key: 'Tier 1 Support', count: 4 },
    ]);
  });
});

describe('meshguard audit verify', () => {
  async function tampered(change: (sql: SqliteDatabase) => void) {
    const copy = join(await mkdtemp(join(dir, 'tamper-')), 'audit.db');
    await copyFile(db, copy);
    const sql = openSqlite(copy);
    change(sql);
    sql.close();
    return copy;
  }
  const row = (sql: SqliteDatabase, seq: number) =>
    sql.prepare('SELECT * FROM audit_events WHERE seq = ?').get(seq) as Record<string, string | number>;

  it('exits 0 on an intact trail', () => {
    expect(meshguard('audit', 'verify', '--db', db)).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^✓ audit trail intact: 8 events in 1 stream verified/),
    });
  });

  it('names an edited event', async () => {
    const copy = await tampered((sql) => {
      const r = row(sql, 7);
      sql
        .prepare('UPDATE audit_events SET body = ? WHERE seq = 7')
        .run(String(r.body).replace('"effect":"deny"', '"effect":"allow"'));
    });
    const { code, stdout } = meshguard('audit', 'verify', '--db', copy);
    expect(code).toBe(1);
    expect(stdout).toMatch(
      /^✗ audit trail BROKEN: edited at stream "main" seq 7 id [0-9a-f-]{36}\n {2}event .* \(seq 7\) does not match its hash: it was edited/,
    );
  });

  it('cannot be fooled through an indexed column: they derive from the hashed content', async () => {
    await expect(
      tampered((sql) => sql.prepare("UPDATE audit_events SET effect = 'allow' WHERE seq = 7").run()),
    ).rejects.toThrow(/cannot UPDATE generated column "effect"/);
    const copy = await tampered((sql) => {
      const r = row(sql, 7);
      sql
        .prepare('UPDATE audit_events SET body = ? WHERE seq = 7')
        .run(String(r.body).replace('"effect":"deny"', '"effect":"allow"'));
    });
    // The edited body now says allow, so a filter on deny no longer finds it, but verify names it.
    expect(meshguard('audit', 'query', '--db', copy, '--decision', 'deny').stdout).toBe(
      'no matching events\n',
    );
    expect(meshguard('audit', 'verify', '--db', copy)).toMatchObject({
      code: 1,
      stdout: expect.stringContaining('seq 7'),
    });
  });

  it('names the gap left by a deleted event', async () => {
    const copy = await tampered((sql) => sql.prepare('DELETE FROM audit_events WHERE seq = 3').run());
    const { code, stdout } = meshguard('audit', 'verify', '--db', copy);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^✗ audit trail BROKEN: missing at stream "main" seq 4 id /);
    expect(stdout).toContain('seq 3 missing before event');
  });

  it('notices events removed from the end', async () => {
    const copy = await tampered((sql) => sql.prepare('DELETE FROM audit_events WHERE seq = 8').run());
    expect(meshguard('audit', 'verify', '--db', copy)).toMatchObject({
      code: 1,
      stdout: expect.stringContaining('truncated at stream "main" seq 8'),
    });
  });

  it('says the events table is gone (exit 1, a broken trail), not an unexpected error', async () => {
    const copy = await tampered((sql) => sql.exec('DROP TABLE audit_events'));
    const { code, stdout, stderr } = meshguard('audit', 'verify', '--db', copy);
    expect({ code, stderr }).toEqual({ code: 1, stderr: '' });
    expect(stdout).toBe(
      `✗ audit trail BROKEN: truncated\n  the audit_events table of "${copy}" is gone: the audit trail was deleted\n`,
    );
    const json = meshguard('audit', 'verify', '--db', copy, '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, checked: 0, problem: { kind: 'truncated' } });
    // The other commands say the same, as bad input (exit 2), never exit 70.
    expect(meshguard('audit', 'query', '--db', copy)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('the audit_events table'),
    });
  });

  it('names agent names that no longer match the events (queries by agent name would lie)', async () => {
    const copy = await tampered((sql) => sql.exec('DELETE FROM audit_agents'));
    const { code, stdout } = meshguard('audit', 'verify', '--db', copy);
    expect(code).toBe(1);
    expect(stdout).toMatch(
      /^✗ audit trail BROKEN: edited\n {2}events of agent id ".*" named ".*" are missing from audit_agents/,
    );
  });

  it('names swapped events', async () => {
    // Swap the stored positions of events 3 and 5: each row keeps its content, the order changes.
    const copy = await tampered((sql) => {
      const a = row(sql, 3).pos;
      const b = row(sql, 5).pos;
      sql.transaction(() => {
        sql.prepare('UPDATE audit_events SET pos = -1 WHERE pos = ?').run(a);
        sql.prepare('UPDATE audit_events SET pos = ? WHERE pos = ?').run(a, b);
        sql.prepare('UPDATE audit_events SET pos = ? WHERE pos = -1').run(b);
      })();
    });
    const { code, stdout } = meshguard('audit', 'verify', '--db', copy);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^✗ audit trail BROKEN: reordered at stream "main" seq 5 id /);
  });
});

describe('meshguard audit: hostile values', () => {
  it('shows control characters escaped, so a recorded value cannot forge a row', async () => {
    const folder = await mkdtemp(join(dir, 'hostile-'));
    const path = join(folder, 'audit.db');
    const store = openSqliteStore(path);
    const guard = createEmbeddedGuard({
      engine: createPolicyEngine(parsePolicies(POLICY)),
      store,
      framework: 'test',
    });
    const d = await guard.check({
      action: 'read:x',
      agent: testAgent({ name: 'Evil\u001b[31m' }),
      traceId: 'trace_evil',
    });
    await guard.record({
      decisionId: d.decisionId,
      outcome: 'error',
      error: 'boom\n2026-01-01 00:00:00Z  Support  custom  write:refund  allow  forged',
    });
    await guard.close();
    await store.close();
    for (const args of [['query'], ['trace', 'trace_evil']]) {
      const { stdout } = meshguard('audit', ...args, '--db', path);
      expect(stdout).not.toContain('\u001b');
      expect(stdout).toContain('Evil\\u001b[31m');
      expect(stdout.split('\n').filter((l) => l.includes('forged'))).toHaveLength(
        args[0] === 'query' ? 1 : 0,
      );
    }
    expect(meshguard('audit', 'query', '--db', path).stdout).toContain('boom\\u000a2026-01-01');
  });

  it('refuses an outcome whose time is not an ISO date-time', async () => {
    const store = openSqliteStore(join(await mkdtemp(join(dir, 'ts-')), 'audit.db'));
    const guard = createEmbeddedGuard({ engine: createPolicyEngine(parsePolicies(POLICY)), store });
    const d = await guard.check({ action: 'read:x', agent: testAgent() });
    await expect(guard.record({ decisionId: d.decisionId, outcome: 'success', ts: 'later' })).rejects.toThrow(
      /^ts: ts must be an ISO date-time/,
    );
    await guard.close();
    await store.close();
  });
});

describe('meshguard audit: bad input', () => {
  // The database file must be byte-for-byte unchanged; SQLite may create an empty -wal and a
  // -shm index beside it to read a WAL database, which hold no data.
  const digest = (folder: string) =>
    readdirSync(folder)
      .filter((f) => f === 'audit.db' || (f === 'audit.db-wal' && readFileSync(join(folder, f)).length > 0))
      .sort()
      .map(
        (f) =>
          `${f}:${createHash('sha256')
            .update(readFileSync(join(folder, f)))
            .digest('hex')}`,
      )
      .join('\n');

  it('never modifies the store when reading', async () => {
    const folder = await mkdtemp(join(dir, 'ro-'));
    const copy = join(folder, 'audit.db');
    await seedTrail(copy);
    const before = digest(folder);
    for (const args of [['query'], ['trace', 'trace_handoff'], ['tail'], ['verify'], ['export'], ['stats']]) {
      expect(meshguard('audit', ...args, '--db', copy).code).toBe(0);
    }
    expect(digest(folder)).toEqual(before);
  });

  it.each([
    [['query', '--bogus'], /^meshguard: unknown option '--bogus'/],
    [['query', '--since', 'last tuesday'], /^meshguard: --since: "last tuesday" is neither an ISO time/],
    [['query', '--until', '2026-13-45'], /^meshguard: --until: "2026-13-45" is neither an ISO time/],
    [['query', '--limit', '0'], /^meshguard: --limit: "0" is not a whole number/],
    [
      ['query', '--decision', 'maybe'],
      /^meshguard: option '--decision <effect>' argument 'maybe' is invalid/,
    ],
    [['export', '--format', 'xml'], /^meshguard: option '--format <format>' argument 'xml' is invalid/],
    [
      ['export', '--out', '/nonexistent/folder/out.jsonl'],
      /^meshguard: --out: cannot write "\/nonexistent\/folder\/out.jsonl" \(ENOENT\)/,
    ],
  ])('rejects %j with one line and exit 2', (args, message) => {
    const { code, stderr } = meshguard('audit', ...args, '--db', db);
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(code).toBe(2);
  });

  it('refuses a missing, foreign or corrupt database with one line and exit 2', async () => {
    const foreign = join(dir, 'foreign.db');
    const other = openSqlite(foreign);
    other.exec('CREATE TABLE customers (id INTEGER)');
    other.close();
    const garbage = join(dir, 'garbage.db');
    await writeFile(
      garbage,
      'this is not a database at all, just text that is long enough to be a header '.repeat(20),
    );
    for (const [file, message] of [
      [join(dir, 'missing.db'), /^meshguard: no audit database at/],
      [foreign, /is not a MeshGuard audit database/],
      [garbage, /is not a MeshGuard audit database: file is not a database/],
    ] as const) {
      const { code, stderr } = meshguard('audit', 'query', '--db', file);
      expect(stderr).toMatch(message);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(code).toBe(2);
    }
  });
});

describe('meshguard audit tail -f and colour', () => {
  it('follows new events as they are recorded', async () => {
    const { spawn } = await import('node:child_process');
    const folder = await mkdtemp(join(dir, 'follow-'));
    const path = join(folder, 'audit.db');
    await seedTrail(path);
    const child = spawn(
      process.execPath,
      [CLI, 'audit', 'tail', '-f', '-n', '1', '--interval', '50', '--json', '--db', path],
      {
        env: { ...process.env, NO_COLOR: '1' },
      },
    );
    const lines: string[] = [];
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      lines.push(...parts.filter(Boolean));
    });
    const waitFor = async (n: number) => {
      for (let i = 0; i < 200 && lines.length < n; i++) await new Promise((r) => setTimeout(r, 25));
    };
    await waitFor(1);
    expect(lines).toHaveLength(1);
    const store = openSqliteStore(path);
    const guard = createEmbeddedGuard({
      engine: createPolicyEngine(parsePolicies(POLICY)),
      store,
      framework: 'vertex',
    });
    await guard.check({
      action: 'read:orders',
      agent: testAgent({ name: 'Late Agent' }),
      traceId: 'trace_late',
    });
    await waitFor(2);
    child.kill('SIGTERM');
    await guard.close();
    await store.close();
    expect(JSON.parse(lines[1]!)).toMatchObject({
      action: 'read:orders',
      framework: 'vertex',
      agent: { name: 'Late Agent' },
    });
  });

  it('colours only on a terminal, and never with NO_COLOR', () => {
    // `script` gives the command a pseudo-terminal, as a person's shell would.
    const run = (env: Record<string, string>) =>
      spawnSync('script', ['-qec', `${process.execPath} ${CLI} audit query --db ${db}`, '/dev/null'], {
        encoding: 'utf8',
        env: { ...process.env, ...env },
      }).stdout;
    const { NO_COLOR: _ignored, ...withoutNoColor } = process.env;
    const coloured = spawnSync(
      'script',
      ['-qec', `${process.execPath} ${CLI} audit query --db ${db}`, '/dev/null'],
      {
        encoding: 'utf8',
        env: withoutNoColor,
      },
    ).stdout;
    expect(coloured).toContain('\u001b[');
    expect(run({ NO_COLOR: '1' })).not.toContain('\u001b[');
    expect(meshguard('audit', 'query', '--db', db).stdout).not.toContain('\u001b[');
  });

  it('shows export progress on a terminal only', async () => {
    const out = join(await mkdtemp(join(dir, 'progress-')), 'events.jsonl');
    const onTerminal = spawnSync(
      'script',
      ['-qec', `${process.execPath} ${CLI} audit export --db ${db} --out ${out}`, '/dev/null'],
      {
        encoding: 'utf8',
      },
    ).stdout;
    expect(onTerminal).toContain('] 100% 8/8');
    expect(meshguard('audit', 'export', '--db', db, '--out', out).stderr).toBe(
      `exported 8 events to ${out}\n`,
    );
  });
});
