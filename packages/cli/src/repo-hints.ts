import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** The `name` of the MeshGuard repository's root package.json. */
const WORKSPACE_NAME = 'meshguard-monorepo';

/**
 * Whether `cwd` is in a checkout of the MeshGuard repository: a package.json named
 * `meshguard-monorepo` at or above it. Only there do `pnpm demo` and the examples exist.
 */
export function insideMeshGuardRepo(cwd: string = process.cwd()): boolean {
  for (let dir = resolve(cwd); ; ) {
    try {
      const pkg: unknown = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      if ((pkg as { name?: unknown } | null)?.name === WORKSPACE_NAME) return true;
    } catch {
      // No package.json here, or not JSON: look further up.
    }
    const parent = dirname(dir);
    if (parent === dir) return false;
    dir = parent;
  }
}

/** A hint that names the repository's scripts inside the repository, and a generic one elsewhere. */
export function repoHint(inRepo: string, elsewhere: string): string {
  return insideMeshGuardRepo() ? inRepo : elsewhere;
}
