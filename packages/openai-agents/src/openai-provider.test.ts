import { Agent, OpenAIProvider, Runner, webSearchTool } from '@openai/agents';
import { afterEach, describe, expect, it } from 'vitest';
import { governAgent } from './govern-agent';
import { recordHostedToolCalls } from './hosted-tools';
import {
  type ResponsesEmulator,
  responsesFunctionCall,
  responsesMessage,
  responsesWebSearchCall,
  startResponsesEmulator,
} from './responses-emulator';
import { seedGuard, supportOptions, supportTools, trail } from './support-fixtures';

let emulator: ResponsesEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

function lastOutput(body: { input?: unknown }): string {
  const items = (Array.isArray(body.input) ? body.input : []) as Array<{ type: string; output?: unknown }>;
  const out = items.filter((i) => i.type === 'function_call_output').at(-1)?.output;
  return typeof out === 'string' ? out : JSON.stringify(out);
}

describe.each([
  ['non-streaming', false],
  ['streaming', true],
])('the real OpenAIProvider against a local Responses API (%s)', (_name, stream) => {
  it('governs function calls and records a hosted web_search call from the wire', async () => {
    const { guard, store } = seedGuard();
    const modelSaw: string[] = [];
    emulator = await startResponsesEmulator({
      script: [
        [
          responsesWebSearchCall('wireless headphones warranty'),
          responsesFunctionCall(
            'process_refund',
            { order_id: 'ORD-1', amount: 79.99, reason: 'defective' },
            'call_1',
          ),
          responsesFunctionCall(
            'process_refund',
            { order_id: 'ORD-2', amount: 150, reason: 'defective' },
            'call_2',
          ),
        ],
        (body) => {
          modelSaw.push(lastOutput(body));
          const items = body.input as Array<{ type: string; call_id?: string; output?: unknown }>;
          modelSaw.push(
            ...items
              .filter((i) => i.type === 'function_call_output')
              .map(
                (i) => `${i.call_id}: ${typeof i.output === 'string' ? i.output : JSON.stringify(i.output)}`,
              ),
          );
          return [responsesMessage('Refunded ORD-1; ORD-2 needs a manager.')];
        },
      ],
    });
    const tools = supportTools();
    const provider = new OpenAIProvider({ apiKey: 'sk-test', baseURL: emulator.url, useResponses: true });
    const agent = new Agent({
      name: 'Customer Support Agent',
      instructions: 'Help with refunds.',
      model: 'gpt-4.1',
      tools: [webSearchTool(), tools.processRefund],
    });
    const options = supportOptions(guard, `trace_provider_${stream ? 'stream' : 'json'}`);
    const runner = new Runner({ modelProvider: provider, tracingDisabled: true });
    const governed = governAgent(agent, options);
    let result: { finalOutput?: unknown };
    if (stream) {
      const streamed = await runner.run(governed, 'Refund ORD-1 and ORD-2', { stream: true });
      let text = '';
      for await (const chunk of streamed.toTextStream()) text += chunk;
      await streamed.completed;
      expect(text).toBe('Refunded ORD-1; ORD-2 needs a manager.');
      result = streamed;
    } else {
      result = await runner.run(governed, 'Refund ORD-1 and ORD-2');
    }
    expect(result.finalOutput).toBe('Refunded ORD-1; ORD-2 needs a manager.');
    expect(emulator.problems).toEqual([]);
    expect(emulator.remaining).toBe(0);
    // The wire request offered web_search (allowed) and the governed function tool.
    expect(emulator.requests[0]!.tools?.map((t) => t.type)).toEqual(['web_search', 'function']);
    expect(emulator.requests[0]!.stream ?? false).toBe(stream);
    expect(modelSaw.slice(1).sort()).toEqual([
      'call_1: Refund of $79.99 processed for order ORD-1. Ref: REF-0001',
      'call_2: Blocked by policy: Refunds over $100 require manager approval (rule openai-support-agent-policy#4)',
    ]);
    expect(tools.ran).toEqual(['process_refund ORD-1 79.99']);
    expect(await recordHostedToolCalls(result as never, options)).toBe(1);

    const events = (await store.query({ traceId: options.traceId!, order: 'asc' })).events;
    const lines = trail(events);
    expect(lines[0]).toBe('decision Customer Support Agent read:web_search allow');
    expect(lines.slice(1, 5).sort()).toEqual([
      'decision Customer Support Agent write:refund allow',
      'decision Customer Support Agent write:refund deny',
      'outcome Customer Support Agent write:refund allow/success',
      'outcome Customer Support Agent write:refund deny/blocked',
    ]);
    expect(lines[5]).toBe('outcome Customer Support Agent read:web_search allow/success');
    expect(events[5]).toMatchObject({
      context: { query: 'wireless headphones warranty' },
      id: 'openai:ws_1',
    });
  });
});
