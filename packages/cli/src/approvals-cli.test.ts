import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createGuard } from '@meshguard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from './cli-error';
import {
  CLI,
  cleanUp,
  envWithout,
  freePort,
  GATEWAY_VARIABLES,
  runCli,
  scratchDir,
  untilListening,
} from './test-helpers/cli-harness';

const ADMIN = 'cli-approvals-admin-token-0123456789';
const POLICY = `name: payments
version: "1"
rules:
  - effect: require_approval
    actions: ["write:wire"]
    reason: Wires need a second pair of eyes
    approval: { approvers: [finance] }
`;

let dir: string;
let url: string;
const children: ChildProcess[] = [];
beforeAll(async () => {
  dir = await scratchDir('mg-approvals-cli-');
  await writeFile(join(dir, 'payments.yaml'), POLICY);
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [
      CLI,
      'gateway',
      'start',
      '--port',
      String(port),
      '--db',
      `sqlite:${join(dir, 'gateway.db')}`,
      '--policies',
      dir,
    ],
    {
      cwd: dir,
      env: envWithout(GATEWAY_VARIABLES, { MESHGUARD_ADMIN_TOKEN: ADMIN, MESHGUARD_LOG_LEVEL: 'warn' }),
    },
  );
  children.push(child);
  await untilListening(child, 30_000);
}, 40_000);
afterAll(() => cleanUp(children, dir));

const cli = (args: string[], extra: Record<string, string> = {}) =>
  runCli(args, { cwd: dir, env: envWithout([...GATEWAY_VARIABLES, 'MESHGUARD_APPROVER_TOKEN'], extra) });

describe('meshguard approvals and approver, against a gateway', () => {
  it('an approver created by the admin lists, shows and approves; a second answer exits 1', async () => {
    const admin = { MESHGUARD_ADMIN_TOKEN: ADMIN, MESHGUARD_GATEWAY_URL: url };
    const created = cli(['approver', 'create', '--name', 'maria', '--tags', 'finance'], admin);
    expect(created.code).toBe(EXIT.ok);
    const approverToken = created.stdout.trim();
    expect(approverToken).toMatch(/^mga_/);
    const agentToken = cli(['agent', 'create', '--name', 'payments-bot'], admin).stdout.trim();

    const guard = await createGuard({ gatewayUrl: url, agentToken });
    const decision = await guard.check({
      action: 'write:wire',
      agent: { id: 'x', name: 'x', tags: [], tier: 'basic' },
      context: { to: 'ACME', amount: 9000 },
    });
    await guard.close();
    expect(decision.effect).toBe('require_approval');
    const id = decision.approval!.id;

    const as = { MESHGUARD_APPROVER_TOKEN: approverToken, MESHGUARD_GATEWAY_URL: url };
    const listed = cli(['approvals', 'list'], as);
    expect(listed.code).toBe(EXIT.ok);
    expect(listed.stdout).toContain(id);
    expect(listed.stdout).toContain('write:wire');
    const shown = cli(['approvals', 'show', id, '--json'], as);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      id,
      arguments: { to: 'ACME', amount: 9000 },
      status: 'pending',
    });

    const approved = cli(['approvals', 'approve', id, '--comment', 'checked the invoice', '--json'], as);
    expect(approved.code).toBe(EXIT.ok);
    expect(JSON.parse(approved.stdout).approval).toMatchObject({ status: 'approved', answeredBy: 'maria' });
    const again = cli(['approvals', 'reject', id, '--reason', 'too late'], as);
    expect(again.code).toBe(EXIT.failed);
    expect(again.stderr).toContain('approved');

    const listedApprovers = cli(['approver', 'list', '--json'], admin);
    const approverId = JSON.parse(listedApprovers.stdout.split('\n')[0]!).id;
    expect(cli(['approver', 'revoke', approverId], admin).code).toBe(EXIT.ok);
    const revoked = cli(['approvals', 'list'], as);
    expect(revoked.code).toBe(EXIT.usage);
    expect(revoked.stderr).toContain('refused');
  }, 60_000);

  it('reject needs a reason; an agent token is refused on the inbox', async () => {
    const admin = { MESHGUARD_ADMIN_TOKEN: ADMIN, MESHGUARD_GATEWAY_URL: url };
    const agentToken = cli(['agent', 'create', '--name', 'other-bot'], admin).stdout.trim();
    const noReason = cli(['approvals', 'reject', 'apr_x'], admin);
    expect(noReason.code).toBe(EXIT.usage);
    expect(noReason.stderr).toContain('--reason');
    const asAgent = cli(['approvals', 'list'], {
      MESHGUARD_APPROVER_TOKEN: agentToken,
      MESHGUARD_GATEWAY_URL: url,
    });
    expect(asAgent.code).toBe(EXIT.usage);
    expect(asAgent.stderr).toContain('agent tokens cannot use approval routes');
  }, 60_000);

  it('gateway start --notify refuses a settings file others can read, and names the line of a bad channel', async () => {
    const file = join(dir, 'notify.yaml');
    await writeFile(
      file,
      'channels:\n  - { name: finance, url: "http://127.0.0.1:9/x", format: standard, secret: whsec_abc }\n',
      {
        mode: 0o644,
      },
    );
    await chmod(file, 0o644);
    const env = { MESHGUARD_ADMIN_TOKEN: ADMIN };
    const open = cli(
      ['gateway', 'start', '--port', '0', '--db', `sqlite:${join(dir, 'n.db')}`, '--notify', file],
      env,
    );
    expect(open.code).toBe(EXIT.usage);
    expect(open.stderr).toContain('chmod 600');
    await chmod(file, 0o600);
    await writeFile(
      file,
      'channels:\n  - { name: finance, url: "http://127.0.0.1:9/x", format: carrier-pigeon }\n',
    );
    const bad = cli(
      ['gateway', 'start', '--port', '0', '--db', `sqlite:${join(dir, 'n.db')}`, '--notify', file],
      env,
    );
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toMatch(/notify\.yaml:2:\d+: channels\[0\]\.format/);
    expect(bad.stderr).not.toContain('whsec_');
  });

  it('on the embedded database: watch prints a new request, approve records --by, show exits 1 for an unknown id', async () => {
    const db = `sqlite:${join(dir, 'embedded.db')}`;
    await writeFile(join(dir, 'embedded-policy.yaml'), POLICY);
    const guard = await createGuard({ policies: join(dir, 'embedded-policy.yaml'), store: db });
    const watcher = spawn(process.execPath, [CLI, 'approvals', 'watch', '--json', '--db', db], {
      cwd: dir,
      env: envWithout([...GATEWAY_VARIABLES, 'MESHGUARD_APPROVER_TOKEN']),
    });
    children.push(watcher);
    try {
      let seen = '';
      watcher.stdout.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
      });
      const agent = { id: 'payments-bot', name: 'payments-bot', tags: [], tier: 'basic' as const };
      const decision = await guard.check({
        action: 'write:wire',
        agent,
        context: { to: 'ACME', amount: 12 },
      });
      const id = decision.approval!.id;
      const started = Date.now();
      while (!seen.includes(id) && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 50));
      expect(JSON.parse(seen.trim().split('\n')[0]!)).toMatchObject({
        id,
        status: 'pending',
        arguments: { to: 'ACME' },
      });

      const approved = cli(['approvals', 'approve', id, '--db', db, '--by', 'maria@finance']);
      expect(approved.code).toBe(EXIT.ok);
      expect(await guard.approvalStatus(id)).toMatchObject({
        status: 'approved',
        answeredBy: 'maria@finance',
      });
      expect(
        (
          await guard.check({
            action: 'write:wire',
            agent,
            context: { to: 'ACME', amount: 12 },
            approvalId: id,
          })
        ).allowed,
      ).toBe(true);
      expect(cli(['approvals', 'show', 'apr_nope', '--db', db]).code).toBe(EXIT.failed);
      const all = cli(['approvals', 'list', '--status', 'all', '--db', db]);
      expect(all.stdout).toContain('approved');
    } finally {
      watcher.kill('SIGINT');
      await guard.close();
    }
  }, 60_000);
});
