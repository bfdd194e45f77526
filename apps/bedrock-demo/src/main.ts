import { execFile } from 'node:child_process';
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

/** Credentials the AWS SDK's default chain would find without asking anyone. */
function awsCredentialsConfigured(env: NodeJS.ProcessEnv): boolean {
  return Boolean(
    (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) ||
      env.AWS_PROFILE ||
      env.AWS_WEB_IDENTITY_TOKEN_FILE ||
      env.AWS_CONTAINER_CREDENTIALS_FULL_URI ||
      env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI,
  );
}

async function main() {
  const env = process.env;
  const ids = env.BEDROCK_AGENT_ID && env.BEDROCK_AGENT_ALIAS_ID;
  const live = ids && awsCredentialsConfigured(env);
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  // Offline, the SDK's notice that its 2027 releases need Node 22 would only cut the transcript in two.
  if (!live) env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  console.log(pc.bold('MeshGuard + Amazon Bedrock Agents: the customer support story'));
  console.log(
    pc.dim(
      `${
        live
          ? `live against agent ${env.BEDROCK_AGENT_ID} (alias ${env.BEDROCK_AGENT_ALIAS_ID}${region ? `, ${region}` : ''})`
          : `offline: the real BedrockAgentRuntimeClient against the local emulator (${ids ? 'BEDROCK_AGENT_ID is set but no AWS credentials were found' : 'set AWS credentials, BEDROCK_AGENT_ID and BEDROCK_AGENT_ALIAS_ID to run live'})`
      }\npolicies: ${POLICIES.replace(ROOT, '')}\n`,
    ),
  );
  const { traceId, events, verified } = await runDemo({
    policies: [POLICIES],
    store: DB,
    print: (line) => console.log(line),
    live: live
      ? { agentId: env.BEDROCK_AGENT_ID!, agentAliasId: env.BEDROCK_AGENT_ALIAS_ID!, region }
      : undefined,
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
    `${decisions.length - blocked} allowed, ${blocked} blocked, ${observed} observed; ${events.length} audit events recorded`,
  );
  console.log(`audit store: ${DB.replace(`sqlite:${ROOT}`, 'sqlite:')}`);
  console.log(`audit chain: ${verified ? pc.green('intact') : pc.red('BROKEN')}`);
  console.log(`trace id: ${traceId}`);
  console.log(`see it:   pnpm meshguard audit trace ${traceId}`);
  if (!verified) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(pc.red(`bedrock demo failed: ${error instanceof Error ? error.message : String(error)}`));
  process.exitCode = 1;
});
