// Package correctness of every published package, checked on the tarball `pnpm publish` would
// upload: publint in strict mode (warnings count), are-the-types-wrong (the checks `attw --pack`
// runs: every entry point's types resolve and match its JavaScript under node10, node16 CJS/ESM
// and bundler resolution), and the manifest promises a user relies on.
import { readFileSync } from 'node:fs';
import { checkPackage } from '@arethetypeswrong/core';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import semver from 'semver';
import { describe, expect, inject, it } from 'vitest';
import { tarball } from './packed-tarball';
import { type PackageJson, REPO_ROOT, REPOSITORY_URL, run } from './workspace';

const packed = inject('packed');

function packedManifest(path: string): PackageJson {
  return JSON.parse(tarball(path).read('package.json')) as PackageJson;
}

// `pnpm -r pack` packs private packages too (pnpm skips them only when publishing), so the tarballs
// these tests read come from `pnpm pack:all` (see pack.global.ts), which packs the publishable ones.
describe('pnpm pack:all', () => {
  it('packs every package of the workspace that is not private, and none that is (apps, bench, tests)', async () => {
    const { stdout } = await run('pnpm', ['ls', '--recursive', '--depth', '-1', '--json'], {
      cwd: REPO_ROOT,
    });
    const workspace = JSON.parse(stdout) as { name: string; private?: boolean }[];
    expect(workspace.filter((p) => p.private).map((p) => p.name)).toEqual(
      expect.arrayContaining(['@meshguard/bench', '@meshguard/core-demo', '@meshguard/release-tests']),
    );
    const publishable = workspace.filter((p) => !p.private).map((p) => p.name);
    expect(packed.map((p) => p.name).sort()).toEqual(publishable.sort());
  });
});

describe.each(packed.map((p) => [p.name, p] as const))('%s, as published', (_name, pkg) => {
  it('passes publint --strict', async () => {
    const { bytes } = tarball(pkg.tarball);
    const data = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const { messages, pkg: manifest } = await publint({
      pack: { tarball: data },
      strict: true,
      level: 'suggestion',
    });
    const problems = messages
      .filter((m) => m.type !== 'suggestion')
      .map((m) => `${m.type}: ${formatMessage(m, manifest) ?? m.code}`);
    expect(problems, `publint --strict on ${pkg.dir}`).toEqual([]);
  });

  it('passes are-the-types-wrong (attw --pack)', async () => {
    const result = await checkPackage(tarball(pkg.tarball).contents);
    expect(result.types, `${pkg.name} ships no type declarations`).not.toBe(false);
    const problems =
      'problems' in result
        ? result.problems.map((p) =>
            ['entrypoint' in p ? p.entrypoint : '', 'resolutionKind' in p ? p.resolutionKind : '', p.kind]
              .filter(Boolean)
              .join(' '),
          )
        : [];
    expect(problems, `attw problems in ${pkg.dir}`).toEqual([]);
  });

  it('names Node 20+, a license, real versions of its siblings and the SDK versions it is tested with', () => {
    const manifest = packedManifest(pkg.tarball);
    const source = JSON.parse(readFileSync(`${REPO_ROOT}/${pkg.dir}/package.json`, 'utf8')) as PackageJson;
    expect(manifest.engines?.node, 'engines.node').toBeDefined();
    expect(semver.minVersion(manifest.engines?.node ?? '')?.major).toBe(20);
    expect(manifest.license).toBe('Apache-2.0');
    const ranges = { ...manifest.dependencies, ...manifest.peerDependencies };
    for (const [name, range] of Object.entries(ranges)) {
      expect(range, `${name} in the published manifest`).not.toMatch(/^workspace:/);
      if (name.startsWith('@meshguard/') || name === 'meshguard') {
        expect(semver.satisfies(pkg.version, range), `${name}@${range} accepts the release version`).toBe(
          true,
        );
      }
    }
    // Each peer range must accept the version the workspace tests against (its devDependency).
    for (const [name, range] of Object.entries(source.peerDependencies ?? {})) {
      // A sibling (core's optional peer on the store) is released with it, one version for all.
      if (range.startsWith('workspace:')) continue;
      const tested = source.devDependencies?.[name];
      expect(
        tested,
        `${name} is a peer of ${pkg.name} but no devDependency pins the tested version`,
      ).toBeDefined();
      const version = semver.minVersion(tested ?? '');
      expect(
        version && semver.satisfies(version, range),
        `${name}: tested ${tested} within peer ${range}`,
      ).toBe(true);
    }
  });

  // npm refuses provenance for a package whose manifest names no repository matching the one the
  // workflow runs in; `directory` sends npm's "Repository" link to the package's own folder.
  it('names its repository (at its own folder), homepage and bug tracker', () => {
    const manifest = packedManifest(pkg.tarball);
    expect(manifest.repository, 'repository').toEqual({
      type: 'git',
      url: `git+${REPOSITORY_URL}.git`,
      directory: pkg.dir,
    });
    expect(manifest.homepage, 'homepage').toBe(`${REPOSITORY_URL}/tree/main/${pkg.dir}#readme`);
    expect(manifest.bugs, 'bugs').toEqual({ url: `${REPOSITORY_URL}/issues` });
  });

  // pnpm packs the workspace root's LICENSE into a package that has none of its own.
  it('ships LICENSE, the full Apache-2.0 text of the repository root', () => {
    const { files, read } = tarball(pkg.tarball);
    expect(files, 'LICENSE in the tarball').toContain('LICENSE');
    const license = read('LICENSE');
    expect(license).toBe(readFileSync(`${REPO_ROOT}/LICENSE`, 'utf8'));
    for (const landmark of [
      /^\s+Apache License\n\s+Version 2\.0, January 2004\n/,
      /9\. Accepting Warranty or Additional Liability\./,
      /END OF TERMS AND CONDITIONS/,
      /APPENDIX: How to apply the Apache License to your work\./,
    ]) {
      expect(license, `${pkg.name}'s LICENSE`).toMatch(landmark);
    }
  });

  it('ships its README and built code, and no tests or sources', () => {
    const { files } = tarball(pkg.tarball);
    expect(files).toContain('README.md');
    expect(files).toContain('package.json');
    expect(files.some((f) => f.startsWith('dist/'))).toBe(true);
    expect(files.filter((f) => /\.test\.|(^|\/)src\//.test(f))).toEqual([]);
  });
});
