import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type AuditEvent, createGuard } from '@meshguard/core';
import { describe, expect, it } from 'vitest';
import { relay, SUPPORT_POLICY_TEXT, useEmulator } from './support-fixtures';
import { functionCallPart } from './vertex-emulator';

// A chat parked by one process, approved from another and resumed in a third: they share the
// SQLite trail (which keeps the approval requests), the parking folder and the emulator only.

const emulators = useEmulator();
const CHILD = fileURLToPath(new URL('../test-fixtures/chat-child.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));

const APPROVAL_POLICY = `
name: refund-approvals
version: "1"
appliesTo: { tags: [vertex] }
rules:
  - id: big-refunds-need-a-manager
    effect: require_approval
    actions: ["write:refund"]
    conditions: { amount_min: 50 }
    reason: "Refunds over $50 need a manager"
`;

async function processes() {
  if (!existsSync(DIST)) throw new Error('build the package first: pnpm --filter @meshguard/vertex build');
  const emulator = await emulators.start({
    script: [
      {
        parts: [
          functionCallPart(
            'process_refund',
            { order_id: 'ORD-7', amount: 60 },
            { id: 'p1', thoughtSignature: 'c2ln' },
          ),
        ],
      },
      relay,
    ],
  });
  const dir = mkdtempSync(join(tmpdir(), 'meshguard-vertex-processes-'));
  const policies = [join(dir, 'support.yaml'), join(dir, 'approvals.yaml')];
  writeFileSync(policies[0]!, SUPPORT_POLICY_TEXT);
  writeFileSync(policies[1]!, APPROVAL_POLICY);
  const db = `sqlite:${join(dir, 'meshguard.db')}`;
  const effects = join(dir, 'effects.log');
  const env = {
    ...process.env,
    DB: db,
    POLICIES: policies.join(','),
    PARKING: join(dir, 'parked'),
    EFFECTS: effects,
    EMULATOR_URL: emulator.url,
  };
  const run = async (...args: string[]) => {
    const { stdout } = await promisify(execFile)(process.execPath, [CHILD, ...args], {
      env,
      timeout: 30_000,
    });
    return JSON.parse(stdout) as Record<string, unknown> & { approvalIds?: string[] };
  };
  const effectLines = () => (existsSync(effects) ? readFileSync(effects, 'utf8').trim().split('\n') : []);
  const trail = async (traceId: string) => {
    const guard = await createGuard({ policies, store: db });
    try {
      return await guard.query({ traceId, order: 'asc' });
    } finally {
      await guard.close();
    }
  };
  return { emulator, run, effectLines, trail };
}

const row = (e: AuditEvent) =>
  [e.type, e.action, e.outcome ? `${e.effect}/${e.outcome}` : e.effect, e.actor].filter(Boolean).join(' ');

// Several Node processes a test: slow on a busy machine.
describe('a chat parked in one process, approved in another, resumed in a third', { timeout: 90_000 }, () => {
  it('runs the handler exactly once, and the trail shows it all under one trace', async () => {
    const { emulator, run, effectLines, trail } = await processes();
    const parked = await run('park');
    expect(parked).toMatchObject({
      status: 'awaiting_approval',
      traceId: 'trace_processes',
      approvalIds: [expect.stringMatching(/^apr_/)],
    });
    const id = parked.approvalIds![0]!;
    expect(effectLines()).toEqual([]);
    expect(await run('approve', id)).toEqual({ status: 'approved' });
    expect(await run('resume', id)).toEqual({
      status: 'completed',
      text: 'Done: process_refund',
      traceId: 'trace_processes',
    });
    expect(await run('resume', id)).toMatchObject({ error: 'run_not_parked' });
    expect(effectLines()).toHaveLength(1);
    // The rebuilt chat sent the model's call back verbatim and answered it by id.
    expect(emulator.problems).toEqual([]);
    const events = await trail('trace_processes');
    expect(events.map(row)).toEqual([
      'decision write:refund require_approval',
      'approval_requested write:refund require_approval',
      'approval_granted write:refund allow maria',
      'decision write:refund allow',
      'outcome write:refund allow/success',
    ]);
    expect(events.every((e) => e.framework === 'vertex')).toBe(true);
    expect(events[3]!.approvalId).toBe(id);
  });

  it('of two processes resuming at once, one runs the call', async () => {
    const { emulator, run, effectLines } = await processes();
    const id = (await run('park')).approvalIds![0]!;
    await run('approve', id);
    const both = await Promise.all([run('resume', id), run('resume', id)]);
    expect(both.map((r) => r.status ?? r.error).sort()).toEqual(['completed', 'run_not_parked']);
    expect(effectLines()).toHaveLength(1);
    expect(emulator.requests).toHaveLength(2);
    expect(emulator.problems).toEqual([]);
  });

  it('rejected in another process: the resumed model hears who and why, and nothing runs', async () => {
    const { run, effectLines } = await processes();
    const id = (await run('park')).approvalIds![0]!;
    expect(await run('reject', id)).toEqual({ status: 'rejected' });
    expect((await run('resume', id)).text).toBe(
      `Sorry: Blocked by policy: Rejected by maria (approval ${id}): refunded last week`,
    );
    expect(effectLines()).toEqual([]);
  });
});
