import { BedrockAgentRuntimeClient } from '@aws-sdk/client-bedrock-agent-runtime';
import { createGovernedAgent, FRAMEWORK } from '@meshguard/bedrock';
import { type BedrockEmulator, startBedrockEmulator } from '@meshguard/bedrock/testing';
import { type AuditEvent, createGuard, type EmbeddedGuard } from '@meshguard/core';
import pc from 'picocolors';
import { IDENTITIES, IDENTITY, offlineScript, STORY, supportActionGroups } from './support-desk';

export interface DemoOptions {
  /** Policy files (examples/policies/bedrock-support.yaml). */
  policies: string[];
  /** The audit store URL (`sqlite:<path>` or `memory`). */
  store: string;
  /** Where the transcript goes. */
  print: (line: string) => void;
  /** Run against a real agent instead of the local emulator (AWS credentials come from the default chain). */
  live?: { agentId: string; agentAliasId: string; region?: string | undefined } | undefined;
  /** Record under this trace id (the root `pnpm demo` runs every framework under one). */
  traceId?: string | undefined;
}

export interface DemoResult {
  traceId: string;
  events: AuditEvent[];
  verified: boolean;
}

// The offline agent's made-up ids (Bedrock ids are 10 letters and digits).
const OFFLINE_AGENT = { agentId: 'SUPPORTAG1', agentAliasId: 'DEMOALIAS1' };

/** Plays the customer support story against a Bedrock agent, printing each decision. */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  // The story plays at 10:00 UTC yesterday (business hours), with real elapsed time after that.
  const start = Date.parse(`${new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)}T10:00:00Z`);
  const origin = Date.now();
  const created = await createGuard({
    policies: options.policies,
    store: options.store,
    clock: () => start + (Date.now() - origin),
  });
  if (created.mode !== 'embedded') throw new Error('the demo runs embedded: unset MESHGUARD_GATEWAY_URL');
  const guard: EmbeddedGuard = created;
  let emulator: BedrockEmulator | undefined;
  try {
    if (!options.live) emulator = await startBedrockEmulator({ script: offlineScript() });
    const client = emulator
      ? new BedrockAgentRuntimeClient(emulator.clientConfig)
      : new BedrockAgentRuntimeClient(options.live?.region ? { region: options.live.region } : {});
    const ids = options.live ?? OFFLINE_AGENT;
    const agent = createGovernedAgent({
      client,
      agentId: ids.agentId,
      agentAliasId: ids.agentAliasId,
      guard,
      identity: IDENTITY,
      identities: IDENTITIES,
      actionGroups: supportActionGroups(),
    });
    const traceId = options.traceId ?? `trace_${crypto.randomUUID().replaceAll('-', '')}`;
    const sessionId = `meshguard-demo-${crypto.randomUUID()}`;
    const p = options.print;
    let shown = 0;

    const showTrail = async () => {
      const events = await guard.query({ traceId, framework: FRAMEWORK, order: 'asc', limit: 10_000 });
      for (const event of events.slice(shown)) {
        const via = event.delegation?.length
          ? pc.dim(` (for ${event.delegation.map((a) => a.name).join(' > ')})`)
          : '';
        if (event.type === 'outcome' && event.outcome === 'observed') {
          p(
            `   ${pc.cyan('OBSERVED')} ${event.agent.name}: ${event.action}${via} ${pc.dim('(ran inside AWS, not gated)')}`,
          );
          continue;
        }
        if (event.type !== 'decision' || event.mode !== 'enforce') continue;
        const outcome = events.find((o) => o.type === 'outcome' && o.decisionId === event.decisionId);
        const mark =
          event.effect === 'allow'
            ? pc.green('ALLOW   ')
            : event.effect === 'deny'
              ? pc.red('DENY    ')
              : pc.yellow('APPROVAL');
        const done = outcome?.outcome ? pc.dim(` -> ${outcome.outcome}`) : '';
        p(`   ${mark} ${event.agent.name}: ${event.action}${via}${done}`);
        if (event.effect !== 'allow') p(`            ${pc.dim(event.reason ?? '')}`);
      }
      shown = events.length;
    };

    for (const inputText of STORY) {
      p(`${pc.cyan('user')}  ${inputText}`);
      const result = await agent.invoke({ sessionId, inputText, traceId });
      await showTrail();
      p(`${pc.magenta('Support Agent')}  ${result.text}\n`);
    }
    if (emulator && (emulator.remaining > 0 || emulator.problems.length > 0)) {
      throw new Error(
        `the offline agent's script did not play out: ${emulator.remaining} step${emulator.remaining === 1 ? '' : 's'} left; ${emulator.problems.join('; ')}`,
      );
    }
    const events = await guard.query({ traceId, framework: FRAMEWORK, order: 'asc', limit: 10_000 });
    const verified = (await guard.store.verify()).ok;
    return { traceId, events, verified };
  } finally {
    await emulator?.close();
    await guard.close();
  }
}
