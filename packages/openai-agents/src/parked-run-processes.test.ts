import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGuard } from '@meshguard/core';
import { describe, expect, it } from 'vitest';
import { type ChildArgs, parkedRunChild } from './test-helpers/parked-run-child';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

// Loads the child's TypeScript the way vitest does (through vite), in a plain Node process.
const LAUNCHER = `
import { createServer } from 'vite';
const [modulePath, json] = process.argv.slice(1);
const server = await createServer({
  configFile: false, root: process.cwd(), logLevel: 'error', appType: 'custom',
  server: { middlewareMode: true, hmr: false, ws: false }, optimizeDeps: { noDiscovery: true, include: [] },
});
const child = await server.ssrLoadModule(modulePath);
await child.parkedRunChild.main(JSON.parse(json), (value) => process.stdout.write(JSON.stringify(value) + '\\n'));
await server.close();
process.exit(0);
`;

interface Child {
  process: ChildProcess;
  /** The first JSON line the child reports. */
  report: Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

function start(args: ChildArgs): Child {
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', LAUNCHER, parkedRunChild.path, JSON.stringify(args)],
    {
      cwd: PACKAGE_DIR,
      env: { ...process.env, NODE_ENV: 'test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr += String(chunk);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const report = new Promise<Record<string, unknown>>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += String(chunk);
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line) as Record<string, unknown>);
    });
    void exited.then((code) =>
      reject(new Error(`the ${args.role} child exited (${code}) without a report: ${stderr}`)),
    );
  });
  return { process: child, report, exited };
}

async function run(args: ChildArgs): Promise<Record<string, unknown>> {
  const child = start(args);
  const report = await child.report;
  expect(await child.exited).toBe(0);
  return report;
}

describe('a parked run across processes (SQLite store, file parking)', () => {
  it('killed while waiting, approved from another process, resumed in a third: the refund runs once, one trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-oa-cross-'));
    const common = {
      db: join(dir, 'meshguard.db'),
      parkingDir: join(dir, 'parked'),
      sideEffects: join(dir, 'refunds.log'),
    };

    // 1. A host runs the agent up to the approval, parks the run and is killed.
    const host = start({ role: 'park', ...common });
    const parked = await host.report;
    expect(parked).toMatchObject({ interruptions: 1 });
    const [approvalId] = parked.parked as string[];
    expect(approvalId).toMatch(/^apr_/);
    host.process.kill('SIGKILL');
    await host.exited;
    expect(existsSync(common.sideEffects)).toBe(false);

    // 2. A person approves from another process.
    expect(await run({ role: 'approve', ...common, approvalId, by: 'maria' })).toEqual({
      status: 'approved',
      answeredBy: 'maria',
    });

    // 3. Two fresh processes resume at once: one runs it; the other is told. A late one finds nothing.
    const [a, b] = await Promise.all([
      run({ role: 'resume', ...common, approvalId }),
      run({ role: 'resume', ...common, approvalId }),
    ]);
    const reports = [a, b];
    expect(reports.filter((r) => r.finalOutput === 'Refunded $79.99.')).toHaveLength(1);
    expect(reports.filter((r) => r.error === 'run_not_parked')).toHaveLength(1);
    expect(await run({ role: 'resume', ...common, approvalId })).toMatchObject({ error: 'run_not_parked' });

    // The refund ran exactly once.
    const refunds = readFileSync(common.sideEffects, 'utf8').trim().split('\n');
    expect(refunds).toHaveLength(1);
    expect(refunds[0]).toMatch(/^refund ORD-7 79.99 pid \d+$/);

    // The trail, in one trace: the request, who approved, the allowed call, its outcome.
    const reader = await createGuard({ policies: [], store: `sqlite:${common.db}` });
    try {
      const events = await reader.query({ traceId: parkedRunChild.traceId, order: 'asc' });
      const lines = events.map((e) => `${e.type} ${e.effect}${e.outcome ? `/${e.outcome}` : ''}`);
      // The decision and its request are one append at one instant: either order is the same story.
      expect(lines.slice(0, 2).sort()).toEqual([
        'approval_requested require_approval',
        'decision require_approval',
      ]);
      expect(lines.slice(2)).toEqual(['approval_granted allow', 'decision allow', 'outcome allow/success']);
      expect(events[2]).toMatchObject({ actor: 'maria', approvalId });
      expect(events[3]).toMatchObject({ approvalId, spanId: 'call:call_x1', framework: 'openai-agents' });
      expect(events[4]!.decisionId).toBe(events[3]!.decisionId);
    } finally {
      await reader.close();
    }
  }, 180_000);
});
