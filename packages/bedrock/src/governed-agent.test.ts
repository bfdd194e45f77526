import { type AuditEvent, type Guard, MeshGuardError } from '@meshguard/core';
import { describe, expect, it } from 'vitest';
import type { GovernedAgentOptions } from './governed-agent';
import {
  AGENT_ID,
  creditGroups,
  guardWithoutApprovals,
  supportActionGroups,
  supportAgent,
  supportGuard,
  trail,
  useEmulator,
} from './support-fixtures';
import {
  type BedrockScriptStep,
  bedrockApiInput,
  bedrockChunk,
  bedrockException,
  bedrockFunctionInput,
  bedrockReturnControl,
} from './testing';

const startEmulator = useEmulator();

/** An emulator playing `script`, and the support agent governed against it (options override its own). */
async function setup(script: BedrockScriptStep[], options: Partial<GovernedAgentOptions> = {}) {
  const emulator = await startEmulator(script);
  const { guard } = supportGuard();
  const { ran, actionGroups } = supportActionGroups();
  const agent = supportAgent(emulator, guard, { actionGroups, ...options });
  return { emulator, guard, ran, agent };
}

/** The scripted model's reply: it relays what the action returned (a refusal included). */
const relay = (request: { results: Array<{ body?: string }> }) => [
  bedrockChunk(`The action said: ${request.results.map((r) => r.body).join(' | ')}`),
];

describe('createGovernedAgent against the real BedrockAgentRuntimeClient', () => {
  it('runs an allowed function call and refuses a denied one with the reason, which the agent relays', async () => {
    const { emulator, guard, ran, agent } = await setup([
      [
        bedrockReturnControl([
          bedrockFunctionInput('CustomerSupport', 'process_refund', {
            order_id: 'ORD-2024-001',
            amount: 79.99,
            reason: 'defective',
          }),
        ]),
      ],
      relay,
      [
        bedrockReturnControl([
          bedrockFunctionInput('CustomerSupport', 'process_refund', {
            order_id: 'ORD-2024-002',
            amount: 150,
            reason: 'damaged',
          }),
        ]),
      ],
      relay,
    ]);

    const small = await agent.invoke({ sessionId: 'session-1', inputText: 'Refund $79.99 on ORD-2024-001' });
    expect(small.text).toBe(
      'The action said: Refund of $79.99 processed for order ORD-2024-001. Ref: REF-0001',
    );
    expect(small.decisions.map((d) => [d.call.action, d.decision.effect, d.outcome])).toEqual([
      ['write:refund', 'allow', 'success'],
    ]);
    // Bedrock's typed strings arrive as numbers, so `amount_max` could judge them.
    expect(small.decisions[0]!.call.args).toEqual({
      order_id: 'ORD-2024-001',
      amount: 79.99,
      reason: 'defective',
    });

    const large = await agent.invoke({ sessionId: 'session-1', inputText: 'And $150 on ORD-2024-002' });
    expect(ran).toEqual(['process_refund ORD-2024-001 79.99']);
    expect(large.text).toBe(
      'The action said: Blocked by policy: Refunds over $100 require manager approval (rule large-refunds)',
    );
    expect(large.decisions[0]!.outcome).toBe('blocked');
    // What went over the wire: the same invocation id, the echoed fields, REPROMPT on the refusal.
    const answered = emulator.requests[3]!.body.sessionState as Record<string, unknown>;
    expect(answered.returnControlInvocationResults).toEqual([
      {
        functionResult: {
          actionGroup: 'CustomerSupport',
          function: 'process_refund',
          agentId: AGENT_ID,
          responseState: 'REPROMPT',
          responseBody: {
            TEXT: {
              body: 'Blocked by policy: Refunds over $100 require manager approval (rule large-refunds)',
            },
          },
        },
      },
    ]);
    expect(emulator.problems).toEqual([]);

    expect(trail(await guard.query({ traceId: small.traceId, order: 'asc' }))).toEqual([
      'decision Support Agent write:refund allow',
      'outcome Support Agent write:refund allow/success',
    ]);
    const denied = await guard.query({ traceId: large.traceId, order: 'asc' });
    expect(trail(denied)).toEqual([
      'decision Support Agent write:refund deny',
      'outcome Support Agent write:refund deny/blocked',
    ]);
    expect(denied[0]).toMatchObject({
      framework: 'bedrock',
      kind: 'tool',
      context: { order_id: 'ORD-2024-002', amount: 150 },
      reason: 'Refunds over $100 require manager approval (rule large-refunds)',
    });
    expect(small.traceId).not.toBe(large.traceId);
  });

  it('governs API-schema calls: METHOD and path in the action, parameters and body in the context', async () => {
    const refunds: unknown[] = [];
    const { emulator, guard, agent } = await setup(
      [
        [
          bedrockReturnControl([
            bedrockApiInput('Orders', 'get', '/orders/{orderId}', {
              parameters: { orderId: 'ORD-2024-001' },
            }),
            bedrockApiInput('Orders', 'POST', '/refunds', {
              body: { order_id: 'ORD-2024-002', amount: 150 },
            }),
            bedrockApiInput('Orders', 'DELETE', '/orders/{orderId}', {
              parameters: { orderId: 'ORD-2024-001' },
            }),
          ]),
        ],
        relay,
      ],
      {
        actionGroups: {
          Orders: {
            apis: {
              'GET /orders/{orderId}': {
                action: 'read:order_data',
                handler: ({ orderId }) => ({ orderId, status: 'delivered' }),
              },
              'POST /refunds': { action: 'write:refund', handler: (args) => refunds.push(args) },
              'DELETE /orders/{orderId}': () => 'deleted',
            },
          },
        },
      },
    );
    const result = await agent.invoke({ sessionId: 'session-api', inputText: 'Refund ORD-2024-002' });
    expect(refunds).toEqual([]);
    expect(result.decisions.map((d) => [d.call.action, d.decision.effect, d.outcome])).toEqual([
      ['read:order_data', 'allow', 'success'],
      ['write:refund', 'deny', 'blocked'],
      ['tool:Orders/DELETE /orders/{orderId}', 'deny', 'blocked'],
    ]);
    const sent = (emulator.requests[1]!.body.sessionState as { returnControlInvocationResults: unknown[] })
      .returnControlInvocationResults;
    expect(sent[0]).toEqual({
      apiResult: {
        actionGroup: 'Orders',
        apiPath: '/orders/{orderId}',
        httpMethod: 'GET',
        agentId: AGENT_ID,
        httpStatusCode: 200,
        responseBody: { 'application/json': { body: '{"orderId":"ORD-2024-001","status":"delivered"}' } },
      },
    });
    expect(sent[1]).toMatchObject({
      apiResult: {
        apiPath: '/refunds',
        httpMethod: 'POST',
        httpStatusCode: 403,
        responseState: 'REPROMPT',
        responseBody: {
          'application/json': {
            body: JSON.stringify({
              error: 'Blocked by policy: Refunds over $100 require manager approval (rule large-refunds)',
            }),
          },
        },
      },
    });
    expect(emulator.problems).toEqual([]);
    const events = await guard.query({ traceId: result.traceId, order: 'asc', type: 'decision' });
    expect(events.map((e) => [e.action, e.effect, e.context])).toEqual([
      ['read:order_data', 'allow', { orderId: 'ORD-2024-001' }],
      ['write:refund', 'deny', { order_id: 'ORD-2024-002', amount: 150 }],
      ['tool:Orders/DELETE /orders/{orderId}', 'deny', { orderId: 'ORD-2024-001' }],
    ]);
  });

  it('answers several inputs per round and several rounds per turn under one trace', async () => {
    const { emulator, guard, ran, agent } = await setup([
      [
        bedrockReturnControl(
          [
            bedrockFunctionInput('CustomerSupport', 'lookup_customer', { email: 'john@example.com' }),
            bedrockFunctionInput('CustomerSupport', 'get_order_details', { order_id: 'ORD-2024-001' }),
          ],
          'invocation-round-1',
        ),
      ],
      (request) => {
        expect(request.results.map((r) => r.function)).toEqual(['lookup_customer', 'get_order_details']);
        return [
          bedrockReturnControl(
            [
              bedrockFunctionInput('CustomerSupport', 'process_refund', {
                order_id: 'ORD-2024-001',
                amount: 79.99,
              }),
            ],
            'invocation-round-2',
          ),
        ];
      },
      [bedrockChunk('Found John, his order, '), bedrockChunk('and refunded $79.99.')],
    ]);
    const result = await agent.invoke({
      sessionId: 'session-multi',
      inputText: 'Refund John for ORD-2024-001',
    });
    expect(result.rounds).toBe(2);
    expect(result.text).toBe('Found John, his order, and refunded $79.99.');
    expect(ran).toEqual([
      'lookup_customer john@example.com',
      'get_order_details ORD-2024-001',
      'process_refund ORD-2024-001 79.99',
    ]);
    expect(result.decisions.map((d) => d.call.invocationId)).toEqual([
      'invocation-round-1',
      'invocation-round-1',
      'invocation-round-2',
    ]);
    expect(
      emulator.requests.map(
        (r) => (r.body.sessionState as { invocationId?: string } | undefined)?.invocationId,
      ),
    ).toEqual([undefined, 'invocation-round-1', 'invocation-round-2']);
    expect(emulator.problems).toEqual([]);
    expect(trail(await guard.query({ traceId: result.traceId, order: 'asc' }))).toEqual([
      'decision Support Agent read:customer_data allow',
      'outcome Support Agent read:customer_data allow/success',
      'decision Support Agent read:order_data allow',
      'outcome Support Agent read:order_data allow/success',
      'decision Support Agent write:refund allow',
      'outcome Support Agent write:refund allow/success',
    ]);
  });

  it('confirms or denies USER_CONFIRMATION inputs by policy', async () => {
    const { emulator, guard } = await setup([
      [
        bedrockReturnControl([
          bedrockFunctionInput(
            'Notifications',
            'send_email',
            { to: 'john@example.com', subject: 'Your refund' },
            { invocationType: 'USER_CONFIRMATION' },
          ),
          bedrockFunctionInput(
            'CustomerSupport',
            'process_refund',
            { order_id: 'ORD-2024-002', amount: 150 },
            { invocationType: 'USER_CONFIRMATION_AND_RESULT' },
          ),
          bedrockFunctionInput(
            'CustomerSupport',
            'process_refund',
            { order_id: 'ORD-2024-001', amount: 20 },
            { invocationType: 'USER_CONFIRMATION_AND_RESULT' },
          ),
        ]),
      ],
      relay,
    ]);
    const governed = supportAgent(emulator, guard, {
      actionGroups: {
        ...supportActionGroups().actionGroups,
        Notifications: {
          functions: { send_email: { action: 'write:email', handler: () => 'never run here' } },
        },
      },
    });
    const result = await governed.invoke({
      sessionId: 'session-confirm',
      inputText: 'Email John and refund',
    });
    expect(result.decisions.map((d) => [d.call.action, d.call.invocationType, d.outcome])).toEqual([
      ['write:email', 'USER_CONFIRMATION', 'confirmed'],
      ['write:refund', 'USER_CONFIRMATION_AND_RESULT', 'blocked'],
      ['write:refund', 'USER_CONFIRMATION_AND_RESULT', 'success'],
    ]);
    expect(
      emulator.requests[1]!.results.map((r) => [r.function, r.confirmationState, r.responseState]),
    ).toEqual([
      ['send_email', 'CONFIRM', undefined],
      ['process_refund', 'DENY', 'REPROMPT'],
      ['process_refund', 'CONFIRM', undefined],
    ]);
    expect(emulator.problems).toEqual([]);
    expect(trail(await guard.query({ traceId: result.traceId, order: 'asc' }))).toEqual([
      'decision Support Agent write:email allow',
      'decision Support Agent write:refund deny',
      'outcome Support Agent write:refund deny/blocked',
      'decision Support Agent write:refund allow',
      'outcome Support Agent write:refund allow/success',
    ]);
  });

  it('answers approval requests in process: the approver path records who, and exactly the approved call runs once', async () => {
    const credit = () => [
      bedrockReturnControl([
        bedrockFunctionInput('Accounts', 'credit_account', { customer_id: 'CUST-001', amount: 25 }),
      ]),
    ];
    const { emulator, guard } = await setup([credit(), relay, credit(), relay, credit(), relay]);
    const credited: unknown[] = [];
    const actionGroups = creditGroups(credited);
    const answers = [
      { approve: true, by: 'manager@acme.example' },
      { approve: false, by: 'manager@acme.example', message: 'Not this month.' },
    ];
    const asked: string[] = [];
    const withApprover = supportAgent(emulator, guard, {
      actionGroups,
      onApprovalRequired: (call, decision) => {
        asked.push(`${call.action} ${decision.reason} ${decision.approval?.status}`);
        return answers.shift()!;
      },
    });
    const approved = await withApprover.invoke({
      sessionId: 'session-approval',
      inputText: 'Credit John $25',
    });
    const rejected = await withApprover.invoke({ sessionId: 'session-approval', inputText: 'Again' });
    const withoutApprover = supportAgent(emulator, guard, { actionGroups });
    const unanswered = await withoutApprover.invoke({ sessionId: 'session-approval', inputText: 'Again' });

    expect(asked).toEqual([
      'write:account_credit Account credits need a manager (rule bedrock-support#4) pending',
      'write:account_credit Account credits need a manager (rule bedrock-support#4) pending',
    ]);
    expect(credited).toEqual([{ customer_id: 'CUST-001', amount: 25 }]);
    expect(approved.text).toBe('The action said: Credited $25.00');
    expect(approved.status).toBe('completed');
    expect(approved.decisions[0]).toMatchObject({
      outcome: 'success',
      approval: { approved: true, by: 'manager@acme.example' },
      decision: { effect: 'allow', approval: { status: 'approved', answeredBy: 'manager@acme.example' } },
    });
    expect(rejected.text).toBe('The action said: Not this month.');
    expect(unanswered.text).toBe(
      'The action said: Blocked by policy: Account credits need a manager (rule bedrock-support#4) (approval is required and no approver is configured)',
    );
    expect(emulator.problems).toEqual([]);
    const row = (e: AuditEvent) => [e.type, e.effect, e.outcome, e.actor];
    const granted = await guard.query({ traceId: approved.traceId, order: 'asc' });
    expect(granted.map(row)).toEqual([
      ['decision', 'require_approval', undefined, undefined],
      ['approval_requested', 'require_approval', undefined, undefined],
      ['approval_granted', 'allow', undefined, 'manager@acme.example'],
      ['decision', 'allow', undefined, undefined],
      ['outcome', 'allow', 'success', undefined],
    ]);
    const id = granted[1]!.approvalId!;
    expect(granted.map((e) => e.approvalId)).toEqual([id, id, id, id, undefined]);
    expect(granted[4]!.decisionId).toBe(granted[3]!.decisionId);
    expect((await guard.approvals!.get(id))?.usedAt).toBeDefined();
    expect((await guard.query({ traceId: rejected.traceId, order: 'asc' })).map(row)).toEqual([
      ['decision', 'require_approval', undefined, undefined],
      ['approval_requested', 'require_approval', undefined, undefined],
      ['approval_rejected', 'deny', undefined, 'manager@acme.example'],
      ['decision', 'deny', undefined, undefined],
      ['outcome', 'deny', 'blocked', undefined],
    ]);
    // Nobody could answer the third: its request is withdrawn and the call refused.
    expect((await guard.query({ traceId: unanswered.traceId, order: 'asc' })).map(row)).toEqual([
      ['decision', 'require_approval', undefined, undefined],
      ['approval_requested', 'require_approval', undefined, undefined],
      ['approval_cancelled', 'deny', undefined, 'meshguard'],
      ['outcome', 'require_approval', 'blocked', undefined],
    ]);
  });

  it('where the store keeps no approval requests, the answer is recorded as an outcome (as before)', async () => {
    const credit = () => [
      bedrockReturnControl([
        bedrockFunctionInput('Accounts', 'credit_account', { customer_id: 'CUST-001', amount: 25 }),
      ]),
    ];
    const emulator = await startEmulator([credit(), relay, credit(), relay]);
    const guard = guardWithoutApprovals();
    const credited: unknown[] = [];
    const answers = [
      { approve: true, by: 'manager@acme.example' },
      { approve: false, by: 'manager@acme.example', message: 'Not this month.' },
    ];
    const agent = supportAgent(emulator, guard, {
      actionGroups: creditGroups(credited),
      onApprovalRequired: () => answers.shift()!,
    });
    const approved = await agent.invoke({ sessionId: 'session-plain', inputText: 'Credit John $25' });
    const rejected = await agent.invoke({ sessionId: 'session-plain', inputText: 'Again' });
    expect(credited).toHaveLength(1);
    expect(rejected.text).toBe('The action said: Not this month.');
    const events = [
      ...(await guard.query({ traceId: approved.traceId, order: 'asc' })),
      ...(await guard.query({ traceId: rejected.traceId, order: 'asc' })),
    ];
    expect(events.map((e) => [e.type, e.effect, e.outcome, e.actor])).toEqual([
      ['decision', 'require_approval', undefined, undefined],
      ['outcome', 'require_approval', 'approved', 'manager@acme.example'],
      ['outcome', 'require_approval', 'success', undefined],
      ['decision', 'require_approval', undefined, undefined],
      ['outcome', 'require_approval', 'rejected', 'manager@acme.example'],
    ]);
  });

  it('fails closed: a check that throws refuses the call with the reason, and the turn goes on', async () => {
    const emulator = await startEmulator([
      [
        bedrockReturnControl([
          bedrockFunctionInput('CustomerSupport', 'lookup_customer', { email: 'john@example.com' }),
        ]),
      ],
      relay,
    ]);
    const { guard } = supportGuard();
    const { ran, actionGroups } = supportActionGroups();
    const broken: Guard = { ...guard, check: async () => Promise.reject(new Error('store offline')) };
    const agent = supportAgent(emulator, broken, { actionGroups });
    const result = await agent.invoke({
      sessionId: 'session-broken',
      inputText: 'Who is john@example.com?',
      traceId: 'trace_check_failed',
    });
    expect(result.text).toBe(
      'The action said: Blocked by policy: the policy check failed, so the action is denied: store offline',
    );
    expect(ran).toEqual([]);
    expect(result.decisions.map((d) => [d.call.action, d.decision.effect, d.outcome])).toEqual([
      ['read:customer_data', 'deny', 'blocked'],
    ]);
    // No decision could be recorded; the refusal is, with why.
    const events = await guard.query({ traceId: 'trace_check_failed', order: 'asc' });
    expect(trail(events)).toEqual(['outcome Support Agent read:customer_data deny/blocked']);
    expect(events[0]!.error).toBe('the policy check failed, so the action is denied: store offline');
  });

  it('turns an exception mid-stream into a clear error, and keeps the decisions already made', async () => {
    const { emulator, guard, ran, agent } = await setup([
      [
        bedrockReturnControl([
          bedrockFunctionInput('CustomerSupport', 'lookup_customer', { email: 'john@example.com' }),
        ]),
      ],
      [bedrockChunk('Looking that up'), bedrockException('throttlingException', 'Rate exceeded')],
    ]);
    const error = await agent
      .invoke({
        sessionId: 'session-throttled',
        inputText: 'Who is john@example.com?',
        traceId: 'trace_throttled',
      })
      .catch((e: unknown) => e);
    expect(MeshGuardError.isInstance(error)).toBe(true);
    const failure = error as MeshGuardError;
    expect(failure.code).toBe('bedrock_request_failed');
    expect(failure.message).toBe(
      'Bedrock InvokeAgent failed: ThrottlingException: Rate exceeded (session session-throttled; 1 decision made this turn, recorded under trace trace_throttled)',
    );
    expect((failure.cause as Error).name).toBe('ThrottlingException');
    expect(ran).toEqual(['lookup_customer john@example.com']);
    expect(emulator.problems).toEqual([]);
    expect(trail(await guard.query({ traceId: 'trace_throttled', order: 'asc' }))).toEqual([
      'decision Support Agent read:customer_data allow',
      'outcome Support Agent read:customer_data allow/success',
    ]);
  });

  it('reports an HTTP error from the service (a malformed request) the same way', async () => {
    const { guard, agent } = await setup([]);
    const error = (await agent
      .invoke({ sessionId: 'not a valid session id!', inputText: 'Hello' })
      .catch((e: unknown) => e)) as MeshGuardError;
    expect(error.code).toBe('bedrock_request_failed');
    expect(error.message).toContain(
      'Bedrock InvokeAgent failed: ValidationException: 1 validation error detected',
    );
    expect((error.cause as Error).name).toBe('ValidationException');
    expect(await guard.query({})).toEqual([]);
  });
});
