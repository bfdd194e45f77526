import { type AuditEvent, createGuard, type EmbeddedGuard } from '@meshguard/core';
import { FRAMEWORK, type GovernanceOptions, governAgent, runGoverned } from '@meshguard/openai-agents';
import { Runner, setTracingDisabled, withTrace } from '@openai/agents';
import pc from 'picocolors';
import { ACTIONS, IDENTITIES, scriptedStory, supportAgents } from './support-team';

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
  };
  if (live) await withTrace('MeshGuard openai-agents demo', story, { traceId });
  else await story();
  if (!live) (model as { assertComplete(): void }).assertComplete();

  const events = await guard.query({ traceId, framework: FRAMEWORK, order: 'asc', limit: 10_000 });
  const verified = (await guard.store.verify()).ok;
  await guard.close();
  return { traceId, events, verified };
}
