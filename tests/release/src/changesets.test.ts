// The changesets flow on a scratch copy of the repository: a sample changeset for one package,
// then `pnpm version-packages` (changeset version + lockfile refresh) as a maintainer runs it.
// Every published package must move to one version together (the `fixed` group), private
// packages must not move, every published package gets a CHANGELOG entry, the lockfile must still
// install frozen, and the packed manifests must name the new version of their siblings.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import semver from 'semver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privatePackages, publishedPackages, REPO_ROOT, readManifest, run } from './workspace';

const OFFLINE = { npm_config_offline: 'true' };

describe('pnpm version-packages on a scratch copy with a sample changeset', () => {
  let scratch = '';
  const before = publishedPackages();
  const privateBefore = privatePackages();
  const oldVersion = before[0]?.manifest.version ?? '';

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'meshguard-changesets-'));
    // The files git knows about (committed or not yet committed, minus ignored ones): a clean clone.
    const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: REPO_ROOT,
    });
    for (const file of stdout.split('\0').filter(Boolean)) {
      if (!existsSync(join(REPO_ROOT, file))) continue; // deleted in the working tree
      mkdirSync(dirname(join(scratch, file)), { recursive: true });
      cpSync(join(REPO_ROOT, file), join(scratch, file));
    }
    writeFileSync(
      join(scratch, '.changeset/release-test-sample.md'),
      '---\n"@meshguard/core": patch\n---\n\nRelease test: a sample fix in core only.\n',
    );
    // Linked from pnpm's store (no downloads, no builds): the tools version-packages needs.
    await run('pnpm', ['install', '--offline', '--frozen-lockfile', '--ignore-scripts'], { cwd: scratch });
    await run('pnpm', ['version-packages'], { cwd: scratch, env: OFFLINE });
  });

  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('moves every published package to one new version together', () => {
    expect(before.length).toBeGreaterThanOrEqual(5);
    expect(new Set(before.map((p) => p.manifest.version)).size, 'published packages start aligned').toBe(1);
    const after = before.map((p) => readManifest(join(scratch, p.dir, 'package.json')));
    const versions = new Set(after.map((m) => m.version));
    expect(versions.size, `versions after: ${[...versions].join(', ')}`).toBe(1);
    const [newVersion] = [...versions];
    expect(semver.gt(newVersion ?? '0.0.0', oldVersion), `${newVersion} > ${oldVersion}`).toBe(true);
  });

  it('leaves private packages (apps, bench, tests) alone', () => {
    expect(privateBefore.map((p) => p.dir)).toEqual(expect.arrayContaining(['bench', 'tests/release']));
    for (const pkg of privateBefore) {
      expect(readManifest(join(scratch, pkg.dir, 'package.json')).version, pkg.dir).toBe(
        pkg.manifest.version,
      );
      expect(existsSync(join(scratch, pkg.dir, 'CHANGELOG.md')), `${pkg.dir}/CHANGELOG.md`).toBe(false);
    }
  });

  it('writes a CHANGELOG entry for every published package, with the change where it was made', () => {
    const newVersion = readManifest(join(scratch, 'packages/core/package.json')).version;
    for (const pkg of before) {
      const changelog = readFileSync(join(scratch, pkg.dir, 'CHANGELOG.md'), 'utf8');
      expect(changelog, pkg.dir).toContain(`## ${newVersion}`);
    }
    expect(readFileSync(join(scratch, 'packages/core/CHANGELOG.md'), 'utf8')).toContain(
      'Release test: a sample fix in core only.',
    );
    expect(existsSync(join(scratch, '.changeset/release-test-sample.md')), 'changeset consumed').toBe(false);
  });

  it('keeps the lockfile installable and publishes siblings at the new version', async () => {
    await run('pnpm', ['install', '--offline', '--frozen-lockfile', '--ignore-scripts'], { cwd: scratch });
    const newVersion = readManifest(join(scratch, 'packages/core/package.json')).version;
    const packs = mkdtempSync(join(tmpdir(), 'meshguard-changesets-packs-'));
    try {
      for (const pkg of before) {
        const { stdout } = await run('pnpm', ['pack', '--pack-destination', packs], {
          cwd: join(scratch, pkg.dir),
        });
        const tarball = stdout.trim().split('\n').pop()?.trim() ?? '';
        const unpacked = join(packs, pkg.manifest.name.replace(/[@/]/g, '_'));
        mkdirSync(unpacked);
        await run('tar', ['-xzf', tarball, '-C', unpacked, 'package/package.json'], { cwd: packs });
        const manifest = readManifest(join(unpacked, 'package/package.json'));
        const internal = Object.entries({ ...manifest.dependencies, ...manifest.peerDependencies }).filter(
          ([name]) => name.startsWith('@meshguard/') || name === 'meshguard',
        );
        for (const [name, range] of internal) {
          expect(range, `${pkg.manifest.name} -> ${name}`).toBe(`^${newVersion}`);
        }
      }
    } finally {
      rmSync(packs, { recursive: true, force: true });
    }
  });
});
