import type { AgentActionGroup, Collaborator, ParameterType } from '@aws-sdk/client-bedrock-agent-runtime';
import { describe, expect, it } from 'vitest';
import { invokeGovernedInlineAgent } from './governed-inline-agent';
import {
  emulatorClient,
  SUPPORT_IDENTITY,
  supportActionGroups,
  supportGuard,
  trail,
  useEmulator,
} from './support-fixtures';
import {
  type BedrockEmulatorRequest,
  bedrockChunk,
  bedrockCollaboratorTrace,
  bedrockFunctionInput,
  bedrockReturnControl,
} from './testing';

const MODEL = 'anthropic.claude-3-5-sonnet-20241022-v2:0';

const returnControl = (
  name: string,
  functions: Array<{ name: string; params?: Record<string, ParameterType> }>,
): AgentActionGroup => ({
  actionGroupName: name,
  actionGroupExecutor: { customControl: 'RETURN_CONTROL' },
  functionSchema: {
    functions: functions.map((f) => ({
      name: f.name,
      parameters: Object.fromEntries(
        Object.entries(f.params ?? {}).map(([k, type]) => [k, { type, required: true }]),
      ),
    })),
  },
});

const collaborator = (agentName: string, actionGroups: AgentActionGroup[] = []): Collaborator => ({
  agentName,
  foundationModel: MODEL,
  instruction: `You are the ${agentName} of an online shop; you answer what the supervisor sends you.`,
  actionGroups,
});

/** The inline agent of the tests: a supervisor with support tools, a billing and a sales collaborator. */
function configuration() {
  return {
    agentName: 'SupportSupervisor',
    foundationModel: MODEL,
    instruction: 'You are a customer support supervisor for an online shop. Delegate billing questions.',
    agentCollaboration: 'SUPERVISOR' as const,
    actionGroups: [
      returnControl('CustomerSupport', [
        { name: 'lookup_customer', params: { email: 'string' } },
        { name: 'process_refund', params: { order_id: 'string', amount: 'number' } },
        { name: 'delete_customer', params: { customer_id: 'string' } },
      ]),
      { actionGroupName: 'CodeInterpreter', parentActionGroupSignature: 'AMAZON.CodeInterpreter' as const },
    ],
    knowledgeBases: [{ knowledgeBaseId: 'KBPOLICIES', description: 'Refund policies' }],
    collaborators: [
      collaborator('BillingSpecialist', [
        returnControl('Billing', [{ name: 'get_invoice', params: { invoice_id: 'string' } }]),
      ]),
      collaborator('SalesDesk'),
    ],
    collaboratorConfigurations: [
      { collaboratorName: 'BillingSpecialist', collaboratorInstruction: 'Billing and invoices' },
      { collaboratorName: 'SalesDesk', collaboratorInstruction: 'Upgrades and offers' },
    ],
  };
}

const names = (
  list: Array<{ agentName?: string; collaboratorName?: string; actionGroupName?: string }> | undefined,
) => (list ?? []).map((c) => c.agentName ?? c.collaboratorName ?? c.actionGroupName);

const startEmulator = useEmulator();

describe('invokeGovernedInlineAgent', () => {
  it('removes what policy never allows (a collaborator, a function, built-ins), records why, and governs the rest', async () => {
    const seen: BedrockEmulatorRequest[] = [];
    const emulator = await startEmulator([
      (request) => {
        seen.push(request);
        // The model hands off only to collaborators it was given.
        const offered = names(request.body.collaborators as Collaborator[]);
        return [
          ...offered.map((name) => bedrockCollaboratorTrace(name!, 'Customer asks about invoice INV-7')),
          bedrockReturnControl([
            bedrockFunctionInput(
              'Billing',
              'get_invoice',
              { invoice_id: 'INV-7' },
              { collaboratorName: 'BillingSpecialist' },
            ),
            bedrockFunctionInput('CustomerSupport', 'process_refund', { order_id: 'ORD-7', amount: 150 }),
          ]),
        ];
      },
      (request) => {
        seen.push(request);
        return [bedrockChunk(request.results.map((r) => r.body).join(' | '))];
      },
    ]);
    const { guard } = supportGuard();
    const { actionGroups } = supportActionGroups();
    const result = await invokeGovernedInlineAgent({
      client: emulatorClient(emulator),
      guard,
      identity: SUPPORT_IDENTITY,
      handlers: {
        ...actionGroups,
        CustomerSupport: {
          functions: {
            ...actionGroups.CustomerSupport!.functions,
            delete_customer: { action: 'delete:customer_data', handler: () => 'deleted' },
          },
        },
        Billing: {
          functions: {
            get_invoice: { action: 'read:invoice', handler: ({ invoice_id }) => `${invoice_id}: $50.00` },
          },
        },
      },
      sessionId: 'inline-session-1',
      inputText: 'I was charged twice for INV-7 and want $150 back for ORD-7',
      ...configuration(),
    });

    expect(result.removed.map((r) => [r.type, r.name, r.from, r.action])).toEqual([
      ['function', 'CustomerSupport/delete_customer', 'Support Agent', 'delete:customer_data'],
      ['action_group', 'CodeInterpreter', 'Support Agent', 'execute:code_interpreter'],
      ['collaborator', 'SalesDesk', 'Support Agent', 'handoff:SalesDesk'],
    ]);
    expect(result.removed[2]!.reason).toBe(
      'Nothing allows "handoff:SalesDesk" for agent "Support Agent": no rule matches it; denied by default',
    );

    // Every call carried the trimmed configuration, resent in full.
    for (const request of seen) {
      expect(names(request.body.collaborators as Collaborator[])).toEqual(['BillingSpecialist']);
      expect(names(request.body.collaboratorConfigurations as Array<{ collaboratorName: string }>)).toEqual([
        'BillingSpecialist',
      ]);
      expect(names(request.body.actionGroups as AgentActionGroup[])).toEqual(['CustomerSupport']);
      const functions = (request.body.actionGroups as AgentActionGroup[])[0]!.functionSchema!.functions!;
      expect(functions.map((f) => f.name)).toEqual(['lookup_customer', 'process_refund']);
      expect(request.body.knowledgeBases).toEqual([
        { knowledgeBaseId: 'KBPOLICIES', description: 'Refund policies' },
      ]);
      expect(request.body).toMatchObject({ foundationModel: MODEL, agentCollaboration: 'SUPERVISOR' });
    }
    expect(seen[1]!.body.inlineSessionState).toMatchObject({ invocationId: expect.any(String) });

    expect(result.text).toBe(
      'INV-7: $50.00 | Blocked by policy: Refunds over $100 require manager approval (rule large-refunds)',
    );
    expect(result.observed.map((o) => o.action)).toEqual(['handoff:BillingSpecialist']);
    expect(emulator.problems).toEqual([]);
    expect(trail(await guard.query({ traceId: result.traceId, order: 'asc' }))).toEqual([
      'decision Support Agent delete:customer_data deny',
      'decision Support Agent execute:code_interpreter deny',
      'decision Support Agent handoff:SalesDesk deny',
      'outcome Support Agent handoff:BillingSpecialist allow/observed',
      'decision BillingSpecialist read:invoice allow via Support Agent',
      'outcome BillingSpecialist read:invoice allow/success via Support Agent',
      'decision Support Agent write:refund deny',
      'outcome Support Agent write:refund deny/blocked',
    ]);
    const offer = await guard.query({ traceId: result.traceId, action: 'handoff:SalesDesk' });
    expect(offer[0]).toMatchObject({ kind: 'handoff', context: { stage: 'offer' } });
  });

  it('runs a supervisor with no collaborator left as a plain agent', async () => {
    const emulator = await startEmulator([[bedrockChunk('No one to delegate to.')]]);
    const { guard } = supportGuard();
    const base = configuration();
    const result = await invokeGovernedInlineAgent({
      client: emulatorClient(emulator),
      guard,
      identity: SUPPORT_IDENTITY,
      handlers: supportActionGroups().actionGroups,
      sessionId: 'inline-session-2',
      inputText: 'Any offers?',
      ...base,
      collaborators: [collaborator('SalesDesk')],
      collaboratorConfigurations: [
        { collaboratorName: 'SalesDesk', collaboratorInstruction: 'Upgrades and offers' },
      ],
    });
    const body = emulator.requests[0]!.body;
    expect(body.agentCollaboration).toBe('DISABLED');
    expect(body.collaborators).toBeUndefined();
    expect(body.collaboratorConfigurations).toBeUndefined();
    expect(result.removed.map((r) => [r.type, r.name])).toEqual([
      ['function', 'CustomerSupport/delete_customer'],
      ['action_group', 'CodeInterpreter'],
      ['collaborator', 'SalesDesk'],
    ]);
    expect(result.text).toBe('No one to delegate to.');
    expect(trail(await guard.query({ traceId: result.traceId, order: 'asc' }))).toEqual([
      'decision Support Agent tool:CustomerSupport/delete_customer deny',
      'decision Support Agent execute:code_interpreter deny',
      'decision Support Agent handoff:SalesDesk deny',
    ]);
  });

  it('trims an OpenAPI action group to the operations policy allows', async () => {
    const emulator = await startEmulator([[bedrockChunk('ok')]]);
    const { guard } = supportGuard();
    const openapi = {
      openapi: '3.0.0',
      info: { title: 'Orders', version: '1' },
      paths: {
        '/orders/{orderId}': {
          get: { description: 'Read an order' },
          delete: { description: 'Delete an order' },
        },
        '/refunds': { post: { description: 'Refund an order' } },
      },
    };
    const result = await invokeGovernedInlineAgent({
      client: emulatorClient(emulator),
      guard,
      identity: SUPPORT_IDENTITY,
      handlers: {
        Orders: {
          apis: {
            'GET /orders/{orderId}': { action: 'read:order_data', handler: () => ({}) },
            'POST /refunds': { action: 'write:refund', handler: () => ({}) },
          },
        },
      },
      sessionId: 'inline-session-3',
      inputText: 'Hello',
      foundationModel: MODEL,
      instruction: 'You are a customer support agent for an online shop.',
      actionGroups: [
        {
          actionGroupName: 'Orders',
          actionGroupExecutor: { customControl: 'RETURN_CONTROL' },
          apiSchema: { payload: JSON.stringify(openapi) },
        },
      ],
    });
    expect(result.removed.map((r) => [r.type, r.name, r.action])).toEqual([
      ['api_operation', 'Orders/DELETE /orders/{orderId}', 'tool:Orders/DELETE /orders/{orderId}'],
    ]);
    const offer = await guard.query({ traceId: result.traceId, order: 'asc' });
    expect(trail(offer)).toEqual(['decision Support Agent tool:Orders/DELETE /orders/{orderId} deny']);
    expect(offer[0]).toMatchObject({ kind: 'tool', context: { stage: 'offer' } });
    const sent = (emulator.requests[0]!.body.actionGroups as AgentActionGroup[])[0]!;
    expect(JSON.parse(sent.apiSchema!.payload!).paths).toEqual({
      '/orders/{orderId}': { get: { description: 'Read an order' } },
      '/refunds': { post: { description: 'Refund an order' } },
    });
  });

  it('keeps out a collaborator without agentName: policy cannot tell who it is, so nothing of it is offered', async () => {
    const emulator = await startEmulator([[bedrockChunk('Handled it myself.')]]);
    const { guard } = supportGuard();
    const nameless: Collaborator = {
      foundationModel: MODEL,
      instruction: 'You are an anonymous helper of an online shop; you do what the supervisor says.',
      actionGroups: [
        returnControl('Admin', [{ name: 'delete_customer', params: { customer_id: 'string' } }]),
      ],
    };
    const result = await invokeGovernedInlineAgent({
      client: emulatorClient(emulator),
      guard,
      identity: SUPPORT_IDENTITY,
      handlers: supportActionGroups().actionGroups,
      sessionId: 'inline-session-4',
      inputText: 'Delete customer CUST-001',
      foundationModel: MODEL,
      instruction: 'You are a customer support supervisor for an online shop. Delegate admin work.',
      agentCollaboration: 'SUPERVISOR',
      collaborators: [nameless],
    });
    const body = emulator.requests[0]!.body;
    expect(body.collaborators).toBeUndefined();
    expect(body.agentCollaboration).toBe('DISABLED');
    expect(result.removed.map((r) => [r.type, r.name, r.from, r.reason])).toEqual([
      [
        'collaborator',
        '(no agentName)',
        'Support Agent',
        'a collaborator without agentName cannot be identified, so policy cannot govern it',
      ],
    ]);
    expect(emulator.problems).toEqual([]);
    expect(await guard.query({ traceId: result.traceId })).toEqual([]);
  });
});
