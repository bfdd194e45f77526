import type { CheckRequest, Decision, Guard } from '@meshguard/core';

/** One step of the seed's customer-support story: what the agent tries, and at what time. */
interface StoryStep {
  say: string;
  request: Omit<CheckRequest, 'agent' | 'traceId'>;
  at: string;
}

const SUPPORT_AGENT = {
  id: 'support-1',
  name: 'Customer Support Agent',
  tags: ['openai', 'support'],
  tier: 'verified' as const,
};

const STORY: StoryStep[] = [
  {
    say: 'Look up john@example.com',
    at: '10:00',
    request: { action: 'read:customer_data', kind: 'tool', context: { email: 'john@example.com' } },
  },
  {
    say: 'Read order ORD-2024-001',
    at: '10:01',
    request: { action: 'read:order_data', kind: 'tool', context: { order_id: 'ORD-2024-001' } },
  },
  {
    say: 'Refund $79.99 for a defective product',
    at: '10:02',
    request: {
      action: 'write:refund',
      kind: 'tool',
      context: { order_id: 'ORD-2024-001', amount: 79.99, reason: 'defective' },
    },
  },
  {
    say: 'Refund $150 for a damaged product',
    at: '10:03',
    request: {
      action: 'write:refund',
      kind: 'tool',
      context: { order_id: 'ORD-2024-002', amount: 150, reason: 'damaged' },
    },
  },
  {
    say: 'Email the customer a confirmation',
    at: '10:04',
    request: {
      action: 'write:email',
      kind: 'tool',
      context: { to: 'john@example.com', subject: 'Your refund' },
    },
  },
  {
    say: 'Email the customer again after hours',
    at: '20:00',
    request: {
      action: 'write:email',
      kind: 'tool',
      context: { to: 'john@example.com', subject: 'Follow-up' },
    },
  },
  {
    say: 'Use the computer to open the admin console',
    at: '20:01',
    request: { action: 'execute:computer_use', kind: 'builtin_tool', context: { action_type: 'click' } },
  },
  {
    say: 'Hand off to the Billing Specialist',
    at: '20:02',
    request: { action: 'handoff:Billing Specialist', kind: 'handoff' },
  },
  { say: 'Hand off to the Sales team', at: '20:03', request: { action: 'handoff:Sales', kind: 'handoff' } },
];

export interface StoryResult {
  step: StoryStep;
  decision: Decision;
}

/** Plays the story against a guard; each allowed tool call also records a success outcome. */
export async function playStory(
  guard: Guard,
  traceId: string,
  setTime: (hhmm: string) => void,
): Promise<StoryResult[]> {
  const results: StoryResult[] = [];
  for (const step of STORY) {
    setTime(step.at);
    const decision = await guard.check({ ...step.request, agent: SUPPORT_AGENT, traceId });
    if (decision.allowed)
      await guard.record({ decisionId: decision.decisionId, outcome: 'success', durationMs: 3 });
    else await guard.record({ decisionId: decision.decisionId, outcome: 'blocked' });
    results.push({ step, decision });
  }
  return results;
}
