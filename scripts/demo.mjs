#!/usr/bin/env node
// `pnpm demo`: the framework demos one after another against one embedded audit store and one
// policy folder, all under one trace id, then the unified audit trail of that run
// (`meshguard audit query --trace <id>`) with OpenAI, Bedrock and Vertex decisions side by side,
// and `meshguard audit verify`. Exits 1 if any demo or the verification fails.
//
// Environment: MESHGUARD_DB (default sqlite:.meshguard/meshguard.db) and MESHGUARD_POLICIES
// (default examples/policies/) are passed on to every demo; live runs as each demo documents.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEMOS = [
  { app: 'openai-agents-demo', title: 'OpenAI Agents SDK' },
  { app: 'bedrock-demo', title: 'AWS Bedrock Agents' },
  { app: 'vertex-demo', title: 'Google Vertex AI (Gemini)' },
];
const CLI = join(ROOT, 'packages/cli/dist/cli.js');
const bold = (s) => (process.stdout.isTTY && !process.env.NO_COLOR ? `\x1b[1m${s}\x1b[22m` : s);

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
