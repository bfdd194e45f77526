// Test fixtures shared by this package's tests: the seed's customer support tools and policy.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  type AuditEvent,
  createEmbeddedGuard,
  createMemoryStore,
  createPolicyEngine,
  type LoadedPolicy,
  parsePolicies,
} from '@meshguard/core';
import { createTestGuard } from '@meshguard/core/testing';
import { tool } from '@openai/agents';
import { z } from 'zod';
import type { GovernanceOptions } from './governance-context';

const SEED_POLICY = readFileSync(
  fileURLToPath(new URL('../../../examples/policies/openai-support.yaml', import.meta.url)),
  'utf8',
);

/** The tool actions of the seed story. */
export const SUPPORT_ACTIONS = {
  lookup_customer: 'read:customer_data',
  get_order_details: 'read:order_data',
  process_refund: 'write:refund',
  send_email: 'write:email',
  escalate_to_human: 'write:escalation',
};

const SUPPORT_IDENTITY = { tags: ['openai', 'support'], tier: 'verified' as const };

/** Refunds over $50 wait for a human (`require_approval`). */
export const REFUND_APPROVAL_POLICY = `
name: refund-approvals
version: "1"
appliesTo:
  tags: [support]
rules:
  - id: refunds-over-50
    effect: require_approval
    actions: ["write:refund"]
    conditions:
      context:
        amount: { gt: 50 }
`;

/** What each tool really did, so tests can assert a denied tool never ran. */
export function supportTools() {
  const ran: string[] = [];
  const lookupCustomer = tool({
    name: 'lookup_customer',
    description: 'Look up a customer by email address.',
    parameters: z.object({ email: z.string() }),
    execute: ({ email }) => {
      ran.push(`lookup_customer ${email}`);
      return `Customer found: John Doe (${email}), ID: CUST-001, Gold tier`;
    },
  });
  const getOrderDetails = tool({
    name: 'get_order_details',
    description: 'Get details for a specific order.',
    parameters: z.object({ order_id: z.string() }),
    execute: ({ order_id }) => {
      ran.push(`get_order_details ${order_id}`);
      return `Order ${order_id}: Wireless Headphones, $79.99, delivered 2024-01-15`;
    },
  });
  const processRefund = tool({
    name: 'process_refund',
    description: 'Process a refund for an order.',
    parameters: z.object({ order_id: z.string(), amount: z.number(), reason: z.string() }),
    execute: ({ order_id, amount }) => {
      ran.push(`process_refund ${order_id} ${amount}`);
      return `Refund of $${amount.toFixed(2)} processed for order ${order_id}. Ref: REF-0001`;
    },
  });
  const sendEmail = tool({
    name: 'send_email',
    description: 'Send an email to a customer.',
    parameters: z.object({ to: z.string(), subject: z.string(), body: z.string() }),
    execute: ({ to, subject }) => {
      ran.push(`send_email ${to}`);
      return `Email sent to ${to}: ${subject}`;
    },
  });
  const escalateToHuman = tool({
    name: 'escalate_to_human',
    description: 'Escalate to human support.',
    parameters: z.object({ ticket_id: z.string(), reason: z.string() }),
    execute: ({ ticket_id }) => {
      ran.push(`escalate_to_human ${ticket_id}`);
      return `Ticket ${ticket_id} escalated`;
    },
  });
  return { ran, lookupCustomer, getOrderDetails, processRefund, sendEmail, escalateToHuman };
}

/** The seed policy and `extra`, loaded (for a guard over a real store). */
export function seedPolicies(extra: string[] = []): LoadedPolicy[] {
  return [SEED_POLICY, ...extra].flatMap((text) => parsePolicies(text));
}

/** A guard over the seed policy (plus extra policies), in memory, on a Monday at 10:00 UTC. */
export function seedGuard(extra: string[] = [], now = '2026-01-05T10:00:00Z') {
  return createTestGuard({ policy: [SEED_POLICY, ...extra], now, framework: 'test' });
}

/**
 * `seedGuard` over a store that keeps no approval requests (a custom `AuditStore`): a
 * `require_approval` decision carries no `approval`, and approvals are answered as before.
 */
export function seedGuardWithoutApprovals(extra: string[] = []) {
  const { guard: seeded, clock } = seedGuard(extra);
  const { createApproval: _create, answerApproval: _answer, ...store } = createMemoryStore();
  const guard = createEmbeddedGuard({
    engine: createPolicyEngine(seeded.engine.policies, { clock }),
    store,
    clock,
    framework: 'test',
  });
  return { guard, store, clock };
}

export function supportOptions(guard: GovernanceOptions['guard'], traceId: string): GovernanceOptions {
  return { guard, identity: SUPPORT_IDENTITY, actions: SUPPORT_ACTIONS, traceId };
}

/** The trail of one trace as short lines: `type agent action effect[/outcome]`. */
export function trail(events: AuditEvent[]): string[] {
  return events.map((e) =>
    [e.type, e.agent.name, e.action, e.outcome ? `${e.effect}/${e.outcome}` : e.effect].join(' '),
  );
}
