// Installed-from-tarball check, as ESM: a Bedrock agent returns control with two refunds through
// the real BedrockAgentRuntimeClient (HTTP/2, AWS event streams) against the package's emulator;
// 79.99 runs, 150 is refused with the policy's reason; then the decisions are read back from the
// audit store. Usage: node bedrock.mjs <sqlite path> <trace id>
import { BedrockAgentRuntimeClient } from '@aws-sdk/client-bedrock-agent-runtime';
import { createGovernedAgent } from '@meshguard/bedrock';
import {
  bedrockChunk,
  bedrockFunctionInput,
  bedrockReturnControl,
  startBedrockEmulator,
} from '@meshguard/bedrock/testing';
import { createGuard } from '@meshguard/core';
import { openStore } from '@meshguard/store';

const [db, traceId] = process.argv.slice(2);
const refunds = [];
const emulator = await startBedrockEmulator({
  script: [
    [
      bedrockReturnControl([
        bedrockFunctionInput('Support', 'process_refund', { order_id: 'A-1', amount: 79.99 }),
        bedrockFunctionInput('Support', 'process_refund', { order_id: 'A-2', amount: 150 }),
      ]),
    ],
    [bedrockChunk('One refund done, one needs a manager.')],
  ],
});
const guard = await createGuard({ policies: 'policy.yaml', store: `sqlite:${db}` });
const agent = createGovernedAgent({
  client: new BedrockAgentRuntimeClient(emulator.clientConfig),
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
const result = await agent.invoke({ sessionId: 'smoke-session', inputText: 'Refund both orders.', traceId });
await guard.close();
await emulator.close();
if (emulator.problems.length > 0) throw new Error(`emulator: ${emulator.problems.join('; ')}`);

const store = await openStore(`sqlite:${db}`);
const { events } = await store.query({ traceId, order: 'asc' });
await store.close();
console.log(
  JSON.stringify({
    format: 'esm',
    finalOutput: result.text,
    refunds,
    decisions: events
      .filter((e) => e.type === 'decision')
      .map((e) => ({ action: e.action, effect: e.effect, framework: e.framework, reason: e.reason })),
  }),
);
