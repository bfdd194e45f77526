import { describe, expect, it } from 'vitest';
import type { ApprovalAnswer } from './bedrock-governance';
import { parameterObject } from './bedrock-payloads';
import {
  AGENT_ID,
  creditGroups,
  supportActionGroups,
  supportAgent,
  supportGuard,
  trail,
  useEmulator,
} from './support-fixtures';
import {
  bedrockChunk,
  bedrockFunctionInput,
  bedrockReturnControl,
  type ScriptFunctionInput,
} from './testing';

const startEmulator = useEmulator();

const relay = (request: { results: Array<{ body?: string }> }) => [
  bedrockChunk(`The action said: ${request.results.map((r) => r.body).join(' | ')}`),
];

const credit = () => [
  bedrockReturnControl([
    bedrockFunctionInput('Accounts', 'credit_account', { customer_id: 'CUST-001', amount: 25 }),
  ]),
];

describe('fails closed where the host or the service answers something unexpected', () => {
  it('runs nothing when onApprovalRequired answers something that is not { approve: boolean, by }', async () => {
    const garbage = [
      { approve: 'false', by: 'manager@acme.example' },
      { approve: 1, by: 'manager@acme.example' },
      { approve: true },
      undefined,
    ] as unknown as ApprovalAnswer[];
    const emulator = await startEmulator(garbage.flatMap(() => [credit(), relay]));
    const { guard } = supportGuard();
    const credited: unknown[] = [];
    const agent = supportAgent(emulator, guard, {
      actionGroups: creditGroups(credited),
      onApprovalRequired: () => garbage.shift()!,
    });
    const results = [];
    for (let i = 0; i < 4; i++) {
      results.push(await agent.invoke({ sessionId: 'session-garbage', inputText: 'Credit John $25' }));
    }
    expect(credited).toEqual([]);
    for (const result of results) {
      expect(result.decisions.map((d) => [d.decision.effect, d.outcome])).toEqual([
        ['require_approval', 'blocked'],
      ]);
      expect(result.text).toBe(
        'The action said: Blocked by policy: Account credits need a manager (rule bedrock-support#4) (approval failed: onApprovalRequired must answer { approve: boolean, by: string, message?: string })',
      );
      const events = await guard.query({ traceId: result.traceId, order: 'asc' });
      // The request nobody can answer now is withdrawn.
      expect(trail(events)).toEqual([
        'decision Support Agent write:account_credit require_approval',
        'approval_requested Support Agent write:account_credit require_approval',
        'approval_cancelled Support Agent write:account_credit deny',
        'outcome Support Agent write:account_credit require_approval/blocked',
      ]);
      expect(events[3]!.error).toBe(
        'onApprovalRequired must answer { approve: boolean, by: string, message?: string }',
      );
    }
    expect(emulator.problems).toEqual([]);
  });

  it('refuses the call, records why and goes on with the turn when onApprovalRequired throws', async () => {
    const emulator = await startEmulator([
      [
        bedrockReturnControl([
          bedrockFunctionInput('Accounts', 'credit_account', { customer_id: 'CUST-001', amount: 25 }),
          bedrockFunctionInput('CustomerSupport', 'lookup_customer', { email: 'john@example.com' }),
        ]),
      ],
      relay,
    ]);
    const { guard } = supportGuard();
    const credited: unknown[] = [];
    const agent = supportAgent(emulator, guard, {
      actionGroups: { ...supportActionGroups().actionGroups, ...creditGroups(credited) },
      onApprovalRequired: () => {
        throw new Error('approvals service unreachable');
      },
    });
    const result = await agent.invoke({ sessionId: 'session-approver-down', inputText: 'Credit John' });
    expect(credited).toEqual([]);
    expect(result.text).toBe(
      'The action said: Blocked by policy: Account credits need a manager (rule bedrock-support#4) (approval failed: approvals service unreachable) | Customer found: John Doe (john@example.com), ID: CUST-001, Gold tier',
    );
    expect(emulator.problems).toEqual([]);
    const events = await guard.query({ traceId: result.traceId, order: 'asc' });
    expect(trail(events)).toEqual([
      'decision Support Agent write:account_credit require_approval',
      'approval_requested Support Agent write:account_credit require_approval',
      'approval_cancelled Support Agent write:account_credit deny',
      'outcome Support Agent write:account_credit require_approval/blocked',
      'decision Support Agent read:customer_data allow',
      'outcome Support Agent read:customer_data allow/success',
    ]);
    expect(events[3]!.error).toBe('approvals service unreachable');
    expect(events[2]!.reason).toContain('the approver failed: approvals service unreachable');
  });

  it('records a decision for an input of an invocation type it does not know, and refuses it', async () => {
    const future = bedrockFunctionInput(
      'CustomerSupport',
      'lookup_customer',
      { email: 'john@example.com' },
      { invocationType: 'USER_CONFIRMATION_AND_SOMETHING_NEW' as ScriptFunctionInput['invocationType'] },
    );
    const emulator = await startEmulator([[bedrockReturnControl([future])], relay]);
    const { guard } = supportGuard();
    const { ran, actionGroups } = supportActionGroups();
    const agent = supportAgent(emulator, guard, { actionGroups });
    const result = await agent.invoke({ sessionId: 'session-future', inputText: 'Who is John?' });
    expect(ran).toEqual([]);
    expect(result.decisions.map((d) => [d.call.action, d.outcome, d.response])).toEqual([
      [
        'read:customer_data',
        'blocked',
        'MeshGuard cannot answer an action of invocation type USER_CONFIRMATION_AND_SOMETHING_NEW',
      ],
    ]);
    const events = await guard.query({ traceId: result.traceId, order: 'asc' });
    expect(trail(events)).toEqual([
      'decision Support Agent read:customer_data allow',
      'outcome Support Agent read:customer_data allow/blocked',
    ]);
    expect(events[1]!.reason).toBe(
      'MeshGuard cannot answer an action of invocation type USER_CONFIRMATION_AND_SOMETHING_NEW',
    );
    expect(emulator.requests[1]!.results[0]).toMatchObject({
      function: 'lookup_customer',
      agentId: AGENT_ID,
      confirmationState: 'DENY',
      responseState: 'REPROMPT',
    });
  });

  it('refuses (and records) a call whose check context cannot be built, and the turn goes on', async () => {
    const emulator = await startEmulator([
      [
        bedrockReturnControl([
          bedrockFunctionInput('CustomerSupport', 'process_refund', { order_id: 'ORD-2024-001' }),
          bedrockFunctionInput('CustomerSupport', 'lookup_customer', { email: 'john@example.com' }),
        ]),
      ],
      relay,
    ]);
    const { guard } = supportGuard();
    const { ran, actionGroups } = supportActionGroups();
    const refund = actionGroups.CustomerSupport!.functions!.process_refund as {
      handler: (args: Record<string, unknown>) => unknown;
    };
    const agent = supportAgent(emulator, guard, {
      actionGroups: {
        CustomerSupport: {
          functions: {
            ...actionGroups.CustomerSupport!.functions,
            process_refund: {
              action: 'write:refund',
              handler: refund.handler,
              // A host mapping that does not expect a missing amount.
              context: (args) => ({ amount: (args.amount as number).toFixed(2) }),
            },
          },
        },
      },
    });
    const result = await agent.invoke({
      sessionId: 'session-bad-context',
      inputText: 'Refund ORD-2024-001',
      traceId: 'trace_bad_context',
    });
    expect(ran).toEqual(['lookup_customer john@example.com']);
    expect(result.decisions.map((d) => [d.call.action, d.decision.effect, d.outcome])).toEqual([
      ['write:refund', 'deny', 'blocked'],
      ['read:customer_data', 'allow', 'success'],
    ]);
    expect(result.decisions[0]!.response).toMatch(
      /^Blocked by policy: the check's context could not be built, so the action is denied: .*toFixed/,
    );
    expect(emulator.problems).toEqual([]);
    const events = await guard.query({ traceId: 'trace_bad_context', order: 'asc' });
    expect(trail(events)).toEqual([
      'outcome Support Agent write:refund deny/blocked',
      'decision Support Agent read:customer_data allow',
      'outcome Support Agent read:customer_data allow/success',
    ]);
    expect(events[0]!.error).toMatch(/the check's context could not be built/);
  });

  it('never takes an inherited Object property for a handler (a function named toString)', async () => {
    const emulator = await startEmulator([
      [bedrockReturnControl([bedrockFunctionInput('CustomerSupport', 'toString', {})])],
      relay,
    ]);
    const { guard } = supportGuard([
      `
name: open-support
version: "1.0"
appliesTo: { tags: [support] }
rules:
  - effect: allow
    actions: ["tool:*"]
`,
    ]);
    const { actionGroups } = supportActionGroups();
    const agent = supportAgent(emulator, guard, { actionGroups });
    const result = await agent.invoke({ sessionId: 'session-proto', inputText: 'Hi' });
    expect(result.decisions.map((d) => [d.call.action, d.decision.effect, d.outcome, d.response])).toEqual([
      [
        'tool:CustomerSupport/toString',
        'allow',
        'blocked',
        'No handler for tool:CustomerSupport/toString in this application',
      ],
    ]);
  });

  it('keeps a parameter named __proto__ as a plain value, never as the arguments prototype', () => {
    const args = parameterObject([
      { name: '__proto__', type: 'object', value: '{"amount": 50}' },
      { name: 'order_id', type: 'string', value: 'ORD-1' },
    ]);
    expect(Object.getPrototypeOf(args)).toBe(Object.prototype);
    expect(args.amount).toBeUndefined();
    expect(Object.keys(args)).toEqual(['__proto__', 'order_id']);
  });
});
