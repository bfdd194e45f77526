// Packs every published package once per test run, exactly as `pnpm publish` would (pnpm rewrites
// `workspace:` ranges into real versions), and hands the tarballs to the release tests.
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
  const destination = mkdtempSync(join(tmpdir(), 'meshguard-packs-'));
  const packed: PackedPackage[] = [];
  for (const pkg of publishedPackages()) {
    const dist = join(REPO_ROOT, pkg.dir, 'dist');
    if (!existsSync(dist)) {
      throw new Error(`${pkg.dir} has no dist/: build first (\`pnpm build\`; \`pnpm test\` does it)`);
    }
    const { stdout } = await run('pnpm', ['pack', '--pack-destination', destination], {
      cwd: join(REPO_ROOT, pkg.dir),
    });
    const tarball = stdout.trim().split('\n').pop()?.trim() ?? '';
    if (!tarball.endsWith('.tgz') || !existsSync(tarball)) {
      throw new Error(`pnpm pack in ${pkg.dir} printed no tarball path:\n${stdout}`);
    }
    packed.push({ name: pkg.manifest.name, version: pkg.manifest.version, dir: pkg.dir, tarball });
  }
  project.provide('packed', packed);
  return () => rmSync(destination, { recursive: true, force: true });
}
