import { BedrockAgentRuntimeClient } from '@aws-sdk/client-bedrock-agent-runtime';
import {
  type AuditEvent,
  type AuditStore,
  createEmbeddedGuard,
  createMemoryStore,
  createPolicyEngine,
  type Guard,
  type MemoryStore,
  parsePolicies,
} from '@meshguard/core';
import { createTestGuard } from '@meshguard/core/testing';
import { afterEach } from 'vitest';
import type { ActionGroupsHandlers } from './action-group-handlers';
import { type BedrockEmulator, type BedrockScriptStep, startBedrockEmulator } from './bedrock-emulator';
import { createGovernedAgent, type GovernedAgentOptions } from './governed-agent';

/** The support policy the tests share (the seed's rules, with Bedrock's collaborator names). */
const SUPPORT_POLICY = `
name: bedrock-support
version: "1.0"
appliesTo: { tags: [support] }
rules:
  - effect: allow
    actions: ["read:*"]
  - effect: allow
    actions: ["write:refund"]
    conditions: { amount_max: 100 }
  - id: large-refunds
    effect: deny
    actions: ["write:refund"]
    conditions: { amount_min: 100.01 }
    reason: Refunds over $100 require manager approval
  - effect: allow
    actions: ["write:email"]
  - effect: require_approval
    actions: ["write:account_credit"]
    reason: Account credits need a manager
  - effect: allow
    actions: ["handoff:BillingSpecialist"]
defaultEffect: deny
`;

export const SUPPORT_IDENTITY = {
  id: 'support-agent',
  name: 'Support Agent',
  tags: ['support'],
  tier: 'verified' as const,
};

/** A guard over the support policy (plus extra policies), in memory, on a Monday at 10:00 UTC. */
export function supportGuard(extra: string[] = []) {
  return createTestGuard({ policy: [SUPPORT_POLICY, ...extra], framework: 'test' });
}

/** The support policy's text (for guards a child process builds). */
export const SUPPORT_POLICY_TEXT = SUPPORT_POLICY;

/** A guard over the support policy whose store keeps no approval requests (a store of before). */
export function guardWithoutApprovals(): Guard {
  const {
    createApproval: _create,
    answerApproval: _answer,
    ...trailOnly
  } = createMemoryStore() as MemoryStore & Record<string, unknown>;
  return createEmbeddedGuard({
    engine: createPolicyEngine(parsePolicies(SUPPORT_POLICY)),
    store: trailOnly as unknown as AuditStore,
  });
}

/** The `Accounts` action group: `credit_account` (policy: require_approval), counting what it credited. */
export function creditGroups(credited: unknown[]): ActionGroupsHandlers {
  return {
    Accounts: {
      functions: {
        credit_account: {
          action: 'write:account_credit',
          handler: (args: Record<string, unknown>) => {
            credited.push(args);
            return 'Credited $25.00';
          },
        },
      },
    },
  };
}

/** The real client, pointed at the emulator (fake static credentials, no retries). */
export function emulatorClient(emulator: BedrockEmulator): BedrockAgentRuntimeClient {
  return new BedrockAgentRuntimeClient(emulator.clientConfig);
}

/** Starts emulators for a test file, each closed after its test. */
export function useEmulator(): (script: BedrockScriptStep[]) => Promise<BedrockEmulator> {
  const started: BedrockEmulator[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((e) => e.close()));
  });
  return async (script) => {
    const emulator = await startBedrockEmulator({ script });
    started.push(emulator);
    return emulator;
  };
}

export const AGENT_ID = 'SUPPORT001';
const ALIAS_ID = 'LIVE001';

/** The support agent, governed, talking to the emulator (the support action groups unless others are given). */
export function supportAgent(
  emulator: BedrockEmulator,
  guard: Guard,
  options: Partial<Omit<GovernedAgentOptions, 'client' | 'guard'>> = {},
) {
  return createGovernedAgent({
    client: emulatorClient(emulator),
    agentId: AGENT_ID,
    agentAliasId: ALIAS_ID,
    guard,
    identity: SUPPORT_IDENTITY,
    actionGroups: supportActionGroups().actionGroups,
    ...options,
  });
}

/** The seed's tools as one action group, recording which handlers ran. */
export function supportActionGroups(): { ran: string[]; actionGroups: ActionGroupsHandlers } {
  const ran: string[] = [];
  const actionGroups: ActionGroupsHandlers = {
    CustomerSupport: {
      functions: {
        lookup_customer: {
          action: 'read:customer_data',
          handler: ({ email }) => {
            ran.push(`lookup_customer ${email}`);
            return `Customer found: John Doe (${email}), ID: CUST-001, Gold tier`;
          },
        },
        get_order_details: {
          action: 'read:order_data',
          handler: ({ order_id }) => {
            ran.push(`get_order_details ${order_id}`);
            return { order_id, item: 'Wireless Headphones', total: 79.99, status: 'delivered' };
          },
        },
        process_refund: {
          action: 'write:refund',
          handler: ({ order_id, amount }) => {
            ran.push(`process_refund ${order_id} ${amount}`);
            return `Refund of $${Number(amount).toFixed(2)} processed for order ${order_id}. Ref: REF-0001`;
          },
        },
      },
    },
  };
  return { ran, actionGroups };
}

/** The trail as short lines: `type agent action effect[/outcome][ via a>b]`. */
export function trail(events: AuditEvent[]): string[] {
  return events.map((e) =>
    [
      e.type,
      e.agent.name,
      e.action,
      e.outcome ? `${e.effect}/${e.outcome}` : e.effect,
      ...(e.delegation?.length ? [`via ${e.delegation.map((a) => a.name).join('>')}`] : []),
    ].join(' '),
  );
}
