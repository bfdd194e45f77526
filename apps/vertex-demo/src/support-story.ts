import type { FunctionDeclaration } from '@google/genai';
import type { GovernedFunction } from '@meshguard/vertex';
import {
  functionCallPart,
  searchGrounding,
  textPart,
  type VertexRequest,
  type VertexTurn,
} from '@meshguard/vertex/testing';

/** Who the Gemini agent is to policy: tagged for examples/policies/vertex-support.yaml. */
export const IDENTITY = {
  name: 'Customer Support Agent',
  tags: ['vertex', 'support'],
  tier: 'verified' as const,
};

/** The refunds desk: refunds over $100 wait for a refund manager (examples/policies/refund-approvals.yaml). */
export const REFUNDS_DESK = {
  name: 'Refunds Desk',
  tags: ['refunds-desk'],
  tier: 'verified' as const,
};

export const INSTRUCTIONS = `You are a helpful customer support agent for an e-commerce company.
Your capabilities are governed by enterprise policy. If any action is blocked by policy,
acknowledge the limitation clearly, explain that you need to escalate, and offer alternatives.`;

/** The seed story's requests, in order: lookup, order, two refunds. */
export const SUPPORT_TURNS = [
  'Can you look up the customer with email john@example.com?',
  "What's the status of order ORD-2024-001?",
  'I need a refund of $79.99 for order ORD-2024-001, the product was defective.',
  'Please also refund $150 for order ORD-2024-002, same problem.',
];
/** The customer's request to the refunds desk: over $100, so it waits for a manager. */
export const APPROVAL_REQUEST = 'Please refund $150 for order ORD-2024-002, it arrived broken.';
export const DESK_INSTRUCTIONS =
  'You process refunds. Large refunds wait for a manager; say so, and finish them once approved.';
/** Answered with Google Search (a built-in tool Google runs itself). */
export const SEARCH_TURN = 'What is the usual return window for wireless headphones in the US?';

let refs = 0;

const object = (properties: Record<string, { type: string; description?: string }>, required: string[]) => ({
  type: 'object',
  properties,
  required,
});

/** The seed's functions, mapped onto the policy's actions. */
export const FUNCTIONS: Record<string, GovernedFunction<FunctionDeclaration>> = {
  lookup_customer: {
    action: 'read:customer_data',
    declaration: {
      description: 'Look up a customer by email address.',
      parametersJsonSchema: object({ email: { type: 'string' } }, ['email']),
    },
    handler: ({ email }) => ({ customer: `John Doe (${String(email)})`, id: 'CUST-001', tier: 'Gold' }),
  },
  get_order_details: {
    action: 'read:order_data',
    declaration: {
      description: 'Get details for a specific order.',
      parametersJsonSchema: object({ order_id: { type: 'string' } }, ['order_id']),
    },
    handler: ({ order_id }) => `Order ${String(order_id)}: Wireless Headphones, $79.99, delivered 2024-01-15`,
  },
  process_refund: {
    action: 'write:refund',
    declaration: {
      description: 'Process a refund for an order. Governed by MeshGuard policy.',
      parametersJsonSchema: object(
        {
          order_id: { type: 'string' },
          amount: { type: 'number', description: 'US dollars' },
          reason: { type: 'string' },
        },
        ['order_id', 'amount'],
      ),
    },
    handler: ({ order_id, amount }) => ({
      status: 'refunded',
      order_id,
      amount,
      ref: `REF-${String(++refs).padStart(4, '0')}`,
    }),
  },
};

/** The function responses the model just received. */
function results(request: VertexRequest): Array<Record<string, unknown>> {
  const last = request.body.contents?.at(-1);
  return (last?.parts ?? []).flatMap((p) => {
    const r = p.functionResponse as { response?: Record<string, unknown> } | undefined;
    return r?.response ? [r.response] : [];
  });
}

/** What the offline model says after a function result: it relays a block honestly. */
function reply(ok: (result: Record<string, unknown>) => string): VertexTurn {
  return (request) => {
    const [result = {}] = results(request);
    const error = typeof result.error === 'string' ? result.error : undefined;
    return {
      parts: [
        textPart(
          error
            ? `I'm sorry, I can't do that myself: ${error.replace('Blocked by policy: ', '')}. I'll escalate this to someone who can.`
            : ok(result),
        ),
      ],
    };
  };
}

/** The offline model: the emulator's script for the whole story (ids and a thought signature as Gemini sends them). */
export function scriptedStory(): VertexTurn[] {
  return [
    {
      parts: [
        functionCallPart(
          'lookup_customer',
          { email: 'john@example.com' },
          { id: 'call_lookup', thoughtSignature: 'c2lnbmF0dXJlLTE=' },
        ),
      ],
    },
    reply((r) => `I found the customer: ${String(r.customer)}, ID ${String(r.id)}, ${String(r.tier)} tier.`),
    { parts: [functionCallPart('get_order_details', { order_id: 'ORD-2024-001' }, { id: 'call_order' })] },
    reply((r) => `${String(r.output)}.`),
    {
      parts: [
        functionCallPart(
          'process_refund',
          { order_id: 'ORD-2024-001', amount: 79.99, reason: 'Product was defective' },
          { id: 'call_refund_1' },
        ),
      ],
    },
    reply(
      (r) =>
        `Done: a refund of $${String(r.amount)} for order ${String(r.order_id)} is processed (ref ${String(r.ref)}).`,
    ),
    {
      parts: [
        functionCallPart(
          'process_refund',
          { order_id: 'ORD-2024-002', amount: 150, reason: 'Product was defective' },
          { id: 'call_refund_2' },
        ),
      ],
    },
    reply(() => 'Done.'),
    {
      parts: [
        textPart('Most US retailers accept returns of wireless headphones within 30 days of delivery.'),
      ],
      groundingMetadata: searchGrounding(
        ['wireless headphones return window US'],
        [
          { uri: 'https://www.consumer.ftc.gov/returns', title: 'Returns and refunds - FTC' },
          { uri: 'https://acme.example/returns', title: 'Returns - ACME' },
        ],
      ),
    },
  ];
}

/** The refunds desk's functions: what it needs of the seed's, nothing more. */
export const DESK_FUNCTIONS: Record<string, GovernedFunction<FunctionDeclaration>> = {
  get_order_details: FUNCTIONS.get_order_details!,
  process_refund: FUNCTIONS.process_refund!,
};

/**
 * The offline model of the approval scene: it calls for the $150 refund (the chat parks there),
 * and once the resumed chat sends the approved result, relays it.
 */
export function scriptedApprovalScene(): VertexTurn[] {
  return [
    {
      parts: [
        functionCallPart(
          'process_refund',
          { order_id: 'ORD-2024-002', amount: 150, reason: 'Arrived broken' },
          { id: 'call_refund_approved', thoughtSignature: 'c2lnbmF0dXJlLTI=' },
        ),
      ],
    },
    reply(
      (r) =>
        `Your manager approved it: a refund of $${Number(r.amount).toFixed(2)} for order ${String(r.order_id)} is processed (ref ${String(r.ref)}).`,
    ),
  ];
}
