import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runDemo } from './demo';

const policy = (name: string) =>
  fileURLToPath(new URL(`../../../examples/policies/${name}`, import.meta.url));

describe('the openai-agents demo (offline)', () => {
  it('plays the Full Example and the tiered team, and the trail tells the story', async () => {
    const lines: string[] = [];
    const { events, verified } = await runDemo({
      policies: [policy('openai-support.yaml'), policy('escalation.yaml')],
      store: 'memory',
      print: (line) => lines.push(stripVTControlCharacters(line)),
    });
    expect(verified).toBe(true);
    const decisions = events
      .filter((e) => e.type === 'decision')
      .map(
        (e) =>
          `${e.agent.name} ${e.action} ${e.effect}${e.delegation ? ` via ${e.delegation.map((a) => a.name).join('>')}` : ''}`,
      );
    expect(decisions).toEqual([
      'Customer Support Agent read:customer_data allow',
      'Customer Support Agent read:order_data allow',
      'Customer Support Agent write:refund allow',
      'Customer Support Agent write:refund deny',
      'Tier 1 Support handoff:Sales Desk deny',
      'Tier 1 Support handoff:Billing Specialist allow',
      'Billing Specialist write:refund deny via Tier 1 Support',
      'Billing Specialist handoff:Escalation Manager allow via Tier 1 Support',
      'Escalation Manager write:refund allow via Tier 1 Support>Billing Specialist',
    ]);
    const transcript = lines.join('\n');
    expect(transcript).toContain('DENY     Customer Support Agent: write:refund -> blocked');
    expect(transcript).toContain(
      'Refunds over $100 require manager approval (rule openai-support-agent-policy#4)',
    );
    expect(transcript).toContain('handoff:Sales Desk (offer time)');
    expect(transcript).toContain('Escalation Manager  I');
  });
});
