import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGuard, uuidv7 } from '@meshguard/core';
import pc from 'picocolors';
import { playStory } from './support-story';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const POLICIES = join(ROOT, 'examples/policies/openai-support.yaml');
// Every demo writes to the repository's embedded store, so one `meshguard audit` shows them all.
const DB = process.env.MESHGUARD_DB ?? `sqlite:${join(ROOT, '.meshguard/meshguard.db')}`;

async function main() {
  // The story plays on yesterday's date (UTC) at fixed times of day, so business hours always
  // show both ways and every event is in the past for `meshguard audit query --since 2d`.
  const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  let now = Date.parse(`${day}T10:00:00Z`);
  const guard = await createGuard({
    policies: POLICIES,
    store: DB,
    clock: () => now,
    framework: 'core-demo',
  });
  if (guard.mode !== 'embedded') throw new Error('the core demo runs embedded: unset MESHGUARD_GATEWAY_URL');
  const traceId = `trace_${uuidv7().replaceAll('-', '')}`;
  console.log(pc.bold('MeshGuard core demo: the seed customer-support policy'));
  console.log(
    pc.dim(
      `policy: examples/policies/openai-support.yaml; agent: Customer Support Agent [openai, support]\n`,
    ),
  );
  const results = await playStory(guard, traceId, (hhmm) => {
    now = Date.parse(`${day}T${hhmm}:00Z`);
  });
  for (const { step, decision } of results) {
    const mark =
      decision.effect === 'allow'
        ? pc.green('ALLOW ')
        : decision.effect === 'deny'
          ? pc.red('DENY  ')
          : pc.yellow('APPROVAL');
    console.log(`${pc.dim(`${step.at} UTC`)}  ${mark} ${step.request.action.padEnd(28)} ${step.say}`);
    console.log(`           ${pc.dim(decision.reason)}`);
  }
  const events = await guard.query({ traceId, order: 'asc', limit: 1000 });
  const verified = await guard.store.verify();
  const where = DB.replace(`sqlite:${ROOT}`, 'sqlite:');
  const allowed = results.filter((r) => r.decision.allowed).length;
  console.log(
    `\n${allowed} allowed, ${results.length - allowed} blocked; ${events.length} audit events recorded`,
  );
  console.log(`audit store: ${where}`);
  console.log(
    `audit chain: ${verified.ok ? pc.green('intact') : pc.red(`BROKEN: ${verified.problem?.message}`)}`,
  );
  console.log(`trace id: ${traceId}`);
  console.log(`see it:   pnpm meshguard audit trace ${traceId}`);
  await guard.close();
  if (!verified.ok) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(`core demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
