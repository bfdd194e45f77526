import { type AuditEvent, createFileParking, createGuard, type EmbeddedGuard } from '@meshguard/core';
import {
  FRAMEWORK,
  type GovernanceOptions,
  governAgent,
  parkedApprovals,
  resumeParkedRun,
  runGoverned,
} from '@meshguard/openai-agents';
import { Runner, setTracingDisabled, withTrace } from '@openai/agents';
import pc from 'picocolors';
import {
  ACTIONS,
  IDENTITIES,
  refundsDesk,
  scriptedApprovalScene,
  scriptedStory,
  supportAgents,
} from './support-team';

export interface DemoOptions {
  /** Policy files (the seed policy and the escalation tier's). */
  policies: string[];
  /** The audit store URL (`sqlite:<path>` or `memory`). */
  store: string;
  /** Where the transcript goes. */
  print: (line: string) => void;
  /** Run against OpenAI with this key instead of the scripted model. */
  openaiApiKey?: string | undefined;
  model?: string | undefined;
  /** Record under this trace id (the root `pnpm demo` runs every framework under one). */
  traceId?: string | undefined;
  /**
   * The approval scene: where the paused run is parked, and the person who answers (another
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

const FULL_EXAMPLE = [
  'Can you look up the customer with email john@example.com?',
  "What's the status of order ORD-2024-001?",
  'I need a refund of $79.99 for order ORD-2024-001, the product was defective.',
  'Please also refund $150 for order ORD-2024-002, same problem.',
];
const TEAM_REQUEST = 'I need a refund of $150 for order #12345, the item arrived broken.';
const APPROVAL_REQUEST = 'Please refund $150 for order ORD-2024-002, it arrived broken.';

/** Plays the seed's Full Example and the tiered team as one run, printing each decision. */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const live = Boolean(options.openaiApiKey);
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
  const traceId = options.traceId ?? `trace_${crypto.randomUUID().replaceAll('-', '')}`;
  const governance: GovernanceOptions = { guard, identities: IDENTITIES, actions: ACTIONS, traceId };
  const model = live ? (options.model ?? 'gpt-4.1-mini') : scriptedStory();
  const { supportAgent, tier1 } = supportAgents(model);
  if (!live) setTracingDisabled(true); // offline: nothing to export traces to
  const runner = new Runner();
  const p = options.print;
  let shown = 0;

  const showDecisions = async () => {
    const events = await guard.query({ traceId, framework: FRAMEWORK, order: 'asc', limit: 10_000 });
    for (const event of events.slice(shown)) {
      if (event.type === 'approval_granted' || event.type === 'approval_rejected') {
        const answer = event.type === 'approval_granted' ? pc.green('APPROVED') : pc.red('REJECTED');
        p(`   ${answer} by ${event.actor ?? 'someone'}: ${event.action} ${pc.dim(`(${event.approvalId})`)}`);
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
      const offer = event.context?.stage === 'offer' ? pc.dim(' (offer time)') : '';
      const done = outcome?.outcome ? pc.dim(` -> ${outcome.outcome}`) : '';
      p(`   ${mark} ${event.agent.name}: ${event.action}${offer}${done}`);
      if (event.effect !== 'allow') p(`            ${pc.dim(event.reason ?? '')}`);
    }
    shown = events.length;
  };

  const turn = async (title: string, agent: typeof supportAgent, input: string) => {
    p(`${pc.cyan('user')}  ${input}`);
    const result = await runGoverned(agent, input, { ...governance, runner });
    await showDecisions();
    p(`${pc.magenta(result.lastAgent?.name ?? title)}  ${String(result.finalOutput ?? '')}\n`);
  };

  const story = async () => {
    p(pc.bold('1. The Full Example: a governed Customer Support Agent\n'));
    const support = governAgent(supportAgent, governance);
    for (const input of FULL_EXAMPLE) await turn('Customer Support Agent', support, input);
    p(pc.bold('2. The tiered support team: governed handoffs and delegation\n'));
    await turn('Tier 1 Support', governAgent(tier1, governance), TEAM_REQUEST);
    if (options.approval) await approvalScene(options.approval);
  };

  // The run pauses on the approval, is parked, a manager approves from another process, and the
  // parked run resumes: the refund runs once.
  const approvalScene = async (approval: NonNullable<DemoOptions['approval']>) => {
    p(pc.bold('3. A refund a manager approves: the run waits, a person answers, the run goes on\n'));
    const desk = governAgent(refundsDesk(live ? (options.model ?? 'gpt-4.1-mini') : sceneModel!), governance);
    const parking = createFileParking(approval.parkingDir);
    p(`${pc.cyan('user')}  ${APPROVAL_REQUEST}`);
    const paused = await runGoverned(desk, APPROVAL_REQUEST, { ...governance, runner, parking });
    await showDecisions();
    const [approvalId] = parkedApprovals(paused);
    if (!approvalId) throw new Error('the refund was not parked for approval');
    p(`   ${pc.dim(`run parked under ${approvalId}; asking a refund manager (another process)...`)}`);
    await approval.approve(approvalId);
    p(`   ${pc.dim(`approved; resuming the parked run`)}`);
    const resumed = await resumeParkedRun(approvalId, { ...governance, agent: desk, runner, parking });
    await showDecisions();
    p(`${pc.magenta(resumed.lastAgent?.name ?? 'Refunds Desk')}  ${String(resumed.finalOutput ?? '')}\n`);
  };
  const sceneModel = live ? undefined : scriptedApprovalScene();
  if (live) await withTrace('MeshGuard openai-agents demo', story, { traceId });
  else await story();
  if (!live) (model as { assertComplete(): void }).assertComplete();
  if (!live && options.approval) sceneModel!.assertComplete();

  const events = await guard.query({ traceId, framework: FRAMEWORK, order: 'asc', limit: 10_000 });
  const verified = (await guard.store.verify()).ok;
  await guard.close();
  return { traceId, events, verified };
}
