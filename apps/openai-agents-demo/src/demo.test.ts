import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

  it('plays the approval scene: the run parks, a manager approves from another process, the refund runs once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-demo-approval-'));
    const db = `sqlite:${join(dir, 'demo.db')}`;
    const cli = fileURLToPath(new URL('../../../packages/cli/dist/cli.js', import.meta.url));
    const lines: string[] = [];
    try {
      const { events, verified } = await runDemo({
        policies: [policy('openai-support.yaml'), policy('escalation.yaml'), policy('refund-approvals.yaml')],
        store: db,
        print: (line) => lines.push(stripVTControlCharacters(line)),
        approval: {
          parkingDir: join(dir, 'parked'),
          approve: (id) =>
            new Promise((resolve, reject) =>
              execFile(
                process.execPath,
                [cli, 'approvals', 'approve', id, '--db', db, '--by', 'Dana'],
                (error, _out, err) => (error ? reject(new Error(err)) : resolve()),
              ),
            ),
        },
      });
      expect(verified).toBe(true);
      const desk = events.filter((e) => e.agent.name === 'Refunds Desk');
      expect(desk.map((e) => `${e.type} ${e.effect}${e.outcome ? ` ${e.outcome}` : ''}`)).toEqual([
        'decision require_approval',
        'approval_requested require_approval',
        'approval_granted allow',
        'decision allow',
        'outcome allow success',
      ]);
      expect(desk.find((e) => e.type === 'approval_granted')?.actor).toBe('Dana');
      const transcript = lines.join('\n');
      expect(transcript).toContain('APPROVED by Dana: write:refund');
      expect(transcript).toMatch(/Refund of \$150\.00 processed for order ORD-2024-002/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
