import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pc from 'picocolors';
import { runDemo } from './demo';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
// Every demo writes to the repository's embedded store, so one `meshguard audit` shows them all.
const DB = process.env.MESHGUARD_DB ?? `sqlite:${join(ROOT, '.meshguard/meshguard.db')}`;
// One policy folder governs every framework's demo (the root `pnpm demo` passes it on).
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

/** Live needs a project and Google credentials (a key file, or `gcloud auth application-default login`). */
function googleCredentials(): boolean {
  if (process.env.GOOGLE_APPLICATION_CREDENTIALS) return true;
  const dir = process.env.CLOUDSDK_CONFIG ?? join(homedir(), '.config', 'gcloud');
  return existsSync(join(dir, 'application_default_credentials.json'));
}

async function main() {
  const project = process.env.GOOGLE_CLOUD_PROJECT;
  const live = Boolean(project) && googleCredentials();
  const model = process.env.VERTEX_MODEL ?? 'gemini-2.5-flash';
  console.log(pc.bold('MeshGuard + Gemini on Vertex AI: the seed customer support story'));
  console.log(
    pc.dim(
      `${live ? `live on Vertex AI (project ${project}, ${model})` : 'offline: the Vertex emulator plays the model for the real @google/genai client (set GOOGLE_CLOUD_PROJECT and Google credentials to run live)'}\npolicies: ${POLICIES.replace(ROOT, '')}\n`,
    ),
  );
  const { traceId, events, verified, problems } = await runDemo({
    policies: [POLICIES],
    store: DB,
    print: (line) => console.log(line),
    project: live ? project : undefined,
    location: process.env.GOOGLE_CLOUD_LOCATION,
    model,
    traceId: process.env.MESHGUARD_DEMO_TRACE_ID,
    // The manager answers from another process, through the CLI, as a person would: only a store
    // another process can read (SQLite, PostgreSQL) keeps the request between them.
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
  const observed = events.filter((e) => e.outcome === 'observed').length;
  console.log(
    `${decisions.length - blocked} allowed, ${blocked} blocked, ${observed} built-in tool use observed; ${events.length} audit events recorded`,
  );
  console.log(`audit store: ${DB.replace(`sqlite:${ROOT}`, 'sqlite:')}`);
  console.log(`audit chain: ${verified ? pc.green('intact') : pc.red('BROKEN')}`);
  console.log(`trace id: ${traceId}`);
  console.log(`see it:   pnpm meshguard audit trace ${traceId}`);
  if (problems.length > 0) console.log(pc.red(`the emulator saw problems:\n  ${problems.join('\n  ')}`));
  if (!verified || problems.length > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(pc.red(`vertex demo failed: ${error instanceof Error ? error.message : String(error)}`));
  process.exitCode = 1;
});
