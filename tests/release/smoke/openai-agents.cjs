// Installed-from-tarball check, as CommonJS: one governed tool call allowed and one denied in the
// real OpenAI Agents Runner with a scripted model, then the decisions read back from the store.
// Usage: node openai-agents.cjs <sqlite path> <trace id>
const { createGuard } = require('@meshguard/core');
const { governAgent } = require('@meshguard/openai-agents');
const { openStore } = require('@meshguard/store');
const { Agent, Runner, tool } = require('@openai/agents');
const { assistantMessage, functionCall, ScriptedModel } = require('@openai/agents/testing');
const { z } = require('zod');

async function main() {
  const [db, traceId] = process.argv.slice(2);
  const refunds = [];
  const refund = tool({
    name: 'process_refund',
    description: 'Refund an order.',
    parameters: z.object({ order_id: z.string(), amount: z.number() }),
    execute: ({ order_id, amount }) => {
      refunds.push(amount);
      return `Refunded $${amount} on ${order_id}`;
    },
  });
  const model = new ScriptedModel([
    [functionCall('process_refund', { order_id: 'A-1', amount: 79.99 }, { callId: 'call_1' })],
    [functionCall('process_refund', { order_id: 'A-2', amount: 150 }, { callId: 'call_2' })],
    [assistantMessage('One refund done, one needs a manager.')],
  ]);
  const guard = await createGuard({ policies: 'policy.yaml', store: `sqlite:${db}` });
  const agent = governAgent(new Agent({ name: 'Smoke Agent', model, tools: [refund] }), {
    guard,
    identity: { tags: ['smoke'], tier: 'basic' },
    actions: { process_refund: 'write:refund' },
    traceId,
  });
  const result = await new Runner({ tracingDisabled: true }).run(agent, 'Refund both orders.');
  await guard.close();

  const store = await openStore(`sqlite:${db}`);
  const { events } = await store.query({ traceId, order: 'asc' });
  await store.close();
  console.log(
    JSON.stringify({
      format: 'cjs',
      finalOutput: result.finalOutput,
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
