// The workspace as a release sees it: which packages are published, where they live, and how to
// run the tools a release runs (pnpm, npm, changeset) as child processes with clear failures.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Where the code lives on GitHub: what every manifest names and every absolute docs link points into. */
export const REPOSITORY_URL = 'https://github.com/meshguard/meshguard-ts';

export interface PackageJson {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  repository?: string | { type?: string; url?: string; directory?: string };
  homepage?: string;
  bugs?: string | { url?: string; email?: string };
  engines?: Record<string, string>;
  bin?: string | Record<string, string>;
  exports?: Record<string, unknown>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

export interface WorkspacePackage {
  /** Folder relative to the repository root, e.g. `packages/core`. */
  dir: string;
  manifest: PackageJson;
}

export function readManifest(path: string): PackageJson {
  return JSON.parse(readFileSync(path, 'utf8')) as PackageJson;
}

/** Every package a release publishes: the non-private packages under `packages/`. */
export function publishedPackages(root = REPO_ROOT): WorkspacePackage[] {
  return readdirSync(join(root, 'packages'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(root, 'packages', entry.name, 'package.json')))
    .map((entry) => ({
      dir: `packages/${entry.name}`,
      manifest: readManifest(join(root, 'packages', entry.name, 'package.json')),
    }))
    .filter((pkg) => !pkg.manifest.private)
    .sort((a, b) => a.manifest.name.localeCompare(b.manifest.name));
}

/** Every private workspace package (apps, bench, these tests): never versioned nor published. */
export function privatePackages(root = REPO_ROOT): WorkspacePackage[] {
  const dirs = ['apps', 'tests'].flatMap((group) =>
    existsSync(join(root, group))
      ? readdirSync(join(root, group), { withFileTypes: true })
          .filter((entry) => entry.isDirectory() && existsSync(join(root, group, entry.name, 'package.json')))
          .map((entry) => `${group}/${entry.name}`)
      : [],
  );
  return [...dirs, 'bench']
    .map((dir) => ({ dir, manifest: readManifest(join(root, dir, 'package.json')) }))
    .filter((pkg) => pkg.manifest.private);
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a command and resolves with its output; rejects with the command, its exit code and the
 * tail of its output, so a failing release step says what failed.
 */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...options.env },
        maxBuffer: 64 * 1024 * 1024,
        timeout: options.timeoutMs ?? 600_000,
      },
      (error, stdout, stderr) => {
        if (error) {
          const tail = `${stdout}\n${stderr}`.trim().split('\n').slice(-40).join('\n');
          reject(
            new Error(`\`${command} ${args.join(' ')}\` failed (${error.message.split('\n')[0]}):\n${tail}`),
          );
          return;
        }
        resolvePromise({ stdout, stderr });
      },
    );
  });
}
