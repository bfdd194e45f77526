import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pc from 'picocolors';
import { runDemo } from './demo';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
// Every demo writes to the repository's embedded store, so one `meshguard audit` shows them all.
const DB = process.env.MESHGUARD_DB ?? `sqlite:${join(ROOT, '.meshguard/meshguard.db')}`;
// One policy folder governs every framework's demo (the seed policy, the escalation tier's...).
const POLICIES = process.env.MESHGUARD_POLICIES ?? join(ROOT, 'examples/policies');

/** `meshguard approvals approve <id>` in a process of its own, as a refund manager would run it. */
function approveWithCli(approvalId: string): Promise<void> {
  const cli = join(ROOT, 'packages/cli/dist/cli.js');
  const args = [cli, 'approvals', 'approve', approvalId, '--db', DB, '--by', 'Dana (refund manager)'];
  args.push('--comment', 'Checked the photos of the broken item');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { env: process.env }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`meshguard approvals approve failed: ${stderr.trim() || error.message}`));
      else resolve();
    });
  });
}

async function main() {
  const live = Boolean(process.env.OPENAI_API_KEY);
  console.log(pc.bold('MeshGuard + OpenAI Agents SDK: the seed customer support story'));
  console.log(
    pc.dim(
      `${live ? `live against OpenAI (${process.env.OPENAI_MODEL ?? 'gpt-4.1-mini'})` : 'offline: a scripted model drives the real Runner (set OPENAI_API_KEY to run live)'}\npolicies: ${POLICIES.replace(ROOT, '')}\n`,
    ),
  );
  const { traceId, events, verified } = await runDemo({
    policies: [POLICIES],
    store: DB,
    print: (line) => console.log(line),
    openaiApiKey: process.env.OPENAI_API_KEY,
    model: process.env.OPENAI_MODEL,
    traceId: process.env.MESHGUARD_DEMO_TRACE_ID,
    // The manager answers from another process, through the CLI, as a person would.
    ...(DB.startsWith('sqlite:') || DB.startsWith('postgres')
      ? {
          approval: {
            parkingDir: join(ROOT, '.meshguard/parked'),
            approve: (id: string) => approveWithCli(id),
          },
        }
      : {}),
  });
  const decisions = events.filter((e) => e.type === 'decision' && e.mode === 'enforce');
  const blocked = decisions.filter((e) => e.effect !== 'allow').length;
  console.log(
    `${decisions.length - blocked} allowed, ${blocked} blocked; ${events.length} audit events recorded`,
  );
  console.log(`audit store: ${DB.replace(`sqlite:${ROOT}`, 'sqlite:')}`);
  console.log(`audit chain: ${verified ? pc.green('intact') : pc.red('BROKEN')}`);
  console.log(`trace id: ${traceId}`);
  console.log(`see it:   pnpm meshguard audit trace ${traceId}`);
  if (!verified) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(
    pc.red(`openai-agents demo failed: ${error instanceof Error ? error.message : String(error)}`),
  );
  process.exitCode = 1;
});
