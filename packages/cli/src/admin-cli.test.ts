import { type ChildProcess, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayError } from '@meshguard/core';
import stringWidth from 'string-width';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, reportError } from './cli-error';
import {
  CLI,
  cleanUp,
  envWithout,
  freePort,
  GATEWAY_VARIABLES,
  runCli,
  SEED,
  scratchDir,
  untilListening,
} from './test-helpers/cli-harness';

const ADMIN = 'cli-admin-json-token-0123456789ab';

let dir: string;
let url: string;
const children: ChildProcess[] = [];
beforeAll(async () => {
  dir = await scratchDir('mg-admin-cli-');
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [CLI, 'gateway', 'start', '--port', String(port), '--db', `sqlite:${join(dir, 'gateway.db')}`],
    {
      cwd: dir,
      env: envWithout(GATEWAY_VARIABLES, { MESHGUARD_ADMIN_TOKEN: ADMIN, MESHGUARD_LOG_LEVEL: 'warn' }),
    },
  );
  children.push(child);
  await untilListening(child, 30_000);
}, 40_000);
afterAll(() => cleanUp(children, dir));

/** The CLI as the gateway's admin (or with `extra` in its environment instead). */
const meshguard = (args: string[], extra: Record<string, string> = {}) =>
  runCli(args, {
    cwd: dir,
    env: envWithout(GATEWAY_VARIABLES, {
      MESHGUARD_GATEWAY_URL: url,
      MESHGUARD_ADMIN_TOKEN: ADMIN,
      ...extra,
    }),
  });

describe('meshguard agent list', () => {
  it('has a title row, and its columns line up with CJK and emoji names', () => {
    for (const [name, id] of [
      ['Customer Support Agent', 'cs-1'],
      ['客服助手', 'cs-2'],
      ['🤖 bot', 'cs-3'],
    ] as const) {
      expect(meshguard(['agent', 'create', '--name', name, '--id', id, '--tags', 'support']).code).toBe(0);
    }
    const { code, stdout } = meshguard(['agent', 'list']);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+TIER\s+TAGS\s+STATUS$/);
    expect(lines).toHaveLength(4);
    // Each column starts at the same terminal column on every line: widths counted in cells.
    const startOf = (line: string, text: string) => stringWidth(line.slice(0, line.indexOf(text)));
    const tier = startOf(lines[0]!, 'TIER');
    const status = startOf(lines[0]!, 'STATUS');
    for (const line of lines.slice(1)) {
      expect(startOf(line, 'basic'), line).toBe(tier);
      expect(startOf(line, 'active'), line).toBe(status);
    }
    expect(lines.find((l) => l.includes('客服助手'))).toMatch(/^cs-2\s+客服助手\s+basic\s+support\s+active$/);
  });
});

describe('meshguard agent revoke --json', () => {
  it('prints { ok, id, revoked } (exit 0), and for an unknown agent ok false with the error (exit 1)', () => {
    expect(meshguard(['agent', 'create', '--name', 'Temp', '--id', 'temp-1']).code).toBe(0);
    const revoked = meshguard(['agent', 'revoke', 'temp-1', '--json']);
    expect(revoked).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(revoked.stdout)).toEqual({ ok: true, id: 'temp-1', revoked: true });
    const unknown = meshguard(['agent', 'revoke', 'nobody', '--json']);
    expect(unknown).toMatchObject({ code: 1, stderr: '' });
    expect(JSON.parse(unknown.stdout)).toEqual({
      ok: false,
      id: 'nobody',
      revoked: false,
      error: 'no agent "nobody"',
    });
    expect(meshguard(['agent', 'revoke', 'nobody'])).toMatchObject({
      code: 1,
      stderr: 'meshguard: no agent "nobody"\n',
    });
  });
});

describe('meshguard policy push --json', () => {
  it('prints { ok, version, files } when in force, { ok: false, errors } when refused (exit 2)', async () => {
    const pushed = meshguard(['policy', 'push', SEED, '--json']);
    expect(pushed).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(pushed.stdout)).toEqual({
      ok: true,
      version: expect.any(Number),
      files: ['openai-support.yaml'],
    });
    const bad = join(dir, 'bad.yaml');
    await writeFile(
      bad,
      'name: bad\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["write:refund"]\n    conditions:\n      amout_max: 100\n',
    );
    const refused = meshguard(['policy', 'push', bad, '--json']);
    expect(refused).toMatchObject({ code: 2, stderr: '' });
    expect(JSON.parse(refused.stdout)).toEqual({
      ok: false,
      errors: [
        {
          file: 'bad.yaml',
          line: 7,
          column: 7,
          message: 'unknown key "amout_max" in rules[0].conditions (did you mean "amount_max"?)',
        },
      ],
    });
  });
});

describe('an unreachable gateway', () => {
  it('is a network error (exit 69) naming the URL, for every command that talks to a gateway', async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    for (const args of [
      ['agent', 'list'],
      ['agent', 'revoke', 'cs-1', '--json'],
      ['policy', 'push', SEED, '--json'],
      ['audit', 'query'],
      ['audit', 'verify', '--json'],
    ]) {
      const { code, stdout, stderr } = meshguard([...args, '--gateway', nowhere]);
      expect(stderr, args.join(' ')).toBe(
        `meshguard: network error: the MeshGuard gateway at ${nowhere} was unreachable (ECONNREFUSED): nothing listens there: is the gateway running, and is --gateway (or MESHGUARD_GATEWAY_URL) right?\n`,
      );
      expect(stdout).toBe('');
      expect(code).toBe(EXIT.network);
    }
  });

  it('names a host that does not exist', () => {
    // .invalid never resolves (RFC 6761).
    const { code, stderr } = meshguard([
      'agent',
      'list',
      '--gateway',
      'http://meshguard-gateway.invalid:8787',
    ]);
    expect(stderr).toMatch(
      /^meshguard: network error: the MeshGuard gateway at http:\/\/meshguard-gateway\.invalid:8787 was unreachable \((ENOTFOUND|EAI_AGAIN)\): /,
    );
    expect(code).toBe(69);
  });

  it('reports a gateway that does not answer in time as a network error too', () => {
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l), color: false };
    const silent = new GatewayError(
      'the MeshGuard gateway at http://gw.example did not answer within 10000 ms',
      {
        code: 'gateway_timeout',
      },
    );
    expect(reportError(io, silent)).toBe(69);
    expect(lines).toEqual([
      'meshguard: network error: the MeshGuard gateway at http://gw.example did not answer within 10000 ms: is it overloaded, or is --gateway (or MESHGUARD_GATEWAY_URL) some other server?',
    ]);
    // A refusal is the gateway's answer, not a network error.
    const refusal = new GatewayError('forbidden', { code: 'forbidden', status: 403 });
    expect(reportError(io, refusal)).toBe(2);
  });
});
