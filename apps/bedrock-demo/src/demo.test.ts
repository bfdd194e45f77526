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
const POLICY = policy('bedrock-support.yaml');

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

  it('plays the approval scene: the turn parks, a manager approves from another process, the refund runs once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-bedrock-demo-approval-'));
    const db = `sqlite:${join(dir, 'demo.db')}`;
    const cli = fileURLToPath(new URL('../../../packages/cli/dist/cli.js', import.meta.url));
    const lines: string[] = [];
    try {
      const { events, verified } = await runDemo({
        policies: [POLICY, policy('refund-approvals.yaml')],
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
      expect(desk.every((e) => e.action === 'write:refund')).toBe(true);
      expect(desk.find((e) => e.type === 'approval_granted')?.actor).toBe('Dana');
      const transcript = lines.join('\n');
      expect(transcript).toContain('APPROVAL Refunds Desk: write:refund');
      expect(transcript).toContain('APPROVED by Dana: write:refund');
      expect(transcript).toContain('ALLOW    Refunds Desk: write:refund -> success');
      expect(transcript).toMatch(
        /Refunds Desk {2}Your manager approved it\. Refund of \$150\.00 processed for order ORD-2024-002/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
