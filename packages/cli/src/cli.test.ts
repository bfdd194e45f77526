import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, meshguardAtRoot as meshguard, ROOT, SEED, scratchDir } from './test-helpers/cli-harness';

let dir: string;
beforeAll(async () => {
  dir = await scratchDir('mg-cli-');
});

describe('meshguard policy test', () => {
  it('passes every case of the seed policy', () => {
    const { code, stdout } = meshguard('policy', 'test', 'examples/policies/openai-support.cases.yaml');
    expect(stdout).toContain("✓ a $150 refund is denied with the policy's reason (write:refund → deny)");
    expect(stdout.trim().split('\n').at(-1)).toBe('17 passed, 0 failed');
    expect(code).toBe(0);
  });

  it('exits 1 when a case fails and says why', async () => {
    const file = join(dir, 'failing.cases.yaml');
    await writeFile(
      file,
      `policies: ${SEED}\nagent: { name: a, tags: [openai] }\nat: "2026-01-05T10:00:00Z"\ncases:\n  - name: wrong\n    action: write:refund\n    context: { amount: 150 }\n    expect: allow\n  - action: write:refund\n    context: { amount: 150 }\n    expect: deny\n    reason: not this text\n`,
    );
    const { code, stdout } = meshguard('policy', 'test', file);
    expect(stdout).toContain('✗ wrong (write:refund): expected allow, got deny');
    expect(stdout).toContain('✗ case 2 (write:refund): reason does not contain "not this text"');
    expect(stdout).toContain('0 passed, 2 failed');
    expect(code).toBe(1);
  });

  it('exits 2 on an invalid case file, with file:line:col', async () => {
    const file = join(dir, 'bad.cases.yaml');
    await writeFile(file, `policies: ${SEED}\ncases:\n  - action: write:refund\n    expct: allow\n`);
    const { code, stderr } = meshguard('policy', 'test', file);
    expect(stderr.trim().split('\n')).toEqual([
      `${file}:3:5: cases[0].expect: is required`,
      `${file}:4:5: unknown key "expct" in cases[0] (did you mean "expect"?)`,
    ]);
    expect(code).toBe(2);
    expect(meshguard('policy', 'test', join(dir, 'missing.yaml'))).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('cannot read the policy test file'),
    });
  });
});

describe('meshguard policy validate', () => {
  it('accepts the example policies', () => {
    const { code, stdout } = meshguard('policy', 'validate', 'examples/policies');
    expect(stdout).toContain('openai-support-agent-policy v1.0 (9 rules)');
    expect(code).toBe(0);
  });

  it('prints every error as file:line:col and exits 2', async () => {
    const file = join(dir, 'typo.yaml');
    await writeFile(
      file,
      'name: p\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["write:refund"]\n    conditions:\n      amout_max: 100\n      time_range: "9-5"\n',
    );
    const { code, stdout, stderr } = meshguard('policy', 'validate', file);
    expect(stderr.trim().split('\n')).toEqual([
      `${file}:7:7: unknown key "amout_max" in rules[0].conditions (did you mean "amount_max"?)`,
      `${file}:8:19: rules[0].conditions.time_range: time_range must be "HH:MM-HH:MM" (24-hour clock, e.g. "09:00-18:00")`,
    ]);
    expect(stdout).toBe('');
    expect(code).toBe(2);
  });
});

describe('meshguard policy explain', () => {
  it("reads a time without a zone as UTC, whatever the machine's zone", () => {
    for (const TZ of ['UTC', 'America/New_York', 'Asia/Tokyo']) {
      const result = spawnSync(
        process.execPath,
        [
          CLI,
          'policy',
          'explain',
          '--policy',
          SEED,
          '--action',
          'write:email',
          '--tags',
          'openai',
          '--at',
          '2026-01-05T17:30:00',
          '--json',
        ],
        { cwd: ROOT, encoding: 'utf8', env: { ...process.env, TZ } },
      );
      expect(JSON.parse(result.stdout).decision.effect).toBe('allow');
    }
  });

  it('prints the decision and every rule considered', () => {
    const { code, stdout } = meshguard(
      'policy',
      'explain',
      '--policy',
      SEED,
      '--action',
      'write:email',
      '--agent',
      'bot',
      '--tags',
      'openai',
      '--at',
      '2026-01-05T20:00:00Z',
    );
    expect(stdout).toContain('DENY  write:email');
    expect(stdout).toContain('✗ time is within 09:00-18:00 UTC: time is 20:00 UTC');
    expect(code).toBe(0);
  });

  it('prints the Decision and the explanation as JSON', () => {
    const { code, stdout } = meshguard(
      'policy',
      'explain',
      '--policy',
      SEED,
      '--action',
      'write:refund',
      '--tags',
      'support',
      '--context',
      '{"amount": 79.99}',
      '--json',
    );
    const parsed = JSON.parse(stdout);
    expect(parsed.decision).toMatchObject({
      allowed: true,
      effect: 'allow',
      rule: { id: 'openai-support-agent-policy#3', index: 3 },
      mode: 'enforce',
    });
    expect(parsed.explanation.rules).toHaveLength(9);
    expect(code).toBe(0);
  });

  it.each([
    [['--policy', SEED, '--action', 'a:b', '--context', '{bad'], /^meshguard: --context: invalid JSON/],
    [
      ['--policy', SEED, '--action', 'a:b', '--context', '[1]'],
      /^meshguard: --context: must be a JSON object/,
    ],
    [['--policy', SEED], /^meshguard: required option '--action <action>' not specified/],
    [['--policy', SEED, '--action', 'a:b', '--bogus'], /^meshguard: unknown option '--bogus'/],
    [
      ['--policy', SEED, '--action', 'a:b', '--at', 'yesterday'],
      /^meshguard: --at: "yesterday" is not an ISO time/,
    ],
    [
      ['--policy', SEED, '--action', 'a:b', '--tier', 'gold'],
      /^meshguard: option '--tier <tier>' argument 'gold' is invalid/,
    ],
    [['--policy', SEED, '--action', 'nocolon'], /^meshguard: --action: "nocolon" is not "verb:resource"/],
    [['--policy', 'nowhere.yaml', '--action', 'a:b'], /^meshguard: cannot read policies from "nowhere.yaml"/],
    [['--action', 'a:b'], /^meshguard: required option '--policy <path>' not specified/],
  ])('rejects bad input with one line and exit 2: %j', (args, message) => {
    const { code, stdout, stderr } = meshguard('policy', 'explain', ...args);
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stdout).toBe('');
    expect(code).toBe(2);
  });
});
