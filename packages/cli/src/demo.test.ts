import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, ROOT, scratchDir } from './test-helpers/cli-harness';

// `pnpm demo` is `node scripts/demo.mjs`: it builds the packages itself, quietly.

let dir: string;
beforeAll(async () => {
  dir = await scratchDir('mg-demo-');
});
afterAll(() => cleanUp([], dir));

function demo(root: string, env: Record<string, string> = {}) {
  const { NO_COLOR: _no, FORCE_COLOR: _force, ...rest } = process.env;
  return spawnSync(process.execPath, [join(root, 'scripts/demo.mjs')], {
    cwd: root,
    encoding: 'utf8',
    env: { ...rest, NO_COLOR: '1', ...env },
  });
}

describe('pnpm demo', () => {
  it('starts the story on the first screen: one line for the build, then the demos', () => {
    // Here the packages are built already (pnpm test builds first), so turbo only checks its cache.
    const run = demo(ROOT, { MESHGUARD_DB: `sqlite:${join(dir, 'demo.db')}` });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const screen = run.stdout.split('\n').slice(0, 24);
    expect(screen[0]).toMatch(/^building the packages \(turbo run build\)\.\.\. done in \d+\.\ds$/);
    expect(screen).toContain('━━ OpenAI Agents SDK (apps/openai-agents-demo) ━━');
    expect(run.stdout).not.toMatch(/Tasks:|FULL TURBO|tsup|Build success|build: /);
    expect(run.stdout).toContain('audit trail intact');
  }, 120_000);

  it('shows the whole build output and exits with its code when the build fails, running no demo', async () => {
    // A copy of the script beside a turbo that fails after much output, in a folder of its own.
    const root = join(dir, 'repo');
    await mkdir(join(root, 'scripts'), { recursive: true });
    await copyFile(join(ROOT, 'scripts/demo.mjs'), join(root, 'scripts/demo.mjs'));
    await writeFile(
      join(root, 'package.json'),
      JSON.stringify({ name: 'meshguard-monorepo', private: true }),
    );
    const turbo = join(root, 'node_modules/turbo');
    await mkdir(join(turbo, 'bin'), { recursive: true });
    await writeFile(
      join(turbo, 'package.json'),
      JSON.stringify({ name: 'turbo', bin: { turbo: './bin/turbo' } }),
    );
    await writeFile(
      join(turbo, 'bin/turbo'),
      `for (let i = 1; i <= 60; i++) console.log('build step ' + i);
console.error('src/broken.ts:1:22: ERROR: Unexpected ";"');
process.exit(3);
`,
    );
    const run = demo(root);
    expect(run.status).toBe(3);
    for (let i = 1; i <= 60; i++) expect(run.stdout).toContain(`build step ${i}\n`);
    expect(run.stdout).toContain('src/broken.ts:1:22: ERROR: Unexpected ";"');
    expect(run.stdout.split('\n')[0]).toBe('building the packages (turbo run build)... failed:');
    expect(run.stderr).toContain(
      'pnpm demo: the build failed (exit 3), its output is above; no demo was run',
    );
    expect(run.stdout).not.toContain('━━');
  });
});
