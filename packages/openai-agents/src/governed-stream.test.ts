import { Agent, Runner, webSearchTool } from '@openai/agents';
import { assistantMessage, functionCall, ScriptedModel } from '@openai/agents/testing';
import { describe, expect, it } from 'vitest';
import { governAgent } from './govern-agent';
import { approveToolCall, runGoverned } from './governed-run';
import { REFUND_APPROVAL_POLICY, seedGuard, supportOptions, supportTools, trail } from './support-fixtures';

const webSearch = {
  type: 'hosted_tool_call' as const,
  id: 'ws_stream',
  name: 'web_search_call',
  status: 'completed',
  providerData: { type: 'web_search_call', action: { type: 'search', query: 'refund policy' } },
};

const refund = (callId: string, amount: number) =>
  functionCall('process_refund', { order_id: 'ORD-9', amount, reason: 'damaged' }, { callId });

describe('runGoverned streaming', () => {
  it('streams the run; by the time `completed` resolves its hosted calls are recorded', async () => {
    const { guard, store } = seedGuard();
    // A slow trail: `completed` must wait for the recording, not merely for the stream.
    const record = guard.record.bind(guard);
    guard.record = async (event) => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return record(event);
    };
    const tools = supportTools();
    const model = new ScriptedModel([
      [webSearch, refund('call_s1', 500)],
      [assistantMessage('The refund is over the limit.')],
    ]);
    const agent = new Agent({
      name: 'Customer Support Agent',
      instructions: 'Help.',
      model,
      tools: [webSearchTool(), tools.processRefund],
    });
    const options = supportOptions(guard, 'trace_stream');
    const result = await runGoverned(governAgent(agent, options), 'Refund $500 for ORD-9', {
      ...options,
      runner: new Runner({ tracingDisabled: true }),
      runOptions: { stream: true },
    });
    let text = '';
    for await (const chunk of result.toTextStream()) text += chunk;
    await result.completed;

    expect(text).toBe('The refund is over the limit.');
    expect(result.finalOutput).toBe('The refund is over the limit.');
    expect(tools.ran).toEqual([]);
    const events = (await store.query({ traceId: 'trace_stream', order: 'asc' })).events;
    expect(trail(events)).toEqual([
      'decision Customer Support Agent read:web_search allow',
      'decision Customer Support Agent write:refund deny',
      'outcome Customer Support Agent write:refund deny/blocked',
      'outcome Customer Support Agent read:web_search allow/success',
    ]);
  });

  it('stops at an approval; the host answers and streams the rest from the run state', async () => {
    const { guard, store } = seedGuard([REFUND_APPROVAL_POLICY]);
    const tools = supportTools();
    const model = new ScriptedModel([[refund('call_s2', 79.99)], [assistantMessage('Refunded.')]]);
    const agent = new Agent({
      name: 'Customer Support Agent',
      instructions: 'Help.',
      model,
      tools: [tools.processRefund],
    });
    const options = supportOptions(guard, 'trace_stream_approval');
    const governed = governAgent(agent, options);
    const streamOptions = {
      ...options,
      runner: new Runner({ tracingDisabled: true }),
      runOptions: { stream: true as const },
    };

    const first = await runGoverned(governed, 'Refund $79.99 for ORD-9', streamOptions);
    await first.completed;
    expect(first.interruptions).toHaveLength(1);
    await approveToolCall(first.state, first.interruptions[0]!, { by: 'manager@acme.test' }, options);

    const second = await runGoverned(governed, first.state, streamOptions);
    await second.completed;
    expect(second.finalOutput).toBe('Refunded.');
    expect(tools.ran).toEqual(['process_refund ORD-9 79.99']);
    const events = (await store.query({ traceId: 'trace_stream_approval', order: 'asc' })).events;
    expect(trail(events)).toEqual([
      'decision Customer Support Agent write:refund require_approval',
      'approval_requested Customer Support Agent write:refund require_approval',
      'approval_granted Customer Support Agent write:refund allow',
      'decision Customer Support Agent write:refund allow',
      'outcome Customer Support Agent write:refund allow/success',
    ]);
    expect(events[2]!.actor).toBe('manager@acme.test');
  });
});
