// Packs every published package once per test run with `pnpm pack:all`, the root script that packs
// the publishable packages only, exactly as `pnpm publish` would (pnpm rewrites `workspace:` ranges
// into real versions and packs the root LICENSE), and hands the tarballs to the release tests.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { publishedPackages, REPO_ROOT, run } from './workspace';

export interface PackedPackage {
  name: string;
  version: string;
  /** Folder relative to the repository root. */
  dir: string;
  /** Absolute path of the tarball. */
  tarball: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    packed: PackedPackage[];
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  const published = publishedPackages();
  for (const pkg of published) {
    if (!existsSync(join(REPO_ROOT, pkg.dir, 'dist'))) {
      throw new Error(`${pkg.dir} has no dist/: build first (\`pnpm build\`; \`pnpm test\` does it)`);
    }
  }
  const dirs = new Map(published.map((pkg) => [pkg.manifest.name, pkg.dir]));
  const destination = mkdtempSync(join(tmpdir(), 'meshguard-packs-'));
  const args = ['--silent', 'pack:all', '--pack-destination', destination, '--json'];
  try {
    const { stdout } = await run('pnpm', args, { cwd: REPO_ROOT });
    const tarballs = JSON.parse(stdout) as { name: string; version: string; filename: string }[];
    const packed = tarballs.map(({ name, version, filename }): PackedPackage => {
      const dir = dirs.get(name);
      if (!dir) throw new Error(`pnpm pack:all packed ${name}, which is private: it must not be packed`);
      if (!existsSync(filename)) throw new Error(`pnpm pack:all named ${filename}, which it did not write`);
      return { name, version, dir, tarball: filename };
    });
    project.provide(
      'packed',
      packed.sort((a, b) => a.name.localeCompare(b.name)),
    );
  } catch (error) {
    rmSync(destination, { recursive: true, force: true });
    throw error;
  }
  return () => rmSync(destination, { recursive: true, force: true });
}
