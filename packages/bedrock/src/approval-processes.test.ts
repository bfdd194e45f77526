import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type AuditEvent, createGuard } from '@meshguard/core';
import { describe, expect, it } from 'vitest';
import { SUPPORT_POLICY_TEXT, useEmulator } from './support-fixtures';
import {
  type BedrockEmulatorRequest,
  bedrockChunk,
  bedrockFunctionInput,
  bedrockReturnControl,
} from './testing';

// A turn parked by one process, approved from another and resumed in a third: they share the
// SQLite trail (which keeps the approval requests), the parking folder and the emulator only.

const startEmulator = useEmulator();
const CHILD = fileURLToPath(new URL('../test-fixtures/turn-child.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));

const relay = (request: BedrockEmulatorRequest) => [
  bedrockChunk(`The action said: ${request.results.map((r) => r.body).join(' | ')}`),
];

async function processes() {
  if (!existsSync(DIST)) throw new Error('build the package first: pnpm --filter @meshguard/bedrock build');
  const emulator = await startEmulator([
    [
      bedrockReturnControl([
        bedrockFunctionInput('Accounts', 'credit_account', { customer_id: 'CUST-001', amount: 25 }),
      ]),
    ],
    relay,
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'meshguard-bedrock-processes-'));
  const policy = join(dir, 'support.yaml');
  writeFileSync(policy, SUPPORT_POLICY_TEXT);
  const db = `sqlite:${join(dir, 'meshguard.db')}`;
  const effects = join(dir, 'effects.log');
  const env = {
    ...process.env,
    DB: db,
    POLICY: policy,
    PARKING: join(dir, 'parked'),
    EFFECTS: effects,
    CLIENT: JSON.stringify(emulator.clientConfig),
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
    const guard = await createGuard({ policies: policy, store: db });
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
describe('a turn parked in one process, approved in another, resumed in a third', { timeout: 90_000 }, () => {
  it('runs the handler exactly once, and the trail shows it all under one trace', async () => {
    const { emulator, run, effectLines, trail } = await processes();
    const parked = await run('park');
    expect(parked).toMatchObject({
      status: 'awaiting_approval',
      approvalIds: [expect.stringMatching(/^apr_/)],
    });
    const id = parked.approvalIds![0]!;
    expect(effectLines()).toEqual([]);
    expect(await run('approve', id)).toEqual({ status: 'approved' });
    const resumed = await run('resume', id);
    expect(resumed).toEqual({
      status: 'completed',
      text: 'The action said: Credited $25',
      traceId: parked.traceId,
    });
    expect(await run('resume', id)).toMatchObject({ error: 'run_not_parked' });
    expect(effectLines()).toHaveLength(1);
    expect(emulator.problems).toEqual([]);
    const events = await trail(parked.traceId as string);
    expect(events.map(row)).toEqual([
      'decision write:account_credit require_approval',
      'approval_requested write:account_credit require_approval',
      'approval_granted write:account_credit allow maria',
      'decision write:account_credit allow',
      'outcome write:account_credit allow/success',
    ]);
    expect(events.every((e) => e.framework === 'bedrock')).toBe(true);
    expect(events[3]!.approvalId).toBe(id);
  });

  it('of two processes resuming at once, one runs the call', async () => {
    const { emulator, run, effectLines } = await processes();
    const parked = await run('park');
    const id = parked.approvalIds![0]!;
    await run('approve', id);
    const both = await Promise.all([run('resume', id), run('resume', id)]);
    expect(both.map((r) => r.status ?? r.error).sort()).toEqual(['completed', 'run_not_parked']);
    expect(effectLines()).toHaveLength(1);
    expect(emulator.requests).toHaveLength(2);
    expect(emulator.problems).toEqual([]);
  });

  it('rejected in another process: the resumed agent hears who and why, and nothing runs', async () => {
    const { run, effectLines } = await processes();
    const parked = await run('park');
    const id = parked.approvalIds![0]!;
    expect(await run('reject', id)).toEqual({ status: 'rejected' });
    const resumed = await run('resume', id);
    expect(resumed.text).toBe(
      `The action said: Blocked by policy: Rejected by maria (approval ${id}): credited last week`,
    );
    expect(effectLines()).toEqual([]);
  });
});
