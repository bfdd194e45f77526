import { Agent, type Model, tool } from '@openai/agents';
import { assistantMessage, functionCall, modelResponder, ScriptedModel } from '@openai/agents/testing';
import { z } from 'zod';

/** The seed's tools, mapped onto the policy's actions. */
export const ACTIONS = {
  lookup_customer: 'read:customer_data',
  get_order_details: 'read:order_data',
  process_refund: 'write:refund',
  send_email: 'write:email',
  escalate_to_human: 'write:escalation',
};

/** Who is who: support agents are tagged for the seed policy, the escalation tier for its own. */
export const IDENTITIES = {
  'Customer Support Agent': { tags: ['openai', 'support'], tier: 'verified' as const },
  'Tier 1 Support': { tags: ['openai', 'support'], tier: 'basic' as const },
  'Billing Specialist': { tags: ['openai', 'support'], tier: 'verified' as const },
  'Escalation Manager': { tags: ['escalation'], tier: 'trusted' as const },
  'Sales Desk': { tags: ['sales'], tier: 'basic' as const },
  'Refunds Desk': { tags: ['refunds-desk'], tier: 'verified' as const },
};

let refs = 0;

const lookupCustomer = tool({
  name: 'lookup_customer',
  description: 'Look up a customer by email address.',
  parameters: z.object({ email: z.string() }),
  execute: ({ email }) => `Customer found: John Doe (${email}), ID: CUST-001, Gold tier`,
});

const getOrderDetails = tool({
  name: 'get_order_details',
  description: 'Get details for a specific order.',
  parameters: z.object({ order_id: z.string() }),
  execute: ({ order_id }) => `Order ${order_id}: Wireless Headphones, $79.99, delivered 2024-01-15`,
});

const processRefund = tool({
  name: 'process_refund',
  description: 'Process a refund for an order. Governed by MeshGuard policy.',
  parameters: z.object({ order_id: z.string(), amount: z.number(), reason: z.string() }),
  execute: ({ order_id, amount }) =>
    `Refund of $${amount.toFixed(2)} processed for order ${order_id}. Ref: REF-${String(++refs).padStart(4, '0')}`,
});

const sendEmail = tool({
  name: 'send_email',
  description: 'Send an email to a customer.',
  parameters: z.object({ to: z.string(), subject: z.string(), body: z.string() }),
  execute: ({ to, subject }) => `Email sent to ${to}: ${subject}`,
});

const escalateToHuman = tool({
  name: 'escalate_to_human',
  description: 'Escalate to human support.',
  parameters: z.object({ ticket_id: z.string(), reason: z.string() }),
  execute: ({ ticket_id }) => `Ticket ${ticket_id} escalated to a human`,
});

/** The text of the newest tool result in a model request (what the model just learned). */
function lastToolResult(input: unknown): string {
  const items = (Array.isArray(input) ? input : []) as Array<{ type?: string; output?: unknown }>;
  const out = items.filter((i) => i.type === 'function_call_result').at(-1)?.output as
    | string
    | { text?: string }
    | undefined;
  return typeof out === 'string' ? out : (out?.text ?? '');
}

/** What the offline model says after a tool result: it relays a block honestly. */
function reply(ok: (result: string) => string) {
  return modelResponder((call) => {
    const result = lastToolResult(call.request.input);
    return [
      assistantMessage(
        result.startsWith('Blocked by policy')
          ? `I'm sorry, I can't do that myself: ${result.replace('Blocked by policy: ', '')}. I'll escalate this to someone who can.`
          : ok(result),
      ),
    ];
  });
}

/** The offline model: one script for the whole story, turn by turn (the real Runner drives it). */
export function scriptedStory(): ScriptedModel {
  return new ScriptedModel([
    // Full example, turn 1-4: the Customer Support Agent.
    [functionCall('lookup_customer', { email: 'john@example.com' }, { callId: 'call_lookup' })],
    reply((r) => `I found the customer: ${r.replace('Customer found: ', '')}.`),
    [functionCall('get_order_details', { order_id: 'ORD-2024-001' }, { callId: 'call_order' })],
    reply((r) => `${r}.`),
    [
      functionCall(
        'process_refund',
        { order_id: 'ORD-2024-001', amount: 79.99, reason: 'Product was defective' },
        { callId: 'call_refund_1' },
      ),
    ],
    reply((r) => `Done: ${r}`),
    [
      functionCall(
        'process_refund',
        { order_id: 'ORD-2024-002', amount: 150, reason: 'Product was defective' },
        { callId: 'call_refund_2' },
      ),
    ],
    reply((r) => r),
    // The tiered team: Tier 1 hands the $150 refund to billing, billing to escalation.
    [functionCall('transfer_to_Billing_Specialist', {}, { callId: 'call_handoff_billing' })],
    [
      functionCall(
        'process_refund',
        { order_id: '12345', amount: 150, reason: 'Item arrived broken' },
        { callId: 'call_refund_3' },
      ),
    ],
    [functionCall('transfer_to_Escalation_Manager', {}, { callId: 'call_handoff_escalation' })],
    [
      functionCall(
        'process_refund',
        { order_id: '12345', amount: 150, reason: 'Item arrived broken' },
        { callId: 'call_refund_4' },
      ),
    ],
    reply((r) => `I've processed your refund as the escalation manager. ${r}`),
  ]);
}

/** The seed's Full Example agent, and the tiered team (Tier 1 -> Billing -> Escalation). */
export function supportAgents(model: Model | string) {
  const supportAgent = new Agent({
    name: 'Customer Support Agent',
    instructions: `You are a helpful customer support agent for an e-commerce company.
Your capabilities are governed by enterprise policy. If any action is blocked by policy,
acknowledge the limitation clearly, explain that you need to escalate, and offer alternatives.`,
    model,
    tools: [lookupCustomer, getOrderDetails, processRefund, sendEmail],
  });
  const escalation = new Agent({
    name: 'Escalation Manager',
    instructions:
      'You handle escalated issues. You can process larger refunds and escalate to human support.',
    model,
    tools: [lookupCustomer, processRefund, escalateToHuman],
  });
  const billing = new Agent({
    name: 'Billing Specialist',
    instructions: `You handle billing and refund requests. You can process refunds up to $100.
For larger amounts, or when a refund is blocked, hand off to the Escalation Manager.`,
    model,
    tools: [lookupCustomer, processRefund],
    handoffs: [escalation],
  });
  const sales = new Agent({ name: 'Sales Desk', instructions: 'You sell upgrades.', model });
  const tier1 = new Agent({
    name: 'Tier 1 Support',
    instructions: `You handle initial customer inquiries. You can look up customer information.
For refunds, hand off to the Billing Specialist. For complex issues, hand off to the Escalation Manager.`,
    model,
    tools: [lookupCustomer],
    handoffs: [billing, escalation, sales],
  });
  return { supportAgent, tier1 };
}

/** The offline model of the approval scene: it asks for the $150 refund, then relays the result. */
export function scriptedApprovalScene(): ScriptedModel {
  return new ScriptedModel([
    [
      functionCall(
        'process_refund',
        { order_id: 'ORD-2024-002', amount: 150, reason: 'Arrived broken' },
        { callId: 'call_refund_approved' },
      ),
    ],
    reply((r) => `Your manager approved it. ${r}`),
  ]);
}

/** The refunds desk: refunds over $100 wait for a refund manager (refund-approvals.yaml). */
export function refundsDesk(model: Model | string): Agent {
  return new Agent({
    name: 'Refunds Desk',
    instructions:
      'You process refunds. Large refunds wait for a manager; say so, and finish them once approved.',
    model,
    tools: [getOrderDetails, processRefund],
  });
}
