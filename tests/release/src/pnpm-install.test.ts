// Core finds the default store the way a package manager lays it out, not by looking in the
// current folder: with pnpm's isolated node_modules (and hoisting off), core and the store each
// sit in their own folder under node_modules/.pnpm, core's optional peer linked beside it.
// Installed from the tarballs with pnpm (from the store the workspace's own install filled), then
// run from a folder that is not the project, so nothing resolves from the current folder.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT, readManifest, run } from './workspace';

const packed = inject('packed');
const wanted = ['@meshguard/core', '@meshguard/store'];

describe('installed with pnpm: core reaches the store through its optional peer, not the current folder', () => {
  let project = '';
  let elsewhere = '';

  beforeAll(async () => {
    project = mkdtempSync(join(tmpdir(), 'meshguard-pnpm-'));
    elsewhere = mkdtempSync(join(tmpdir(), 'meshguard-elsewhere-'));
    const tarballs = Object.fromEntries(
      packed.filter((p) => wanted.includes(p.name)).map((p) => [p.name, `file:${p.tarball}`]),
    );
    expect(Object.keys(tarballs).sort()).toEqual(wanted);
    const zod = readManifest(join(REPO_ROOT, 'packages/core/package.json')).peerDependencies?.zod ?? '';
    writeFileSync(
      join(project, 'package.json'),
      `${JSON.stringify({
        name: 'meshguard-pnpm-check',
        private: true,
        type: 'module',
        dependencies: { ...tarballs, zod },
        pnpm: { overrides: tarballs },
      })}\n`,
    );
    writeFileSync(
      join(project, 'open.mjs'),
      `import { createGuard } from '@meshguard/core';
try {
  const guard = await createGuard({ policies: [], env: { MESHGUARD_DB: 'sqlite:' + process.argv[2] } });
  console.log(JSON.stringify({ opened: true }));
  await guard.close();
} catch (e) {
  console.log(JSON.stringify({ opened: false, code: e.code, message: e.message }));
}
`,
    );
    await run(
      'pnpm',
      ['install', '--prefer-offline', '--config.hoist=false', '--config.confirmModulesPurge=false'],
      {
        cwd: project,
        env: { npm_config_workspace_dir: '' },
        timeoutMs: 300_000,
      },
    );
  });

  afterAll(() => {
    for (const dir of [project, elsewhere]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('opens the SQLite store the environment names (or the store itself says which driver is missing)', async () => {
    const { stdout } = await run('node', [join(project, 'open.mjs'), join(elsewhere, 'audit.db')], {
      cwd: elsewhere,
      // pnpm and vitest set NODE_PATH to their own folders; a user's app has none.
      env: { NODE_PATH: '' },
    });
    const result = JSON.parse(stdout.trim()) as { opened: boolean; code?: string; message?: string };
    // node:sqlite (Node 22.13+) opens it with nothing compiled. On an older Node without
    // better-sqlite3, the error is the store's own: core found the store.
    const hasNodeSqlite = typeof process.getBuiltinModule === 'function' && hasBuiltin('node:sqlite');
    if (hasNodeSqlite) expect(result).toEqual({ opened: true });
    else expect(result.code, result.message).toBe('store_driver_missing');
  });
});

function hasBuiltin(name: string): boolean {
  try {
    return process.getBuiltinModule(name) !== undefined;
  } catch {
    return false;
  }
}
