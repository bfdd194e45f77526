import { afterEach, describe, expect, it } from 'vitest';
import { functionCallPart, startVertexEmulator, textPart, type VertexEmulator } from './vertex-emulator';

let emulator: VertexEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

const PATH = '/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash';

async function post(url: string, body: unknown, method = 'generateContent', auth = 'Bearer t') {
  const response = await fetch(
    `${url}${PATH}:${method}${method === 'streamGenerateContent' ? '?alt=sse' : ''}`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: auth },
      body: JSON.stringify(body),
    },
  );
  return { status: response.status, text: await response.text() };
}

describe('the Vertex emulator', () => {
  it('catches a client that drops a call, answers the wrong id, or loses a thought signature', async () => {
    const call = functionCallPart('lookup', { q: 1 }, { id: 'c1', thoughtSignature: 'sig' });
    const other = functionCallPart('order', {}, { id: 'c2' });
    emulator = await startVertexEmulator({
      script: [{ parts: [call, other] }, { parts: [textPart('ok')] }, { parts: [textPart('again')] }],
    });
    const first = await post(emulator.url, { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] });
    expect(JSON.parse(first.text)).toMatchObject({
      candidates: [{ content: { role: 'model', parts: [call, other] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { totalTokenCount: 15 },
      responseId: expect.stringMatching(/^emulated-[0-9a-f]{12}-1$/),
    });
    await post(emulator.url, {
      contents: [
        { role: 'user', parts: [{ text: 'hi' }] },
        { role: 'model', parts: [{ functionCall: { id: 'c1', name: 'lookup', args: { q: 1 } } }, other] },
        { role: 'user', parts: [{ functionResponse: { id: 'c9', name: 'lookup', response: {} } }] },
      ],
    });
    expect(emulator.problems).toEqual([
      'request 2: the thought signature of functionCall lookup (c1) was not kept',
      'request 2: no functionResponse for lookup (c1)',
      'request 2: no functionResponse for order (c2)',
      'request 2: functionResponse lookup (c9) answers no call',
    ]);
  });

  it('streams SSE chunks, refuses what Vertex would refuse, and says when the script ran out', async () => {
    emulator = await startVertexEmulator({
      script: [{ parts: [textPart('Hello from the emulated model')] }],
    });
    const streamed = await post(emulator.url, { contents: [] }, 'streamGenerateContent');
    const chunks = streamed.text
      .split('\r\n\r\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line.replace(/^data: /, '')));
    expect(chunks.map((c) => c.candidates[0].content.parts[0].text).join('')).toBe(
      'Hello from the emulated model',
    );
    expect(chunks.at(-1).candidates[0].finishReason).toBe('STOP');
    // Streamed in several chunks, and only the last one says why the answer ended.
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.map((c) => c.candidates[0].finishReason ?? null)).toEqual([
      ...Array.from({ length: chunks.length - 1 }, () => null),
      'STOP',
    ]);

    expect((await post(emulator.url, {}, 'generateContent', '')).status).toBe(401);
    expect((await fetch(`${emulator.url}/v1/models`)).status).toBe(404);
    const exhausted = await post(emulator.url, { contents: [] });
    expect(exhausted.status).toBe(500);
    expect(JSON.parse(exhausted.text)).toEqual({
      error: { code: 500, message: 'the emulator script has no turn left', status: 'INTERNAL' },
    });
    expect(emulator.problems).toEqual(['request 2: the script has no turn left']);
  });

  it('serves TLS with a certificate only its own CA vouches for', async () => {
    emulator = await startVertexEmulator({ tls: true, script: [{ parts: [textPart('secure')] }] });
    expect(emulator.url).toMatch(/^https:\/\/localhost:\d+$/);
    expect(emulator.ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
    // Not trusted by default: a client must be told about the CA.
    await expect(post(emulator.url, { contents: [] })).rejects.toThrow(/fetch failed/);
  });
});
