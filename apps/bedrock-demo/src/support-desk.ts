import type { ActionGroupsHandlers, IdentityInput } from '@meshguard/bedrock';
import {
  type BedrockScriptStep,
  bedrockChunk,
  bedrockCollaboratorTrace,
  bedrockFunctionInput,
  bedrockReturnControl,
} from '@meshguard/bedrock/testing';

/** The supervisor agent (the one invoked): tagged for examples/policies/bedrock-support.yaml. */
export const IDENTITY: IdentityInput = {
  name: 'Support Agent',
  tags: ['bedrock', 'support'],
  tier: 'verified',
};

/** The refunds desk: refunds over $100 wait for a refund manager (examples/policies/refund-approvals.yaml). */
export const REFUNDS_DESK: IdentityInput = {
  name: 'Refunds Desk',
  tags: ['refunds-desk'],
  tier: 'verified',
};

/** Collaborators by their Bedrock name: the billing one acts as "Billing Specialist" (so `handoff:Billing Specialist`). */
export const IDENTITIES: Record<string, IdentityInput> = {
  BillingSpecialist: { name: 'Billing Specialist', tags: ['bedrock', 'billing'], tier: 'verified' },
};

/** What a live agent needs: return-of-control action groups with these names and functions. */
const ACTION_GROUPS = {
  support: 'CustomerSupport',
  billing: 'Billing',
} as const;

let refs = 0;

/** The seed's tools, mapped onto the policy's actions (the same names as on every other platform). */
export function supportActionGroups(): ActionGroupsHandlers {
  return {
    [ACTION_GROUPS.support]: {
      functions: {
        lookup_customer: {
          action: 'read:customer_data',
          handler: ({ email }) => `Customer found: John Doe (${email}), ID: CUST-001, Gold tier`,
        },
        get_order_details: {
          action: 'read:order_data',
          handler: ({ order_id }) => `Order ${order_id}: Wireless Headphones, $79.99, delivered 2024-01-15`,
        },
        process_refund: {
          action: 'write:refund',
          handler: ({ order_id, amount }) =>
            `Refund of $${Number(amount).toFixed(2)} processed for order ${order_id}. Ref: REF-${String(++refs).padStart(4, '0')}`,
        },
      },
    },
    // The billing collaborator's action group: its calls come back with `collaboratorName`.
    [ACTION_GROUPS.billing]: {
      functions: {
        get_invoice: {
          action: 'read:order_data',
          handler: ({ invoice_id }) =>
            `Invoice ${invoice_id}: $79.99 charged twice on 2024-01-15; the second charge is a pending authorisation that drops off within 5 days`,
        },
      },
    },
  };
}

/** The customer's side of the story, one turn each. */
export const STORY = [
  'Can you look up the customer with email john@example.com?',
  "What's the status of order ORD-2024-001?",
  'I need a refund of $79.99 for order ORD-2024-001, the product was defective.',
  'Please also refund $150 for order ORD-2024-002, same problem.',
  'And why was I charged twice on invoice INV-2024-7?',
];

/** The customer's request to the refunds desk: over $100, so it waits for a manager. */
export const APPROVAL_REQUEST = 'Please refund $150 for order ORD-2024-002, it arrived broken.';

/** The text of the last action result the agent got (what the offline model relays). */
const answer = (request: { results: Array<{ body?: string }> }) => request.results.at(-1)?.body ?? '';

/** How the offline model words a result: it relays a refusal honestly. */
const reply = (ok: (result: string) => string) => (request: { results: Array<{ body?: string }> }) => {
  const result = answer(request);
  return [
    bedrockChunk(
      result.startsWith('Blocked by policy: ')
        ? `I'm sorry, I can't do that myself: ${result.replace('Blocked by policy: ', '')}. I'll escalate this to someone who can.`
        : ok(result),
    ),
  ];
};

const support = (fn: string, parameters: Record<string, string | number>) =>
  bedrockReturnControl([bedrockFunctionInput(ACTION_GROUPS.support, fn, parameters)]);

/**
 * The offline agent: what a Bedrock supervisor with a billing collaborator would stream for the
 * story, request by request (each turn: a return of control, then the answer).
 */
export function offlineScript(): BedrockScriptStep[] {
  return [
    [support('lookup_customer', { email: 'john@example.com' })],
    reply((r) => `I found the customer: ${r.replace('Customer found: ', '')}.`),
    [support('get_order_details', { order_id: 'ORD-2024-001' })],
    reply((r) => `${r}.`),
    [support('process_refund', { order_id: 'ORD-2024-001', amount: 79.99, reason: 'Product was defective' })],
    reply((r) => `Done: ${r}`),
    [support('process_refund', { order_id: 'ORD-2024-002', amount: 150, reason: 'Product was defective' })],
    reply((r) => r),
    [
      // The supervisor hands the question to its billing collaborator inside AWS (seen in the trace)...
      bedrockCollaboratorTrace('BillingSpecialist', 'The customer was charged twice on invoice INV-2024-7'),
      // ...whose own action group returns control through the supervisor's stream.
      bedrockReturnControl([
        bedrockFunctionInput(
          ACTION_GROUPS.billing,
          'get_invoice',
          { invoice_id: 'INV-2024-7' },
          { collaboratorName: 'BillingSpecialist' },
        ),
      ]),
    ],
    reply((r) => `Our billing specialist checked: ${r}.`),
  ];
}

/**
 * The offline refunds desk of the approval scene: it returns control for the $150 refund (the
 * turn parks there), and once the resumed turn sends the approved result, relays it.
 */
export function offlineApprovalScene(): BedrockScriptStep[] {
  return [
    [support('process_refund', { order_id: 'ORD-2024-002', amount: 150, reason: 'Arrived broken' })],
    reply((r) => `Your manager approved it. ${r}`),
  ];
}
