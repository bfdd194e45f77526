import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { meshguardAtRoot as meshguard, SEED, scratchDir } from './test-helpers/cli-harness';

let dir: string;
beforeAll(async () => {
  dir = await scratchDir('mg-policy-json-');
});

const TYPO =
  'name: p\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["write:refund"]\n    conditions:\n      amout_max: 100\n';

describe('meshguard policy explain --exit-code', () => {
  const APPROVAL =
    'name: approvals\nversion: "1"\nrules:\n  - effect: require_approval\n    actions: ["write:wire"]\n  - effect: allow\n    actions: ["read:*"]\n';

  it('exits 0 allow, 1 deny, 3 require_approval; without the flag 0 whatever the decision', async () => {
    const policy = join(dir, 'approvals.yaml');
    await writeFile(policy, APPROVAL);
    const explain = (action: string, ...more: string[]) =>
      meshguard('policy', 'explain', '--policy', policy, '--action', action, ...more);
    expect(explain('read:orders', '--exit-code')).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('ALLOW'),
    });
    expect(explain('delete:orders', '--exit-code')).toMatchObject({
      code: 1,
      stdout: expect.stringContaining('DENY'),
    });
    expect(explain('write:wire', '--exit-code')).toMatchObject({ code: 3 });
    const json = explain('write:wire', '--exit-code', '--json');
    expect(JSON.parse(json.stdout).decision.effect).toBe('require_approval');
    expect(json.code).toBe(3);
    for (const action of ['read:orders', 'delete:orders', 'write:wire']) expect(explain(action).code).toBe(0);
    // Bad input stays 2, not a decision.
    expect(explain('nocolon', '--exit-code').code).toBe(2);
  });
});

describe('meshguard policy validate --json', () => {
  it('prints { ok, policies, warnings, errors } with exit 0 valid, 2 invalid or warned under --strict', async () => {
    const valid = meshguard('policy', 'validate', '--json', SEED);
    expect(valid.code).toBe(0);
    expect(valid.stderr).toBe('');
    expect(JSON.parse(valid.stdout)).toEqual({
      ok: true,
      policies: [{ file: SEED, line: 1, name: 'openai-support-agent-policy', version: '1.0', rules: 9 }],
      warnings: [],
      errors: [],
    });

    const typo = join(dir, 'typo.yaml');
    await writeFile(typo, TYPO);
    const invalid = meshguard('policy', 'validate', '--json', typo);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toBe('');
    expect(JSON.parse(invalid.stdout)).toEqual({
      ok: false,
      policies: [],
      warnings: [],
      errors: [
        {
          file: typo,
          line: 7,
          column: 7,
          message: 'unknown key "amout_max" in rules[0].conditions (did you mean "amount_max"?)',
        },
      ],
    });

    const loose = join(dir, 'loose.yaml');
    await writeFile(
      loose,
      'name: l\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["read:x"]\n    conditions: {}\n',
    );
    const warned = JSON.parse(meshguard('policy', 'validate', '--json', loose).stdout);
    expect(warned).toMatchObject({ ok: true, warnings: [{ file: loose, line: 6, column: 17 }] });
    const strict = meshguard('policy', 'validate', '--json', '--strict', loose);
    expect(strict.code).toBe(2);
    expect(JSON.parse(strict.stdout)).toMatchObject({ ok: false, errors: [], warnings: [{ line: 6 }] });
  });

  it('says "1 rule" and "2 rules", "1 policy" and "2 policies"', async () => {
    const one = join(dir, 'one-rule.yaml');
    await writeFile(one, 'name: one\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["read:x"]\n');
    const two = join(dir, 'two-rules.yaml');
    await writeFile(
      two,
      'name: two\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["read:x"]\n  - effect: deny\n    actions: ["write:x"]\n',
    );
    const single = meshguard('policy', 'validate', one);
    expect(single.stdout).toContain('one v1 (1 rule)');
    expect(single.stdout).toContain('1 policy valid');
    const both = meshguard('policy', 'validate', one, two);
    expect(both.stdout).toContain('two v1 (2 rules)');
    expect(both.stdout).toContain('2 policies valid');
  });
});

describe('meshguard policy test --json', () => {
  it('prints { ok, passed, failed, files, errors } with exit 0 all pass, 1 a case failed, 2 an invalid file', async () => {
    const pass = meshguard('policy', 'test', '--json', 'examples/policies/openai-support.cases.yaml');
    expect(pass.code).toBe(0);
    const passed = JSON.parse(pass.stdout);
    expect(passed).toMatchObject({ ok: true, passed: 17, failed: 0, errors: [] });
    expect(passed.files[0].file).toBe('examples/policies/openai-support.cases.yaml');
    expect(passed.files[0].cases[0]).toEqual({
      name: expect.any(String),
      action: expect.any(String),
      passed: true,
      expected: expect.any(String),
      actual: expect.any(String),
      reason: expect.any(String),
    });

    const failing = join(dir, 'failing.cases.yaml');
    await writeFile(
      failing,
      `policies: ${SEED}\nagent: { name: a, tags: [openai] }\ncases:\n  - name: wrong\n    action: write:refund\n    context: { amount: 150 }\n    expect: allow\n`,
    );
    const fail = meshguard('policy', 'test', '--json', failing);
    expect(fail.code).toBe(1);
    expect(JSON.parse(fail.stdout)).toMatchObject({
      ok: false,
      passed: 0,
      failed: 1,
      files: [
        { file: failing, cases: [{ name: 'wrong', passed: false, problem: 'expected allow, got deny' }] },
      ],
      errors: [],
    });

    const bad = join(dir, 'bad.cases.yaml');
    await writeFile(bad, `policies: ${SEED}\ncases:\n  - action: write:refund\n    expct: allow\n`);
    const invalid = meshguard('policy', 'test', '--json', bad);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toBe('');
    expect(JSON.parse(invalid.stdout)).toMatchObject({
      ok: false,
      errors: [
        { file: bad, line: 3, column: 5, message: 'cases[0].expect: is required' },
        { file: bad, line: 4, column: 5 },
      ],
    });
    // Input that is not a policy problem stays one line on stderr, as for every command.
    expect(meshguard('policy', 'test', '--json', join(dir, 'missing.yaml'))).toMatchObject({
      code: 2,
      stdout: '',
      stderr: expect.stringMatching(/^meshguard: cannot read the policy test file/),
    });
  });
});
