import type { Content } from '@google/genai';
import { MeshGuardError } from '@meshguard/core';
import { describe, expect, it } from 'vitest';
import { runGovernedChat } from './governed-chat';
import { genaiClient, MODEL, supportScenario, trail, useEmulator } from './support-fixtures';
import { functionCallPart, textPart } from './vertex-emulator';

const emulators = useEmulator();

describe('runGovernedChat', () => {
  it('stops a model that keeps calling functions after maxRounds, having answered all but the last turn', async () => {
    const { governed, recorded } = supportScenario('trace_rounds');
    const lookup = (id: string) => ({
      parts: [functionCallPart('lookup_customer', { email: 'john@example.com' }, { id })],
    });
    const emulator = await emulators.start({ script: [lookup('r1'), lookup('r2'), lookup('r3')] });
    const ai = genaiClient(emulator);
    const history: Content[] = [];
    const error = await runGovernedChat({
      chat: {
        history,
        generateContentStream: (contents) =>
          ai.models.generateContentStream({ model: MODEL, contents, config: { tools: [governed.tool] } }),
        generateContent: () => Promise.reject(new Error('not used: stream is on')),
      },
      message: 'Who is john@example.com?',
      functions: governed,
      stream: true,
      maxRounds: 3,
    }).catch((e: unknown) => e);
    expect(MeshGuardError.isInstance(error) && error.code).toBe('max_rounds_exceeded');
    expect(String(error)).toContain('still calling functions after 3 rounds');
    expect(emulator.problems).toEqual([]);
    // Two turns answered (and recorded); the third call was never checked, so it never ran.
    expect(trail(await recorded())).toEqual([
      'decision read:customer_data allow',
      'outcome read:customer_data allow/success',
      'decision read:customer_data allow',
      'outcome read:customer_data allow/success',
    ]);
  });

  it("says so, clearly, when the model's answer or the prompt is blocked", async () => {
    const { governed, recorded } = supportScenario('trace_blocked');
    const emulator = await emulators.start({
      script: [
        { parts: [], finishReason: 'SAFETY' },
        { parts: [], promptFeedback: { blockReason: 'PROHIBITED_CONTENT', blockReasonMessage: 'no' } },
        { parts: [], promptFeedback: { blockReason: 'SAFETY' } },
        { parts: [], finishReason: 'MALFORMED_FUNCTION_CALL' },
      ],
    });
    const chat = genaiClient(emulator).chats.create({ model: MODEL, config: { tools: [governed.tool] } });
    const fails = async (stream: boolean) => {
      const error = await runGovernedChat({ chat, message: 'Refund everything', functions: governed, stream })
        .then(() => undefined)
        .catch((e: unknown) => e);
      expect(MeshGuardError.isInstance(error) && error.code).toBe('response_blocked');
      return String(error);
    };
    expect(await fails(false)).toContain("the model's answer was stopped (finishReason SAFETY)");
    expect(await fails(false)).toContain('the prompt was blocked (PROHIBITED_CONTENT: no)');
    expect(await fails(true)).toContain('the prompt was blocked (SAFETY)');
    expect(await fails(true)).toContain(
      "the model's answer was stopped (finishReason MALFORMED_FUNCTION_CALL)",
    );
    expect(await recorded()).toEqual([]);
  });

  it('says what it needs when given something else', async () => {
    const { governed } = supportScenario('trace_bad_chat');
    const run = (options: Record<string, unknown>) =>
      runGovernedChat({
        chat: { sendMessage: () => ({}) },
        message: 'hi',
        functions: governed,
        ...options,
      } as never);
    await expect(run({})).rejects.toThrow(/`chat` must be an @google\/genai chat \(ai\.chats\.create\)/);
    await expect(run({ maxRounds: 0 })).rejects.toThrow(/maxRounds must be a positive integer, got 0/);
    await expect(run({ functions: {} })).rejects.toThrow(/`functions` must come from governFunctions/);
    await expect(
      run({ chat: { history: [], generateContent: async () => ({ candidates: [] }) }, stream: true }),
    ).rejects.toThrow(/stream: true needs `generateContentStream`/);
    const answered = await runGovernedChat({
      chat: {
        history: [],
        generateContent: async () => ({
          candidates: [{ content: { role: 'model', parts: [textPart('hi')] } }],
        }),
      },
      message: 'hi',
      functions: governed,
    });
    expect(answered.text).toBe('hi');
  });
});
