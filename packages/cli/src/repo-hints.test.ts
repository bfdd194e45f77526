import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insideMeshGuardRepo } from './repo-hints';
import { cleanUp, envWithout, ROOT, runCli, scratchDir } from './test-helpers/cli-harness';

let dir: string;
beforeAll(async () => {
  dir = await scratchDir('mg-repo-hints-');
});
afterAll(() => cleanUp([], dir));

/** `audit query` on a database that does not exist, run from `cwd`. */
const missingDb = (cwd: string) =>
  runCli(['audit', 'query', '--db', 'sqlite:no-such.db'], {
    cwd,
    env: envWithout(['MESHGUARD_GATEWAY_URL']),
  });

describe('hints that name the repository', () => {
  it('suggest `pnpm demo` inside the MeshGuard repository, at its root or below', () => {
    for (const cwd of [ROOT, join(ROOT, 'packages/cli')]) {
      const { code, stderr } = missingDb(cwd);
      expect(stderr).toContain('run `pnpm demo` first to record one');
      expect(code).toBe(2);
    }
  });

  it('are generic anywhere else, even under another project', async () => {
    const project = join(dir, 'my-app');
    await mkdir(join(project, 'src'), { recursive: true });
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'my-app' }));
    for (const cwd of [dir, join(project, 'src')]) {
      const { code, stderr } = missingDb(cwd);
      expect(stderr.trim()).toBe(
        `meshguard: no audit database at "no-such.db" (pass --db or set MESHGUARD_DB to your app's store, or read a gateway's trail with --gateway)`,
      );
      expect(stderr).not.toContain('demo');
      expect(code).toBe(2);
    }
    expect(insideMeshGuardRepo(project)).toBe(false);
    expect(insideMeshGuardRepo(join(ROOT, 'apps'))).toBe(true);
  });
});
