// The product page's session:start / session:complete events, recorded as docs/openai-agents.md
// shows: `guard.record()` with `type: 'session'`, under the trace id the SDK's run carries too.
import type { AgentIdentity } from '@meshguard/core';
import {
  Agent,
  generateTraceId,
  Runner,
  setTraceProcessors,
  setTracingDisabled,
  withTrace,
} from '@openai/agents';
import { assistantMessage, functionCall, ScriptedModel } from '@openai/agents/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { governAgent } from './govern-agent';
import { seedGuard, supportOptions, supportTools, trail } from './support-fixtures';

describe('session events', () => {
  beforeAll(() => {
    setTracingDisabled(false); // vitest sets NODE_ENV=test, which disables tracing
    setTraceProcessors([]); // traced, exported nowhere
  });
  afterAll(() => setTracingDisabled(true));

  it('records session:start and session:complete with their metadata in the trace of the run they frame', async () => {
    const { guard, store } = seedGuard();
    const { lookupCustomer } = supportTools();
    const model = new ScriptedModel([
      [functionCall('lookup_customer', { email: 'john@example.com' }, { callId: 'call_s1' })],
      [assistantMessage('John Doe is a Gold customer.')],
    ]);
    const agent = new Agent({
      name: 'Customer Support Agent',
      instructions: 'Help.',
      model,
      tools: [lookupCustomer],
    });
    // No fixed trace id: decisions take the SDK's current trace, the one withTrace opens.
    const governed = governAgent(agent, { ...supportOptions(guard, ''), traceId: undefined });
    const support: AgentIdentity = {
      id: 'Customer Support Agent',
      name: 'Customer Support Agent',
      tags: ['openai', 'support'],
      tier: 'verified',
    };

    const traceId = generateTraceId();
    const output = await withTrace(
      'governed-support',
      async () => {
        await guard.record({
          type: 'session',
          kind: 'session',
          action: 'session:start',
          outcome: 'success',
          agent: support,
          traceId,
          context: { user_id: 'user-42', agent: agent.name },
        });
        const result = await new Runner().run(governed, 'Who is john@example.com?');
        await guard.record({
          type: 'session',
          kind: 'session',
          action: 'session:complete',
          outcome: 'success',
          agent: support,
          traceId,
          context: {
            final_agent: result.lastAgent?.name ?? '',
            output_length: String(result.finalOutput).length,
          },
        });
        return result.finalOutput;
      },
      { traceId },
    );
    expect(output).toBe('John Doe is a Gold customer.');

    const events = (await store.query({ traceId, order: 'asc' })).events;
    expect(trail(events)).toEqual([
      'session Customer Support Agent session:start allow/success',
      'decision Customer Support Agent read:customer_data allow',
      'outcome Customer Support Agent read:customer_data allow/success',
      'session Customer Support Agent session:complete allow/success',
    ]);
    expect(events[0]).toMatchObject({ kind: 'session', context: { user_id: 'user-42' } });
    expect(events[3]).toMatchObject({
      kind: 'session',
      context: { final_agent: 'Customer Support Agent', output_length: 28 },
    });
    expect(await store.query({ type: 'session', traceId })).toMatchObject({ events: [{}, {}] });
  });
});
