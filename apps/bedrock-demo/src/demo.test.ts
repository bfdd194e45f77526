import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runDemo } from './demo';

const POLICY = fileURLToPath(new URL('../../../examples/policies/bedrock-support.yaml', import.meta.url));

describe('the Bedrock demo (offline, the real client against the emulator)', () => {
  it('plays the support story, and the trail tells it: decisions, a refusal relayed, a hand-off observed', async () => {
    const lines: string[] = [];
    const { traceId, events, verified } = await runDemo({
      policies: [POLICY],
      store: 'memory',
      print: (line) => lines.push(stripVTControlCharacters(line)),
    });
    expect(verified).toBe(true);
    // The demo reads its trace filtered by framework, so check what that filter cannot imply: who stamped it.
    expect(new Set(events.map((e) => `${e.traceId} ${e.source?.name}`))).toEqual(
      new Set([`${traceId} @meshguard/bedrock`]),
    );
    expect(
      events.map(
        (e) =>
          `${e.type} ${e.agent.name} ${e.action} ${e.outcome ? `${e.effect}/${e.outcome}` : e.effect}${e.delegation ? ` via ${e.delegation.map((a) => a.name).join('>')}` : ''}`,
      ),
    ).toEqual([
      'decision Support Agent read:customer_data allow',
      'outcome Support Agent read:customer_data allow/success',
      'decision Support Agent read:order_data allow',
      'outcome Support Agent read:order_data allow/success',
      'decision Support Agent write:refund allow',
      'outcome Support Agent write:refund allow/success',
      'decision Support Agent write:refund deny',
      'outcome Support Agent write:refund deny/blocked',
      'outcome Support Agent handoff:Billing Specialist allow/observed',
      'decision Billing Specialist read:order_data allow via Support Agent',
      'outcome Billing Specialist read:order_data allow/success via Support Agent',
    ]);
    const refunds = events.filter((e) => e.type === 'decision' && e.action === 'write:refund');
    expect(refunds.map((e) => e.context?.amount)).toEqual([79.99, 150]);
    expect(refunds[1]!.reason).toBe(
      'Refunds over $100 require manager approval (rule bedrock-support-agent-policy#3)',
    );

    const transcript = lines.join('\n');
    expect(transcript).toContain('DENY     Support Agent: write:refund -> blocked');
    expect(transcript).toContain(
      "Support Agent  I'm sorry, I can't do that myself: Refunds over $100 require manager approval (rule bedrock-support-agent-policy#3).",
    );
    expect(transcript).toContain(
      'OBSERVED Support Agent: handoff:Billing Specialist (ran inside AWS, not gated)',
    );
    expect(transcript).toContain(
      'ALLOW    Billing Specialist: read:order_data (for Support Agent) -> success',
    );
    expect(transcript).toContain('Support Agent  Done: Refund of $79.99 processed for order ORD-2024-001.');
  });
});
