import type { Guard } from '@meshguard/core';
import { Agent, Runner } from '@openai/agents';
import { assistantMessage, functionCall, modelResponder, ScriptedModel } from '@openai/agents/testing';
import { describe, expect, it } from 'vitest';
import { governAgent } from './govern-agent';
import { seedGuard, supportOptions, supportTools, trail } from './support-fixtures';

/** The text of the last tool output the model received. */
function lastToolOutput(input: unknown): string {
  const items = Array.isArray(input) ? input : [];
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i] as { type?: string; output?: unknown };
    if (item.type === 'function_call_result') {
      const out = item.output as string | { text?: string };
      return typeof out === 'string' ? out : (out.text ?? JSON.stringify(out));
    }
  }
  return '';
}

describe('the seed customer support story, in the real Runner', () => {
  it('allows lookups and a $79.99 refund, blocks a $150 refund with the reason visible to the model', async () => {
    const { guard, store } = seedGuard();
    const tools = supportTools();
    const seen: string[] = [];
    const model = new ScriptedModel([
      [functionCall('lookup_customer', { email: 'john@example.com' }, { callId: 'call_lookup' })],
      modelResponder((call) => {
        seen.push(lastToolOutput(call.request.input));
        return [assistantMessage('I found John Doe, a Gold customer.')];
      }),
      [functionCall('get_order_details', { order_id: 'ORD-2024-001' }, { callId: 'call_order' })],
      [assistantMessage('Order ORD-2024-001 was delivered on 2024-01-15.')],
      [
        functionCall(
          'process_refund',
          { order_id: 'ORD-2024-001', amount: 79.99, reason: 'defective' },
          { callId: 'call_r1' },
        ),
      ],
      modelResponder((call) => {
        seen.push(lastToolOutput(call.request.input));
        return [assistantMessage('Your refund of $79.99 is processed.')];
      }),
      [
        functionCall(
          'process_refund',
          { order_id: 'ORD-2024-002', amount: 150, reason: 'defective' },
          { callId: 'call_r2' },
        ),
      ],
      modelResponder((call) => {
        seen.push(lastToolOutput(call.request.input));
        return [assistantMessage('I am sorry, refunds over $100 need a manager. I will escalate.')];
      }),
    ]);
    const support = new Agent({
      name: 'Customer Support Agent',
      instructions: 'You are a helpful customer support agent.',
      model,
      tools: [tools.lookupCustomer, tools.getOrderDetails, tools.processRefund, tools.sendEmail],
    });
    const governed = governAgent(support, supportOptions(guard, 'trace_support_story'));
    const runner = new Runner({ tracingDisabled: true });
    const outputs: string[] = [];
    for (const query of [
      'Can you look up the customer with email john@example.com?',
      "What's the status of order ORD-2024-001?",
      'I need a refund of $79.99 for order ORD-2024-001, the product was defective.',
      'And a refund of $150 for order ORD-2024-002.',
    ]) {
      const result = await runner.run(governed, query);
      outputs.push(String(result.finalOutput));
    }
    model.assertComplete();
    expect(outputs[3]).toContain('manager');
    expect(seen[0]).toContain('Customer found: John Doe');
    expect(seen[1]).toContain('Refund of $79.99 processed');
    expect(seen[2]).toBe(
      'Blocked by policy: Refunds over $100 require manager approval (rule openai-support-agent-policy#4)',
    );
    // The denied refund never ran; the caller's agent and tools were not changed.
    expect(tools.ran).toEqual([
      'lookup_customer john@example.com',
      'get_order_details ORD-2024-001',
      'process_refund ORD-2024-001 79.99',
    ]);
    expect(support.tools[0]).toBe(tools.lookupCustomer);

    const events = (await store.query({ traceId: 'trace_support_story', order: 'asc' })).events;
    expect(trail(events)).toEqual([
      'decision Customer Support Agent read:customer_data allow',
      'outcome Customer Support Agent read:customer_data allow/success',
      'decision Customer Support Agent read:order_data allow',
      'outcome Customer Support Agent read:order_data allow/success',
      'decision Customer Support Agent write:refund allow',
      'outcome Customer Support Agent write:refund allow/success',
      'decision Customer Support Agent write:refund deny',
      'outcome Customer Support Agent write:refund deny/blocked',
    ]);
    const [, lookupOutcome, , , allowedRefund, , denied] = events;
    expect(allowedRefund).toMatchObject({
      framework: 'openai-agents',
      kind: 'tool',
      context: { order_id: 'ORD-2024-001', amount: 79.99, reason: 'defective' },
      agent: { name: 'Customer Support Agent', tags: ['openai', 'support'], tier: 'verified' },
      source: { name: '@meshguard/openai-agents' },
    });
    expect(denied).toMatchObject({
      reason: 'Refunds over $100 require manager approval (rule openai-support-agent-policy#4)',
      rule: { id: 'openai-support-agent-policy#4' },
    });
    expect(lookupOutcome!.durationMs).toBeGreaterThanOrEqual(0);
    expect(lookupOutcome!.decisionId).toBe(events[0]!.decisionId);
  });
});

describe('nothing reaches the model ungoverned', () => {
  it('governs function tools that arrive after governAgent (MCP servers, tools added later), and clones stay governed', async () => {
    const { guard, store } = seedGuard();
    const tools = supportTools();
    const model = new ScriptedModel([
      [functionCall('process_refund', { order_id: 'X', amount: 500, reason: 'r' }, { callId: 'late_1' })],
      [assistantMessage('Blocked.')],
      [functionCall('process_refund', { order_id: 'Y', amount: 500, reason: 'r' }, { callId: 'late_2' })],
      [assistantMessage('Blocked again.')],
    ]);
    const agent = new Agent({ name: 'Customer Support Agent', instructions: 'x', model });
    const governed = governAgent(agent, supportOptions(guard, 'trace_late_tools'));
    governed.tools.push(tools.processRefund); // as an MCP server's tool list would appear
    const runner = new Runner({ tracingDisabled: true });
    await runner.run(governed, 'Refund X');
    await runner.run(governed.clone({ instructions: 'y' }), 'Refund Y');
    expect(tools.ran).toEqual([]);
    const events = (await store.query({ traceId: 'trace_late_tools', order: 'asc', type: 'decision' }))
      .events;
    expect(events.map((e) => `${e.action} ${e.effect}`)).toEqual(['write:refund deny', 'write:refund deny']);
  });
});

describe('a governed tool whose check fails', () => {
  it('fails closed: the model gets the reason, the tool never runs, the run goes on', async () => {
    const { guard, store } = seedGuard();
    const tools = supportTools();
    const seen: string[] = [];
    const model = new ScriptedModel([
      [functionCall('lookup_customer', { email: 'john@example.com' }, { callId: 'call_lookup' })],
      modelResponder((call) => {
        seen.push(lastToolOutput(call.request.input));
        return [assistantMessage('I cannot look that up right now.')];
      }),
    ]);
    const support = new Agent({
      name: 'Customer Support Agent',
      instructions: 'You are a helpful customer support agent.',
      model,
      tools: [tools.lookupCustomer],
    });
    const broken: Guard = { ...guard, check: async () => Promise.reject(new Error('store offline')) };
    const governed = governAgent(support, supportOptions(broken, 'trace_check_failed'));
    const result = await new Runner({ tracingDisabled: true }).run(governed, 'Who is john@example.com?');
    model.assertComplete();
    expect(result.finalOutput).toBe('I cannot look that up right now.');
    expect(seen).toEqual([
      'Blocked by policy: the policy check failed, so the action is denied: store offline',
    ]);
    expect(tools.ran).toEqual([]);
    const events = (await store.query({ traceId: 'trace_check_failed', order: 'asc' })).events;
    expect(trail(events)).toEqual(['outcome Customer Support Agent read:customer_data deny/blocked']);
    expect(events[0]!.error).toBe('the policy check failed, so the action is denied: store offline');
  });
});
