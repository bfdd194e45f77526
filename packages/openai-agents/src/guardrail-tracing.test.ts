import {
  Agent,
  getGlobalTraceProvider,
  InputGuardrailTripwireTriggered,
  Runner,
  setTraceProcessors,
  setTracingDisabled,
} from '@openai/agents';
import { assistantMessage, functionCall, ScriptedModel } from '@openai/agents/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { governAgent } from './govern-agent';
import { governedTool } from './govern-tool';
import { meshguardInputGuardrail } from './input-guardrail';
import { seedGuard, supportOptions, trail } from './support-fixtures';
import { MeshGuardTracingProcessor } from './tracing-processor';

const INVOKE_POLICY = `
name: invoke
version: "1"
appliesTo:
  tags: [support]
rules:
  - effect: allow
    actions: ["invoke:Customer Support Agent"]
`;

describe('meshguardInputGuardrail', () => {
  it('trips when invoke:<agent> is denied, before the model is called', async () => {
    const { guard, store } = seedGuard();
    const model = new ScriptedModel([]);
    const options = supportOptions(guard, 'trace_guardrail');
    const agent = new Agent({
      name: 'Customer Support Agent',
      instructions: 'Help.',
      model,
      inputGuardrails: [meshguardInputGuardrail(options)],
    });
    const error = await new Runner({ tracingDisabled: true }).run(agent, 'Hello').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputGuardrailTripwireTriggered);
    expect(model.calls).toHaveLength(0);
    const events = (await store.query({ traceId: 'trace_guardrail' })).events;
    expect(trail(events)).toEqual(['decision Customer Support Agent invoke:Customer Support Agent deny']);
    expect(events[0]).toMatchObject({ kind: 'guardrail', context: { input_length: 5 } });
  });

  it('lets the run through when policy allows the agent', async () => {
    const { guard } = seedGuard([INVOKE_POLICY]);
    const model = new ScriptedModel([[assistantMessage('Hi!')]]);
    const agent = new Agent({
      name: 'Customer Support Agent',
      instructions: 'Help.',
      model,
      inputGuardrails: [meshguardInputGuardrail(supportOptions(guard, 'trace_guardrail_ok'))],
    });
    const result = await new Runner({ tracingDisabled: true }).run(agent, 'Hello');
    expect(result.finalOutput).toBe('Hi!');
  });
});

describe('MeshGuardTracingProcessor', () => {
  beforeAll(() => setTracingDisabled(false)); // vitest sets NODE_ENV=test, which disables tracing
  afterAll(() => {
    setTraceProcessors([]);
    setTracingDisabled(true);
  });

  it("mirrors the SDK's spans into the trail under the run's own trace id, beside the decisions", async () => {
    const { guard, store } = seedGuard([INVOKE_POLICY]);
    const options = { ...supportOptions(guard, ''), traceId: undefined };
    const processor = new MeshGuardTracingProcessor(options);
    setTraceProcessors([processor]);
    const refund = governedTool(
      {
        name: 'process_refund',
        description: 'Refund an order',
        parameters: z.object({ order_id: z.string(), amount: z.number() }),
        action: 'write:refund',
        execute: () => {
          throw new Error('payments service unavailable');
        },
      },
      { ...options, agent: 'Customer Support Agent' },
    );
    const model = new ScriptedModel([
      [functionCall('process_refund', { order_id: 'ORD-9', amount: 20 }, { callId: 'call_t1' })],
      [assistantMessage('The payment service is down; please try later.')],
    ]);
    const agent = new Agent({
      name: 'Customer Support Agent',
      instructions: 'Refunds.',
      model,
      tools: [refund],
      inputGuardrails: [meshguardInputGuardrail(options)],
    });
    const result = await new Runner().run(governAgent(agent, options), 'Refund ORD-9');
    await getGlobalTraceProvider().forceFlush();
    await processor.forceFlush();
    const traceId = result.state._trace?.traceId;
    expect(traceId).toMatch(/^trace_[0-9a-f]{32}$/);

    const events = (await store.query({ traceId: traceId!, order: 'asc' })).events;
    const lines = trail(events);
    expect(lines).toHaveLength(6);
    expect(lines).toEqual(
      expect.arrayContaining([
        'decision Customer Support Agent invoke:Customer Support Agent allow',
        'decision Customer Support Agent write:refund allow',
        'outcome Customer Support Agent write:refund allow/error',
        'outcome Customer Support Agent write:refund allow/error', // the function span, mirrored
        'outcome Customer Support Agent guardrail:meshguard allow/observed',
        'outcome Customer Support Agent invoke:Customer Support Agent allow/observed',
      ]),
    );
    const toolOutcome = events.find(
      (e) =>
        e.type === 'outcome' && e.decisionId === events.find((d) => d.action === 'write:refund')!.decisionId,
    );
    expect(toolOutcome).toMatchObject({ outcome: 'error', error: 'payments service unavailable' });
    const spans = events.filter((e) => e.id.startsWith('openai-span:'));
    expect(spans.every((e) => e.spanId && e.framework === 'openai-agents')).toBe(true);
  });
});
