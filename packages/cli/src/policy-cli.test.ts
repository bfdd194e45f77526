import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from './cli-error';
import { meshguardAtRoot as meshguard, SEED, scratchDir } from './test-helpers/cli-harness';
import { parseIsoTimeFlag, parseTimeFlag } from './time-flags';

let dir: string;
beforeAll(async () => {
  dir = await scratchDir('mg-policy-cli-');
});

const HEAD = 'name: p\nversion: "1"\n';

describe('meshguard policy validate: warnings and --strict', () => {
  it('prints warnings as file:line:col and passes; --strict fails on them with exit 2', async () => {
    const file = join(dir, 'loose.yaml');
    await writeFile(
      file,
      `${HEAD}rules:\n  - effect: allow\n    actions: ["write:refund"]\n    conditions: {}\n`,
    );
    const loose = meshguard('policy', 'validate', file);
    expect(loose.stderr.trim()).toBe(
      `${file}:6:17: conditions is empty: the rule allows unconditionally (warning)`,
    );
    expect(loose.stdout).toContain('1 policy valid, 1 warning');
    expect(loose.code).toBe(0);
    const strict = meshguard('policy', 'validate', '--strict', file);
    expect(strict.stderr.trim().split('\n')).toEqual([
      `${file}:6:17: conditions is empty: the rule allows unconditionally (warning)`,
      '1 warning: invalid under --strict',
    ]);
    expect(strict.stdout).toBe('');
    expect(strict.code).toBe(2);
    expect(meshguard('policy', 'validate', '--strict', 'examples/policies').code).toBe(0);
  });

  it('refuses a YAML alias bomb as a policy error (exit 2, file:line:col), not an unexpected error', async () => {
    const file = join(dir, 'bomb.yaml');
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(', ')}]`);
    }
    await writeFile(file, `${levels.join('\n')}\n`);
    const { code, stderr } = meshguard('policy', 'validate', file);
    expect(stderr.trim()).toBe(
      `${file}:2:8: YAML aliases expand too far (more than 100 nodes through aliases): refused as a possible alias bomb`,
    );
    expect(code).toBe(2);
  });

  it('refuses __proto__ under conditions.context (exit 2, file:line:col)', async () => {
    const file = join(dir, 'proto.yaml');
    await writeFile(
      file,
      `${HEAD}rules:\n  - effect: allow\n    actions: ["write:refund"]\n    conditions:\n      context:\n        __proto__: { eq: admin }\n`,
    );
    const { code, stderr } = meshguard('policy', 'validate', file);
    expect(stderr.trim()).toBe(
      `${file}:8:9: "__proto__" cannot be a key in a policy (it names JavaScript's object machinery, not data)`,
    );
    expect(code).toBe(2);
  });
});

describe('time flags refuse impossible dates', () => {
  it('meshguard policy explain --at 2026-02-30T10:00:00Z is an error (exit 2), not March 2nd', () => {
    const explainAt = (at: string, ...more: string[]) =>
      meshguard('policy', 'explain', '--policy', SEED, '--action', 'read:x', '--at', at, ...more);
    const bad = explainAt('2026-02-30T10:00:00Z');
    expect(bad.stderr.trim()).toBe(
      'meshguard: --at: "2026-02-30T10:00:00Z" is not a valid time: 2026-02 has no day 30',
    );
    expect(bad.code).toBe(2);
    const good = explainAt('2028-02-29T10:00:00Z', '--json');
    expect(JSON.parse(good.stdout).decision.evaluatedAt).toBe('2028-02-29T10:00:00.000Z');
  });

  it('a policy test case file with an impossible `at` is invalid (exit 2)', async () => {
    const file = join(dir, 'feb30.cases.yaml');
    await writeFile(
      file,
      `policies: ${SEED}\nat: "2026-02-30T10:00:00Z"\ncases:\n  - action: read:x\n    expect: deny\n`,
    );
    const { code, stderr } = meshguard('policy', 'test', file);
    expect(stderr).toContain(`${file}:2:5: at: not a valid ISO time: 2026-02 has no day 30`);
    expect(code).toBe(2);
  });

  it('every ISO time flag checks the calendar and the clock', () => {
    for (const text of [
      '2026-02-30T10:00:00Z',
      '2026-13-01',
      '2025-02-29',
      '2026-01-05T24:00:00Z',
      '2026-01-05T10:60:00Z',
      '2026-04-31',
    ]) {
      expect(() => parseTimeFlag('--since', text), text).toThrow(UsageError);
      expect(() => parseIsoTimeFlag('--at', text), text).toThrow(UsageError);
    }
    expect(parseTimeFlag('--since', '2024-02-29T10:00:00')).toBe('2024-02-29T10:00:00.000Z');
    expect(parseTimeFlag('--since', '2026-01-05T12:00:00+02:00')).toBe('2026-01-05T10:00:00.000Z');
    expect(parseTimeFlag('--since', '2026-01-05')).toBe('2026-01-05T00:00:00.000Z');
    expect(parseTimeFlag('--since', '15m', Date.parse('2026-01-05T10:00:00Z'))).toBe(
      '2026-01-05T09:45:00.000Z',
    );
  });
});
