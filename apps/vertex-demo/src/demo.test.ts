import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runDemo } from './demo';

const policy = fileURLToPath(new URL('../../../examples/policies/vertex-support.yaml', import.meta.url));

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
});
