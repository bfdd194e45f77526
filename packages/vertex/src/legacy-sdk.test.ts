import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Content } from '@google-cloud/vertexai';
import { describe, expect, it } from 'vitest';
import { createEmulatorCertificate } from './emulator-certificate';
import { runGovernedChat } from './governed-chat';
import { lastFunctionResponses, relay, supportScenario, trail, useEmulator } from './support-fixtures';
import { functionCallPart, textPart } from './vertex-emulator';

const emulators = useEmulator();

describe('governFunctions with @google-cloud/vertexai (legacy, over TLS)', () => {
  it('allows one call and denies another in one turn; the model hears the reason', async () => {
    const { governed, ran, recorded } = supportScenario('trace_legacy');
    const emulator = await emulators.start({
      tls: true,
      script: [
        {
          parts: [
            functionCallPart('process_refund', { order_id: 'ORD-1', amount: 79.99 }, { id: 'l1' }),
            functionCallPart('process_refund', { order_id: 'ORD-2', amount: 150 }, { id: 'l2' }),
          ],
        },
        relay,
      ],
    });
    const chat = emulators.legacyChat(emulator, governed);
    const result = await runGovernedChat({ chat, message: 'Refund both orders', functions: governed });

    expect(result.text).toBe(
      'Done: process_refund Sorry: Blocked by policy: Refunds over $100 require manager approval (rule vertex-support-agent-policy#4)',
    );
    expect(ran).toEqual(['process_refund ORD-1 79.99']);
    expect(emulator.problems).toEqual([]);
    expect(emulator.requests[0]!.path).toBe(
      '/v1/projects/meshguard-test/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent',
    );
    expect(
      lastFunctionResponses(emulator.requests[1]!.body.contents).map((r) => `${r.id} ${r.name}`),
    ).toEqual(['l1 process_refund', 'l2 process_refund']);
    const events = await recorded();
    expect(trail(events)).toEqual([
      'decision write:refund allow',
      'decision write:refund deny',
      'outcome write:refund deny/blocked',
      'outcome write:refund allow/success',
    ]);
    expect(events.map((e) => e.framework)).toEqual(['vertex', 'vertex', 'vertex', 'vertex']);
    expect(events[3]!.decisionId).toBe(events[0]!.decisionId);
  });

  it('streams with sendMessageStream and answers the calls found in the chunks', async () => {
    const { governed, recorded } = supportScenario('trace_legacy_stream');
    const emulator = await emulators.start({
      tls: true,
      script: [
        { parts: [functionCallPart('lookup_customer', { email: 'john@example.com' }, { id: 'ls1' })] },
        { parts: [textPart('John Doe is a Gold tier customer, ID CUST-001.')] },
      ],
    });
    const chat = emulators.legacyChat(emulator, governed);
    const pieces: string[] = [];
    const result = await runGovernedChat({
      chat,
      message: 'Who is john@example.com?',
      functions: governed,
      stream: true,
      onText: (t) => pieces.push(t),
    });
    expect(result.text).toBe('John Doe is a Gold tier customer, ID CUST-001.');
    expect(pieces.join('')).toBe(result.text);
    expect(emulator.requests.map((r) => r.method)).toEqual([
      'streamGenerateContent',
      'streamGenerateContent',
    ]);
    expect(emulator.problems).toEqual([]);
    // The chat kept its own history: the call and its answer are in it.
    expect((await chat.getHistory()).map((c) => c.role)).toEqual(['user', 'model', 'user', 'model']);
    const events = await recorded();
    expect(trail(events)).toEqual([
      'decision read:customer_data allow',
      'outcome read:customer_data allow/success',
    ]);
  });

  it('drives generateContent / generateContentStream with a history the caller keeps', async () => {
    const { governed, recorded } = supportScenario('trace_legacy_history');
    const emulator = await emulators.start({
      tls: true,
      script: [
        { parts: [functionCallPart('lookup_customer', { email: 'john@example.com' }, { id: 'g1' })] },
        relay,
        { parts: [functionCallPart('get_order_details', { order_id: 'ORD-1' }, { id: 'g2' })] },
        relay,
      ],
    });
    const model = emulators.legacyModel(emulator, governed);
    const history: Content[] = [];
    const chat = {
      history,
      generateContent: (contents: Content[]) => model.generateContent({ contents }),
      generateContentStream: (contents: Content[]) => model.generateContentStream({ contents }),
    };
    const first = await runGovernedChat({ chat, message: 'Who is john@example.com?', functions: governed });
    const second = await runGovernedChat({ chat, message: 'And ORD-1?', functions: governed, stream: true });
    expect([first.text, second.text]).toEqual(['Done: lookup_customer', 'Done: get_order_details']);
    expect(history.map((c) => c.role)).toEqual([
      'user',
      'model',
      'user',
      'model',
      'user',
      'model',
      'user',
      'model',
    ]);
    expect(emulator.requests.map((r) => r.method)).toEqual([
      'generateContent',
      'generateContent',
      'streamGenerateContent',
      'streamGenerateContent',
    ]);
    expect(emulator.problems).toEqual([]);
    expect(trail(await recorded())).toEqual([
      'decision read:customer_data allow',
      'outcome read:customer_data allow/success',
      'decision read:order_data allow',
      'outcome read:order_data allow/success',
    ]);
  });

  it('an SDK limit, documented: its stream aggregate drops thought signatures from the chat history', async () => {
    const { governed, recorded } = supportScenario('trace_legacy_signature');
    const emulator = await emulators.start({
      tls: true,
      script: [
        {
          parts: [
            functionCallPart(
              'get_order_details',
              { order_id: 'ORD-1' },
              { id: 'ts1', thoughtSignature: 'c2ln' },
            ),
          ],
        },
        relay,
      ],
    });
    const chat = emulators.legacyChat(emulator, governed);
    const result = await runGovernedChat({
      chat,
      message: 'Where is ORD-1?',
      functions: governed,
      stream: true,
    });
    // The call is still answered and recorded (runGovernedChat reads the chunks itself)...
    expect(result.text).toBe('Done: get_order_details');
    expect(trail(await recorded())).toEqual([
      'decision read:order_data allow',
      'outcome read:order_data allow/success',
    ]);
    // ...but the history the SDK sends back lost the signature (see the README).
    expect(emulator.problems).toEqual([
      'request 2: the thought signature of functionCall get_order_details (ts1) was not kept',
    ]);
  });

  it('works the documented way: NODE_EXTRA_CA_CERTS set before the client process starts', async () => {
    // The certificate exists before the child starts, as it must for NODE_EXTRA_CA_CERTS.
    const certificate = await createEmulatorCertificate();
    const dir = mkdtempSync(join(tmpdir(), 'meshguard-vertex-'));
    const caFile = join(dir, 'emulator-ca.pem');
    writeFileSync(caFile, certificate.ca);
    const emulator = await emulators.start({
      tls: certificate,
      script: [
        {
          parts: [
            functionCallPart('get_order_details', { order_id: 'ORD-1' }, { id: 'c1' }),
            functionCallPart('process_refund', { order_id: 'ORD-2', amount: 150 }, { id: 'c2' }),
          ],
        },
        relay,
      ],
    });
    const child = fileURLToPath(new URL('../test-fixtures/legacy-child.mjs', import.meta.url));
    const policy = fileURLToPath(new URL('../../../examples/policies/vertex-support.yaml', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [child], {
      env: {
        ...process.env,
        NODE_EXTRA_CA_CERTS: caFile,
        EMULATOR_ENDPOINT: emulator.apiEndpoint,
        POLICY: policy,
      },
      timeout: 20_000,
    });
    const { text, events } = JSON.parse(stdout) as { text: string; events: string[] };
    expect(text).toBe(
      'Done: get_order_details Sorry: Blocked by policy: Refunds over $100 require manager approval (rule vertex-support-agent-policy#4)',
    );
    expect(events).toEqual([
      'decision read:order_data allow',
      'decision write:refund deny',
      'outcome write:refund deny/blocked',
      'outcome read:order_data allow/success',
    ]);
    expect(emulator.problems).toEqual([]);
  });
});
