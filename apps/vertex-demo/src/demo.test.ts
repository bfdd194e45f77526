import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runDemo } from './demo';

const policy = fileURLToPath(new URL('../../../examples/policies/vertex-support.yaml', import.meta.url));
const approvals = fileURLToPath(new URL('../../../examples/policies/refund-approvals.yaml', import.meta.url));

describe('the vertex demo (offline)', () => {
  it('plays the support story on Gemini, and the trail tells it', async () => {
    const lines: string[] = [];
    const { events, verified, problems, traceId } = await runDemo({
      policies: [policy],
      store: 'memory',
      print: (line) => lines.push(stripVTControlCharacters(line)),
    });
    expect(verified).toBe(true);
    expect(problems).toEqual([]);
    // The demo reads its trace filtered by framework, so check what that filter cannot imply: who stamped it.
    expect(new Set(events.map((e) => `${e.traceId} ${e.source?.name}`))).toEqual(
      new Set([`${traceId} @meshguard/vertex`]),
    );
    expect(
      events.map(
        (e) => `${e.type} ${e.agent.name} ${e.action} ${e.effect}${e.outcome ? `/${e.outcome}` : ''}`,
      ),
    ).toEqual([
      'decision Customer Support Agent read:customer_data allow',
      'outcome Customer Support Agent read:customer_data allow/success',
      'decision Customer Support Agent read:order_data allow',
      'outcome Customer Support Agent read:order_data allow/success',
      'decision Customer Support Agent write:refund allow',
      'outcome Customer Support Agent write:refund allow/success',
      'decision Customer Support Agent write:refund deny',
      'outcome Customer Support Agent write:refund deny/blocked',
      'decision Customer Support Agent read:web_search allow',
      'decision Customer Support Agent execute:code_interpreter deny',
      'outcome Customer Support Agent execute:code_interpreter deny/blocked',
      'outcome Customer Support Agent read:web_search allow/observed',
    ]);
    expect(events[4]!.context).toMatchObject({ amount: 79.99 });
    expect(events[6]!.context).toMatchObject({ amount: 150 });
    const transcript = lines.join('\n');
    expect(transcript).toContain('DENY     Customer Support Agent: write:refund -> blocked');
    expect(transcript).toContain(
      'Refunds over $100 require manager approval (rule vertex-support-agent-policy#4)',
    );
    expect(transcript).toContain(
      "Gemini  I'm sorry, I can't do that myself: Refunds over $100 require manager approval (rule vertex-support-agent-policy#4). I'll escalate this to someone who can.",
    );
    expect(transcript).toContain(
      'DENY     Customer Support Agent: execute:code_interpreter (offer time) -> blocked',
    );
    expect(transcript).toContain(
      'OBSERVED Customer Support Agent: read:web_search "wireless headphones return window US" (2 sources)',
    );
  });

  it('records every run in full when the runs share one store (as `pnpm demo` does)', async () => {
    const store = `sqlite:${join(mkdtempSync(join(tmpdir(), 'meshguard-vertex-demo-')), 'meshguard.db')}`;
    for (let run = 0; run < 2; run++) {
      const { events, verified } = await runDemo({ policies: [policy], store, print: () => {} });
      expect(verified).toBe(true);
      expect(events).toHaveLength(12);
      expect(events.filter((e) => e.outcome === 'observed')).toHaveLength(1);
    }
  });

  it('plays the approval scene: the chat parks, a manager approves from another process, the refund runs once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-vertex-demo-approval-'));
    const db = `sqlite:${join(dir, 'demo.db')}`;
    const cli = fileURLToPath(new URL('../../../packages/cli/dist/cli.js', import.meta.url));
    const lines: string[] = [];
    try {
      const { events, verified, problems } = await runDemo({
        policies: [policy, approvals],
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
      expect(problems).toEqual([]);
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
        /Refunds Desk {2}Your manager approved it: a refund of \$150\.00 for order ORD-2024-002 is processed/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
