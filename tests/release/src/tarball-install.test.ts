// What `npm install @meshguard/<adapter>` gives a user: every published package installed from
// its tarball with npm into a fresh project outside the workspace (no workspace links, no pnpm),
// next to the framework SDK versions the adapter is tested with. For each adapter a small script
// runs once as ESM and once as CommonJS: it governs tool calls with the real SDK offline and reads
// the decisions back from the embedded audit store; then the installed `meshguard` CLI verifies
// the trail and queries it.
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type PackageJson, REPO_ROOT, readManifest, run } from './workspace';

const packed = inject('packed');
const SMOKE = join(REPO_ROOT, 'tests/release/smoke');

/** Published packages that are not adapters: the rest must each have a smoke script pair. */
const INFRASTRUCTURE = new Set(['@meshguard/core', '@meshguard/store', '@meshguard/gateway', 'meshguard']);
const adapters = packed.filter((p) => !INFRASTRUCTURE.has(p.name));

function smokeName(packageName: string): string {
  return packageName.replace(/^@meshguard\//, '');
}

interface SmokeResult {
  format: 'esm' | 'cjs';
  decisions: { action: string; effect: string; framework: string; reason: string }[];
  [key: string]: unknown;
}

describe('installed from tarballs with npm, outside the workspace', () => {
  let project = '';

  beforeAll(async () => {
    project = mkdtempSync(join(tmpdir(), 'meshguard-install-'));
    const dependencies: Record<string, string> = {};
    for (const pkg of packed) dependencies[pkg.name] = `file:${pkg.tarball}`;
    // Each adapter's framework SDK at the version its workspace tests use (its devDependency).
    for (const pkg of adapters) {
      const source: PackageJson = readManifest(join(REPO_ROOT, pkg.dir, 'package.json'));
      for (const name of Object.keys(source.peerDependencies ?? {})) {
        const tested = source.devDependencies?.[name];
        if (tested && !tested.startsWith('workspace:')) dependencies[name] = tested;
      }
    }
    writeFileSync(
      join(project, 'package.json'),
      `${JSON.stringify(
        {
          name: 'meshguard-install-check',
          private: true,
          version: '0.0.0',
          dependencies,
          // Siblings resolve to the tarballs too, never to a registry copy of the same name.
          overrides: Object.fromEntries(packed.map((p) => [p.name, `file:${p.tarball}`])),
        },
        null,
        2,
      )}\n`,
    );
    for (const file of readdirSync(SMOKE)) cpSync(join(SMOKE, file), join(project, file));
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], {
      cwd: project,
      timeoutMs: 900_000,
    });
  });

  afterAll(() => {
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it('has a smoke script pair for every adapter package', () => {
    expect(adapters.map((a) => a.name)).toContain('@meshguard/openai-agents');
    for (const adapter of adapters) {
      for (const ext of ['mjs', 'cjs']) {
        expect(existsSync(join(SMOKE, `${smokeName(adapter.name)}.${ext}`)), `${adapter.name} .${ext}`).toBe(
          true,
        );
      }
    }
  });

  it('installed real copies, not links into the workspace', () => {
    for (const pkg of packed) {
      const installed = readManifest(join(project, 'node_modules', pkg.name, 'package.json'));
      expect(installed.version).toBe(pkg.version);
      expect(existsSync(join(project, 'node_modules', pkg.name, 'src')), `${pkg.name} ships src/`).toBe(
        false,
      );
    }
  });

  describe.each(adapters.map((a) => [a.name, smokeName(a.name)] as const))('%s', (_name, smoke) => {
    it.each(['mjs', 'cjs'] as const)('governs tool calls with the real SDK from .%s', async (ext) => {
      const db = join(project, `${smoke}-${ext}.db`);
      const traceId = `trace_install_${smoke}_${ext}`;
      const { stdout } = await run('node', [`${smoke}.${ext}`, db, traceId], { cwd: project });
      const result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as SmokeResult;
      expect(result.format).toBe(ext === 'mjs' ? 'esm' : 'cjs');
      expect(result.decisions.map((d) => `${d.action} ${d.effect}`)).toEqual([
        'write:refund allow',
        'write:refund deny',
      ]);
      expect(result.decisions[1]?.reason).toContain('Refunds over $100 require manager approval');
      expect(new Set(result.decisions.map((d) => d.framework)).size).toBe(1);

      const cli = join(project, 'node_modules/.bin/meshguard');
      const verify = await run(cli, ['audit', 'verify', '--db', db], { cwd: project });
      expect(verify.stdout).toMatch(/intact/i);
      const query = await run(cli, ['audit', 'query', '--trace', traceId, '--json', '--db', db], {
        cwd: project,
      });
      const lines = query.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { type: string; action: string; effect: string; id: string });
      // The installed CLI reads back exactly what the script read through the installed store.
      expect(
        lines
          .filter((e) => e.type === 'decision')
          .map((e) => `${e.action} ${e.effect}`)
          .sort(),
      ).toEqual(['write:refund allow', 'write:refund deny']);
      expect(lines.filter((e) => e.type === 'outcome')).toHaveLength(2);
    });
  });
});
