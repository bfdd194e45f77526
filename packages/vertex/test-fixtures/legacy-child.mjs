// Run by legacy-sdk.test.ts in a process started with NODE_EXTRA_CA_CERTS: the legacy SDK reaches
// the TLS emulator with Node's own trust store, no dispatcher. Uses the built package (pnpm build).
import { VertexAI } from '@google-cloud/vertexai';
import { createGuard } from '@meshguard/core';
import { governFunctions, runGovernedChat } from '@meshguard/vertex';
import { fixedTokenAuthClient } from '@meshguard/vertex/testing';

const guard = await createGuard({ policies: process.env.POLICY, store: 'memory' });
const governed = governFunctions({
  guard,
  identity: { name: 'Customer Support Agent', tags: ['vertex', 'support'], tier: 'verified' },
  traceId: 'trace_child',
  functions: {
    get_order_details: {
      action: 'read:order_data',
      declaration: { description: 'Get an order.' },
      handler: ({ order_id }) => `Order ${order_id}: Wireless Headphones`,
    },
    process_refund: {
      action: 'write:refund',
      declaration: { description: 'Refund an order.' },
      handler: () => ({ status: 'refunded' }),
    },
  },
});
const vertex = new VertexAI({
  project: 'meshguard-test',
  location: 'us-central1',
  apiEndpoint: process.env.EMULATOR_ENDPOINT,
  googleAuthOptions: { authClient: fixedTokenAuthClient() },
});
const chat = vertex.getGenerativeModel({ model: 'gemini-2.5-flash', tools: [governed.tool] }).startChat({});
const { text } = await runGovernedChat({
  chat,
  message: 'Order ORD-1, and refund $150 on ORD-2',
  functions: governed,
});
const events = (await guard.query({ traceId: 'trace_child', order: 'asc' })).map((e) =>
  [e.type, e.action, e.outcome ? `${e.effect}/${e.outcome}` : e.effect].join(' '),
);
await guard.close();
process.stdout.write(JSON.stringify({ text, events }));
