import { BedrockAgentRuntimeClient } from '@aws-sdk/client-bedrock-agent-runtime';
import { createGovernedAgent, FRAMEWORK, resumeParkedTurn } from '@meshguard/bedrock';
import { type BedrockEmulator, startBedrockEmulator } from '@meshguard/bedrock/testing';
import { type AuditEvent, createFileParking, createGuard, type EmbeddedGuard } from '@meshguard/core';
import pc from 'picocolors';
import {
  APPROVAL_REQUEST,
  IDENTITIES,
  IDENTITY,
  offlineApprovalScene,
  offlineScript,
  REFUNDS_DESK,
  STORY,
  supportActionGroups,
} from './support-desk';

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
  /**
   * The approval scene: where the paused turn is parked, and the person who answers (another
   * process, as a manager with the CLI would: `meshguard approvals approve <id>`). Without it the
   * scene is left out.
   */
  approval?: { parkingDir: string; approve: (approvalId: string) => Promise<void> } | undefined;
}

export interface DemoResult {
  traceId: string;
  events: AuditEvent[];
  verified: boolean;
}

// The offline agents' made-up ids (Bedrock ids are 10 letters and digits).
const OFFLINE_AGENT = { agentId: 'SUPPORTAG1', agentAliasId: 'DEMOALIAS1' };
const OFFLINE_REFUNDS_DESK = { agentId: 'REFUNDSDK1', agentAliasId: 'DEMOALIAS1' };

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
    if (!options.live) {
      const scene = options.approval ? offlineApprovalScene() : [];
      emulator = await startBedrockEmulator({ script: [...offlineScript(), ...scene] });
    }
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
        if (event.type === 'approval_granted' || event.type === 'approval_rejected') {
          const answer = event.type === 'approval_granted' ? pc.green('APPROVED') : pc.red('REJECTED');
          p(
            `   ${answer} by ${event.actor ?? 'someone'}: ${event.action} ${pc.dim(`(${event.approvalId})`)}`,
          );
          continue;
        }
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

    p(pc.bold('1. The support story: a governed Support Agent and its billing collaborator\n'));
    for (const inputText of STORY) {
      p(`${pc.cyan('user')}  ${inputText}`);
      const result = await agent.invoke({ sessionId, inputText, traceId });
      await showTrail();
      p(`${pc.magenta('Support Agent')}  ${result.text}\n`);
    }
    if (options.approval) {
      // The turn pauses on the approval and is parked, a manager approves from another process,
      // and the parked turn resumes: the refund runs once. Live, the desk is the same Bedrock
      // agent (its CustomerSupport group has process_refund) acting under the Refunds Desk
      // identity; the CLI answers in a second, well within the session's idle timeout.
      p(pc.bold('2. A refund a manager approves: the turn waits, a person answers, the turn goes on\n'));
      const desk = options.live ?? OFFLINE_REFUNDS_DESK;
      const deskOptions = {
        client,
        agentId: desk.agentId,
        agentAliasId: desk.agentAliasId,
        guard,
        identity: REFUNDS_DESK,
        actionGroups: supportActionGroups(),
        parking: createFileParking(options.approval.parkingDir),
      };
      p(`${pc.cyan('user')}  ${APPROVAL_REQUEST}`);
      const paused = await createGovernedAgent(deskOptions).invoke({
        sessionId: `meshguard-demo-${crypto.randomUUID()}`,
        inputText: APPROVAL_REQUEST,
        traceId,
      });
      await showTrail();
      const [pending] = paused.pendingApprovals;
      if (paused.status !== 'awaiting_approval' || !pending) {
        throw new Error(`the refund was not parked for approval (the turn ended ${paused.status})`);
      }
      p(
        `   ${pc.dim(`turn parked under ${pending.approvalId}; asking a refund manager (another process)...`)}`,
      );
      await options.approval.approve(pending.approvalId);
      p(`   ${pc.dim('approved; resuming the parked turn')}`);
      const resumed = await resumeParkedTurn(pending.approvalId, deskOptions);
      await showTrail();
      p(
        `${pc.magenta('Refunds Desk')}  ${resumed.status === 'session_ended' ? resumed.reason : resumed.text}\n`,
      );
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
