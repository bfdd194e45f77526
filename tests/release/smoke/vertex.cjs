// Installed-from-tarball check, as CommonJS: Gemini asks for two refunds in one turn through the
// real @google/genai client (Vertex mode) against the package's emulator; 79.99 runs, 150 is
// refused with the policy's reason; then the decisions are read back from the audit store.
// Usage: node vertex.cjs <sqlite path> <trace id>
const { GoogleGenAI } = require('@google/genai');
const { createGuard } = require('@meshguard/core');
const { openStore } = require('@meshguard/store');
const { governFunctions, runGovernedChat } = require('@meshguard/vertex');
const {
  fixedTokenAuthClient,
  functionCallPart,
  startVertexEmulator,
  textPart,
} = require('@meshguard/vertex/testing');

async function main() {
  const [db, traceId] = process.argv.slice(2);
  const refunds = [];
  const emulator = await startVertexEmulator({
    script: [
      {
        parts: [
          functionCallPart('process_refund', { order_id: 'A-1', amount: 79.99 }, { id: 'call_1' }),
          functionCallPart('process_refund', { order_id: 'A-2', amount: 150 }, { id: 'call_2' }),
        ],
      },
      { parts: [textPart('One refund done, one needs a manager.')] },
    ],
  });
  const guard = await createGuard({ policies: 'policy.yaml', store: `sqlite:${db}` });
  const functions = governFunctions({
    guard,
    identity: { name: 'Smoke Agent', tags: ['smoke'], tier: 'basic' },
    traceId,
    functions: {
      process_refund: {
        action: 'write:refund',
        declaration: {
          description: 'Refund an order.',
          parametersJsonSchema: {
            type: 'object',
            properties: { order_id: { type: 'string' }, amount: { type: 'number' } },
            required: ['order_id', 'amount'],
          },
        },
        handler: ({ order_id, amount }) => {
          refunds.push(amount);
          return { status: 'refunded', order_id, amount };
        },
      },
    },
  });
  const ai = new GoogleGenAI({
    vertexai: true,
    project: 'smoke',
    location: 'us-central1',
    googleAuthOptions: { authClient: fixedTokenAuthClient() },
    httpOptions: { baseUrl: emulator.url },
  });
  const chat = ai.chats.create({ model: 'gemini-2.5-flash', config: { tools: [functions.tool] } });
  const result = await runGovernedChat({ chat, message: 'Refund both orders.', functions });
  await guard.close();
  await emulator.close();
  if (emulator.problems.length > 0) throw new Error(`emulator: ${emulator.problems.join('; ')}`);

  const store = await openStore(`sqlite:${db}`);
  const { events } = await store.query({ traceId, order: 'asc' });
  await store.close();
  console.log(
    JSON.stringify({
      format: 'cjs',
      finalOutput: result.text,
      refunds,
      decisions: events
        .filter((e) => e.type === 'decision')
        .map((e) => ({ action: e.action, effect: e.effect, framework: e.framework, reason: e.reason })),
    }),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
