// The vertex smoke run, given the modules as the entry point loaded them (import or require):
// Gemini asks for two refunds in one turn through the real @google/genai client (Vertex mode)
// against the package's emulator; 79.99 runs, 150 is refused with the policy's reason.
const report = require('./report.cjs');

module.exports = async function smoke({ core, adapter, store, sdk, testing }, format) {
  const [db, traceId] = process.argv.slice(2);
  const refunds = [];
  const emulator = await testing.startVertexEmulator({
    script: [
      {
        parts: [
          testing.functionCallPart('process_refund', { order_id: 'A-1', amount: 79.99 }, { id: 'call_1' }),
          testing.functionCallPart('process_refund', { order_id: 'A-2', amount: 150 }, { id: 'call_2' }),
        ],
      },
      { parts: [testing.textPart('One refund done, one needs a manager.')] },
    ],
  });
  const guard = await core.createGuard({ policies: 'policy.yaml', store: `sqlite:${db}` });
  const functions = adapter.governFunctions({
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
  const ai = new sdk.GoogleGenAI({
    vertexai: true,
    project: 'smoke',
    location: 'us-central1',
    googleAuthOptions: { authClient: testing.fixedTokenAuthClient() },
    httpOptions: { baseUrl: emulator.url },
  });
  const chat = ai.chats.create({ model: 'gemini-2.5-flash', config: { tools: [functions.tool] } });
  const result = await adapter.runGovernedChat({ chat, message: 'Refund both orders.', functions });
  await guard.close();
  await emulator.close();
  if (emulator.problems.length > 0) throw new Error(`emulator: ${emulator.problems.join('; ')}`);
  await report({ openStore: store.openStore, db, traceId, format, finalOutput: result.text, refunds });
};
