// The bedrock smoke run, given the modules as the entry point loaded them (import or require): a
// Bedrock agent returns control with two refunds through the real BedrockAgentRuntimeClient
// (HTTP/2, AWS event streams) against the package's emulator; 79.99 runs, 150 is refused.
const report = require('./report.cjs');

module.exports = async function smoke({ core, adapter, store, sdk, testing }, format) {
  const [db, traceId] = process.argv.slice(2);
  const refunds = [];
  const emulator = await testing.startBedrockEmulator({
    script: [
      [
        testing.bedrockReturnControl([
          testing.bedrockFunctionInput('Support', 'process_refund', { order_id: 'A-1', amount: 79.99 }),
          testing.bedrockFunctionInput('Support', 'process_refund', { order_id: 'A-2', amount: 150 }),
        ]),
      ],
      [testing.bedrockChunk('One refund done, one needs a manager.')],
    ],
  });
  const guard = await core.createGuard({ policies: 'policy.yaml', store: `sqlite:${db}` });
  const agent = adapter.createGovernedAgent({
    client: new sdk.BedrockAgentRuntimeClient(emulator.clientConfig),
    agentId: 'SMOKEAGENT',
    agentAliasId: 'SMOKEALIAS',
    guard,
    identity: { name: 'Smoke Agent', tags: ['smoke'], tier: 'basic' },
    actionGroups: {
      Support: {
        functions: {
          process_refund: {
            action: 'write:refund',
            handler: ({ order_id, amount }) => {
              refunds.push(amount);
              return `Refunded $${amount} on ${order_id}`;
            },
          },
        },
      },
    },
  });
  const result = await agent.invoke({
    sessionId: 'smoke-session',
    inputText: 'Refund both orders.',
    traceId,
  });
  await guard.close();
  await emulator.close();
  if (emulator.problems.length > 0) throw new Error(`emulator: ${emulator.problems.join('; ')}`);
  await report({ openStore: store.openStore, db, traceId, format, finalOutput: result.text, refunds });
};
