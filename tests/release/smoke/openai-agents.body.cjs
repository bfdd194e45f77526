// The openai-agents smoke run, given the modules as the entry point loaded them (import or
// require): two refund calls in the real Runner with a scripted model, 79.99 allowed and 150
// denied, then the decisions read back from the audit store.
const report = require('./report.cjs');

module.exports = async function smoke({ core, adapter, store, sdk, testing, zod }, format) {
  const [db, traceId] = process.argv.slice(2);
  const refunds = [];
  const refund = sdk.tool({
    name: 'process_refund',
    description: 'Refund an order.',
    parameters: zod.z.object({ order_id: zod.z.string(), amount: zod.z.number() }),
    execute: ({ order_id, amount }) => {
      refunds.push(amount);
      return `Refunded $${amount} on ${order_id}`;
    },
  });
  const model = new testing.ScriptedModel([
    [testing.functionCall('process_refund', { order_id: 'A-1', amount: 79.99 }, { callId: 'call_1' })],
    [testing.functionCall('process_refund', { order_id: 'A-2', amount: 150 }, { callId: 'call_2' })],
    [testing.assistantMessage('One refund done, one needs a manager.')],
  ]);
  const guard = await core.createGuard({ policies: 'policy.yaml', store: `sqlite:${db}` });
  const agent = adapter.governAgent(new sdk.Agent({ name: 'Smoke Agent', model, tools: [refund] }), {
    guard,
    identity: { tags: ['smoke'], tier: 'basic' },
    actions: { process_refund: 'write:refund' },
    traceId,
  });
  const result = await new sdk.Runner({ tracingDisabled: true }).run(agent, 'Refund both orders.');
  await guard.close();
  await report({ openStore: store.openStore, db, traceId, format, finalOutput: result.finalOutput, refunds });
};
