import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createTestGuard } from '@meshguard/core/testing';
import { describe, expect, it } from 'vitest';
import { playStory } from './support-story';

const POLICY = readFileSync(
  fileURLToPath(new URL('../../../examples/policies/openai-support.yaml', import.meta.url)),
  'utf8',
);

describe('core demo story', () => {
  it('allows and blocks what the seed policy says, and records a verifiable trail', async () => {
    const { guard, store, clock } = createTestGuard({ policy: POLICY });
    const results = await playStory(guard, 'trace_demo', (hhmm) => clock.set(`2026-01-05T${hhmm}:00Z`));
    expect(results.map((r) => [r.step.request.action, r.decision.effect])).toEqual([
      ['read:customer_data', 'allow'],
      ['read:order_data', 'allow'],
      ['write:refund', 'allow'],
      ['write:refund', 'deny'],
      ['write:email', 'allow'],
      ['write:email', 'deny'],
      ['execute:computer_use', 'deny'],
      ['handoff:Billing Specialist', 'allow'],
      ['handoff:Sales', 'deny'],
    ]);
    expect(results[3]!.decision.reason).toContain('Refunds over $100 require manager approval');
    const events = await guard.query({ traceId: 'trace_demo', order: 'asc', limit: 100 });
    expect(events).toHaveLength(18);
    expect(events.filter((e) => e.outcome === 'blocked').map((e) => e.action)).toEqual([
      'write:refund',
      'write:email',
      'execute:computer_use',
      'handoff:Sales',
    ]);
    expect((await store.verify()).ok).toBe(true);
  });
});
