// The API report check (`pnpm api:check`, part of `pnpm test`) fails when a public entry's API
// differs from its checked-in report, and names the entry. Run here on a copy of core's reports, so
// the checked-in ones are never touched.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './workspace';

const run = promisify(execFile);
const SCRIPT = join(REPO_ROOT, 'scripts/api-report.mjs');
const copy = mkdtempSync(join(tmpdir(), 'mg-api-report-'));
afterAll(() => rmSync(copy, { recursive: true, force: true }));

const check = async () => {
  try {
    const { stdout } = await run(process.execPath, [SCRIPT, '--only', 'core', '--reports', copy], {
      cwd: REPO_ROOT,
    });
    return { code: 0, out: stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, out: failed.stdout + failed.stderr };
  }
};

describe('the API report check', () => {
  it('passes on the checked-in reports and fails, naming the entry, when the API moved', async () => {
    cpSync(join(REPO_ROOT, 'packages/core/api'), join(copy, 'core'), { recursive: true });
    const same = await check();
    expect(same.out).toContain('2 API reports match the build');
    expect(same.code).toBe(0);

    // As if `createGuard` had been added to the API without updating the report.
    const report = join(copy, 'core/index.api.md');
    const text = readFileSync(report, 'utf8');
    const withoutCreateGuard = text.replace(/^export function createGuard\(.*$/m, '');
    expect(withoutCreateGuard).not.toBe(text);
    writeFileSync(report, withoutCreateGuard);
    const moved = await check();
    expect(moved.code).toBe(1);
    expect(moved.out).toMatch(/@meshguard\/core \.: the public API differs from .*index\.api\.md/);
    expect(moved.out).toContain('pnpm api:update');
  }, 60_000);
});
