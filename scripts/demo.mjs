#!/usr/bin/env node
// `pnpm demo`: builds the packages (quietly: the build's output is shown only if it fails), then
// the framework demos one after another against one embedded audit store and one policy folder,
// all under one trace id, then the unified audit trail of that run
// (`meshguard audit query --trace <id>`) with OpenAI, Bedrock and Vertex decisions side by side,
// and `meshguard audit verify`. Exits 1 if any demo or the verification fails, and with the
// build's code if the build fails.
//
// Environment: MESHGUARD_DB (default sqlite:.meshguard/meshguard.db) and MESHGUARD_POLICIES
// (default examples/policies/) are passed on to every demo; live runs as each demo documents.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEMOS = [
  { app: 'openai-agents-demo', title: 'OpenAI Agents SDK' },
  { app: 'bedrock-demo', title: 'AWS Bedrock Agents' },
  { app: 'vertex-demo', title: 'Google Vertex AI (Gemini)' },
];
const CLI = join(ROOT, 'packages/cli/dist/cli.js');
// As the CLI decides: NO_COLOR wins, FORCE_COLOR colours without a terminal.
const force = process.env.FORCE_COLOR;
const color = !process.env.NO_COLOR && (force ? force !== '0' && force !== 'false' : process.stdout.isTTY);
const bold = (s) => (color ? `\x1b[1m${s}\x1b[22m` : s);

const env = {
  ...process.env,
  MESHGUARD_DB: process.env.MESHGUARD_DB ?? `sqlite:${join(ROOT, '.meshguard/meshguard.db')}`,
  MESHGUARD_POLICIES: process.env.MESHGUARD_POLICIES ?? join(ROOT, 'examples/policies'),
  MESHGUARD_DEMO_TRACE_ID: `trace_${randomUUID().replaceAll('-', '')}`,
};
const traceId = env.MESHGUARD_DEMO_TRACE_ID;

function run(command, args, cwd = ROOT) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env, stdio: 'inherit' });
    child.on('error', (error) => {
      console.error(`could not start ${command}: ${error.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(signal ? 1 : (code ?? 1)));
  });
}

/**
 * `turbo run build` with its output kept back: one line when it succeeds, so the story starts on
 * the first screen; the whole output, and the build's exit code, when it fails.
 */
async function build() {
  const turbo = createRequire(join(ROOT, 'package.json')).resolve('turbo/bin/turbo');
  process.stdout.write('building the packages (turbo run build)... ');
  const started = Date.now();
  const { code, output } = await capture(process.execPath, [turbo, 'run', 'build', '--log-order=grouped']);
  if (code === 0) {
    console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    return;
  }
  console.log('failed:\n');
  process.stdout.write(output);
  console.error(`\npnpm demo: the build failed (exit ${code}), its output is above; no demo was run`);
  process.exit(code || 1);
}

/** Runs a command with its stdout and stderr kept together, in order, for later. */
function capture(command, args) {
  return new Promise((resolve) => {
    const chunks = [];
    const child = spawn(command, args, { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk) => chunks.push(chunk));
    child.stderr.on('data', (chunk) => chunks.push(chunk));
    child.on('error', (error) =>
      resolve({ code: 1, output: `could not start ${command}: ${error.message}\n` }),
    );
    child.on('close', (code, signal) =>
      resolve({ code: signal ? 1 : (code ?? 1), output: Buffer.concat(chunks).toString() }),
    );
  });
}

await build();

const failed = [];
for (const demo of DEMOS.filter((d) => existsSync(join(ROOT, 'apps', d.app, 'package.json')))) {
  const dir = join(ROOT, 'apps', demo.app);
  const dist = join(dir, 'dist/main.js');
  if (!existsSync(dist)) {
    console.error(`apps/${demo.app} is not built: run \`pnpm build\` first (\`pnpm demo\` does)`);
    failed.push(demo.app);
    continue;
  }
  console.log(`\n${bold(`━━ ${demo.title} (apps/${demo.app}) ━━`)}\n`);
  // From the app's folder, as a user runs it: the app's own dependencies (its SDK, the store).
  if ((await run(process.execPath, [dist], dir)) !== 0) failed.push(demo.app);
}

console.log(`\n${bold('━━ One audit trail for every framework ━━')}\n`);
console.log(`$ meshguard audit query --trace ${traceId} --limit 1000\n`);
if ((await run(process.execPath, [CLI, 'audit', 'query', '--trace', traceId, '--limit', '1000'])) !== 0) {
  failed.push('audit query');
}
console.log('\n$ meshguard audit verify\n');
if ((await run(process.execPath, [CLI, 'audit', 'verify'])) !== 0) failed.push('audit verify');

console.log(`\ntrace id: ${traceId}`);
console.log(`see it as a timeline: pnpm meshguard audit trace ${traceId}`);
if (failed.length > 0) {
  console.error(`\npnpm demo failed: ${failed.join(', ')}`);
  process.exitCode = 1;
}
