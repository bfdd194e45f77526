// `meshguard audit trace` tells the truth about what a remote client denied or gave up on: the
// trail below is the one a remote guard leaves (see the gateway's remote-guard-trail tests).
import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEmbeddedGuard, createPolicyEngine, parsePolicies, uuidv7 } from '@meshguard/core';
import { CLIENT_GAVE_UP } from '@meshguard/core/internal';
import { testAgent } from '@meshguard/core/testing';
import { openSqliteStore } from '@meshguard/store';
import { describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

function trace(db: string, traceId: string) {
  const result = spawnSync(process.execPath, [CLI, 'audit', 'trace', traceId, '--db', db], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', MESHGUARD_DB: '' },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const POLICY = 'name: p\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["write:email"]\n';

async function trail(record: (guard: ReturnType<typeof createEmbeddedGuard>) => Promise<void>) {
  const db = join(await mkdtemp(join(tmpdir(), 'meshguard-trace-')), 'meshguard.db');
  const store = openSqliteStore(db);
  const guard = createEmbeddedGuard({ engine: createPolicyEngine(parsePolicies(POLICY)), store });
  await record(guard);
  await guard.close();
  await store.close();
  return db;
}

const bot = testAgent({ name: 'mailer' });
const unreachable = 'Denied: the MeshGuard gateway at http://127.0.0.1:9 was unreachable (ECONNREFUSED)';

describe('meshguard audit trace and client-side denials', () => {
  it('counts checks the client denied itself: three of them are three decisions not allowed', async () => {
    const db = await trail(async (guard) => {
      for (let i = 0; i < 3; i++) {
        await guard.record({
          decisionId: uuidv7(),
          outcome: 'blocked',
          effect: 'deny',
          action: 'write:email',
          agent: bot,
          traceId: 'trace_client',
          reason: unreachable,
          error: 'gateway_away',
        });
      }
    });
    const { code, stdout } = trace(db, 'trace_client');
    expect(code).toBe(0);
    expect(stdout).toContain('3 decisions, 3 not allowed (3 denied by the client)');
    expect(stdout).toContain('(denied by the client)');
    expect(stdout).toContain(unreachable);
  });

  it('shows an allow the client gave up on as allowed by the gateway, not executed', async () => {
    const db = await trail(async (guard) => {
      const decisionId = uuidv7();
      await guard.check({ action: 'write:email', agent: bot, traceId: 'trace_gave_up', decisionId });
      await guard.record({
        decisionId,
        outcome: 'blocked',
        effect: 'deny',
        action: 'write:email',
        agent: bot,
        reason: 'Denied: the MeshGuard gateway at http://127.0.0.1:8787 did not answer within 2000 ms',
        error: CLIENT_GAVE_UP,
      });
    });
    const { code, stdout } = trace(db, 'trace_gave_up');
    expect(code).toBe(0);
    expect(stdout).toContain('allowed by the gateway, not executed: the client gave up');
    expect(stdout).toContain(
      '1 decision, 1 not allowed (1 allowed by the gateway, not executed: the client gave up)',
    );
  });
});
