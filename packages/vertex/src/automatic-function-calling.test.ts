import { describe, expect, it } from 'vitest';
import { genaiClient, MODEL, relay, supportScenario, trail, useEmulator } from './support-fixtures';
import { functionCallPart, textPart } from './vertex-emulator';

const emulators = useEmulator();

describe("the governed CallableTool in @google/genai's automatic function calling", () => {
  it('generateContent: the SDK loops, MeshGuard checks every call it makes', async () => {
    const { governed, ran, recorded } = supportScenario('trace_afc');
    const emulator = await emulators.start({
      script: [
        {
          parts: [
            functionCallPart(
              'lookup_customer',
              { email: 'john@example.com' },
              { id: 'a1', thoughtSignature: 'c2ln' },
            ),
          ],
        },
        {
          parts: [
            functionCallPart('process_refund', { order_id: 'ORD-1', amount: 79.99 }, { id: 'a2' }),
            functionCallPart('process_refund', { order_id: 'ORD-2', amount: 150 }, { id: 'a3' }),
          ],
        },
        relay,
      ],
    });
    const response = await genaiClient(emulator).models.generateContent({
      model: MODEL,
      contents: 'Refund both of John’s orders',
      config: { tools: [governed.callableTool()] },
    });
    expect(response.text).toBe(
      'Done: process_refund Sorry: Blocked by policy: Refunds over $100 require manager approval (rule vertex-support-agent-policy#4)',
    );
    expect(ran).toEqual(['lookup_customer john@example.com', 'process_refund ORD-1 79.99']);
    expect(emulator.problems).toEqual([]);
    // The SDK sent the declarations the CallableTool gave it.
    expect(emulator.requests[0]!.body.tools).toEqual([
      { functionDeclarations: expect.arrayContaining([expect.objectContaining({ name: 'process_refund' })]) },
    ]);
    const events = await recorded();
    expect(trail(events)).toEqual([
      'decision read:customer_data allow',
      'outcome read:customer_data allow/success',
      'decision write:refund allow',
      'decision write:refund deny',
      'outcome write:refund deny/blocked',
      'outcome write:refund allow/success',
    ]);
    expect(events.map((e) => e.spanId)).toEqual([
      'call:a1',
      'call:a1',
      'call:a2',
      'call:a3',
      'call:a3',
      'call:a2',
    ]);
  });

  it('a chat with streaming: the SDK calls the tool per functionCall chunk', async () => {
    const { governed, recorded } = supportScenario('trace_afc_stream');
    const emulator = await emulators.start({
      script: [
        { parts: [functionCallPart('get_order_details', { order_id: 'ORD-9' }, { id: 's1' })] },
        { parts: [textPart('Order ORD-9 was delivered.')] },
      ],
    });
    const chat = genaiClient(emulator).chats.create({
      model: MODEL,
      config: { tools: [governed.callableTool()] },
    });
    let text = '';
    for await (const chunk of await chat.sendMessageStream({ message: 'Where is ORD-9?' }))
      text += chunk.text ?? '';
    expect(text).toBe('Order ORD-9 was delivered.');
    expect(emulator.problems).toEqual([]);
    const events = await recorded();
    expect(trail(events)).toEqual([
      'decision read:order_data allow',
      'outcome read:order_data allow/success',
    ]);
  });

  it('never runs a handler on a streamed argument fragment (streamFunctionCallArguments)', async () => {
    const { governed, ran, recorded } = supportScenario('trace_afc_partial');
    // Vertex streams one call's arguments over several chunks: the name first (willContinue),
    // then partialArgs. The SDK hands the CallableTool the first fragment on its own.
    const emulator = await emulators.start({
      script: [
        {
          parts: [
            { functionCall: { id: 'p1', name: 'get_order_details', willContinue: true } },
            {
              functionCall: {
                partialArgs: [{ jsonPath: '$.order_id', stringValue: 'ORD-9' }],
                willContinue: true,
              },
            },
            { functionCall: {} },
          ],
        },
      ],
    });
    const chat = genaiClient(emulator).chats.create({
      model: MODEL,
      config: { tools: [governed.callableTool()] },
    });
    // The SDK itself gives up on the nameless fragment that follows.
    await expect(async () => {
      for await (const _ of await chat.sendMessageStream({ message: 'Where is ORD-9?' })) {
        // drain
      }
    }).rejects.toThrow(/Function call name was not returned/);
    expect(ran).toEqual([]);
    expect(
      await governed.respond([{ functionCall: { id: 'p2', name: 'get_order_details', partialArgs: [] } }]),
    ).toEqual([
      {
        functionResponse: {
          id: 'p2',
          name: 'get_order_details',
          response: { error: expect.stringMatching(/streamed in parts/) },
        },
      },
    ]);
    expect(ran).toEqual([]);
    const events = await recorded();
    expect(trail(events)).toEqual([
      'decision read:order_data allow',
      'outcome read:order_data allow/error',
      'decision read:order_data allow',
      'outcome read:order_data allow/error',
    ]);
  });
});
