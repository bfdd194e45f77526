// What the CLI tests share: the built `meshguard` binary run as a user would, a scratch folder per
// test file, and gateways started from it. Test code only: no entry of the package's build
// reaches this file.
import { type ChildProcess, type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const SEED = join(ROOT, 'examples/policies/openai-support.yaml');

/** What a run of the CLI left: its exit code and its output. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function cliRun(result: SpawnSyncReturns<string>): CliRun {
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs the built `meshguard` binary as a user would. */
export function runCli(args: string[], options: { cwd?: string; env: NodeJS.ProcessEnv }): CliRun {
  return cliRun(
    spawnSync(process.execPath, [CLI, ...args], { cwd: options.cwd, encoding: 'utf8', env: options.env }),
  );
}

/** Runs the built `meshguard` binary as a user would, from the repository's root. */
export function meshguardAtRoot(...args: string[]): CliRun {
  return runCli(args, { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
}

/**
 * Runs the built `meshguard` binary with the developer's `MESHGUARD_DB` emptied: each test names
 * the database it reads.
 */
export function meshguardNamingDb(...args: string[]): CliRun {
  return runCli(args, { env: { ...process.env, NO_COLOR: '1', MESHGUARD_DB: '' } });
}

/** A new scratch folder for a test file's `beforeAll`, once the CLI is known to be built. */
export async function scratchDir(prefix: string): Promise<string> {
  if (!existsSync(CLI)) throw new Error('packages/cli is not built: run `pnpm build` first (pnpm test does)');
  return mkdtemp(join(tmpdir(), prefix));
}

/** For a test file's `afterAll`: kills what it started and removes its scratch folder. */
export async function cleanUp(children: ChildProcess[], dir: string): Promise<void> {
  for (const child of children) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
}

/** The variables that point the CLI at a gateway. */
export const GATEWAY_VARIABLES = ['MESHGUARD_ADMIN_TOKEN', 'MESHGUARD_GATEWAY_URL', 'MESHGUARD_AGENT_TOKEN'];

/**
 * The test's environment without `drop` (so that the developer's own settings cannot reach the
 * CLI), without colour, and with `extra`.
 */
export function envWithout(drop: string[], extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const rest = { ...process.env };
  for (const name of drop) delete rest[name];
  return { ...rest, NO_COLOR: '1', ...extra };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/**
 * Collects a started gateway's output; resolves once it says it listens, rejects if it exits first
 * or says nothing of the kind within `timeoutMs`.
 */
export async function untilListening(
  child: ChildProcess,
  timeoutMs: number,
): Promise<{ stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (chunk: Buffer) => {
    out.stdout += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${out.stderr}`)), timeoutMs);
    child.stderr!.on('data', (chunk: Buffer) => {
      out.stderr += chunk.toString();
      if (out.stderr.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`gateway exited ${code}: ${out.stderr}`)));
  });
  return out;
}
