import type { Content } from '@google/genai';
import {
  type AuditStore,
  ConfigError,
  createEmbeddedGuard,
  createMemoryStore,
  createPolicyEngine,
  type Guard,
  type MemoryStore,
  parsePolicies,
} from '@meshguard/core';
import { describe, expect, it } from 'vitest';
import { governFunctions } from './govern-functions';
import { runGovernedChat } from './governed-chat';
import {
  genaiClient,
  lastFunctionResponses,
  MODEL,
  relay,
  SUPPORT_IDENTITY,
  SUPPORT_POLICY_TEXT,
  supportFunctions,
  supportGuard,
  supportScenario,
  trail,
  useEmulator,
} from './support-fixtures';
import { functionCallPart, textPart } from './vertex-emulator';

const emulators = useEmulator();

describe('governFunctions with @google/genai', () => {
  it('runs an allowed call, refuses a denied one with the reason, and the model hears why', async () => {
    const { governed, ran, recorded } = supportScenario('trace_genai');
    const emulator = await emulators.start({
      script: [
        {
          parts: [
            functionCallPart(
              'process_refund',
              { order_id: 'ORD-1', amount: 79.99 },
              { id: 'call_1', thoughtSignature: 'c2lnLTE=' },
            ),
          ],
        },
        relay,
        { parts: [functionCallPart('process_refund', { order_id: 'ORD-2', amount: 150 }, { id: 'call_2' })] },
        relay,
      ],
    });
    const chat = genaiClient(emulator).chats.create({ model: MODEL, config: { tools: [governed.tool] } });

    const first = await runGovernedChat({ chat, message: 'Refund $79.99 on ORD-1', functions: governed });
    expect(first.text).toBe('Done: process_refund');
    expect(lastFunctionResponses(emulator.requests[1]!.body.contents)).toEqual([
      {
        id: 'call_1',
        name: 'process_refund',
        response: { status: 'refunded', order_id: 'ORD-1', amount: 79.99, ref: 'REF-0001' },
      },
    ]);
    const second = await runGovernedChat({ chat, message: 'And $150 on ORD-2', functions: governed });
    expect(second.text).toBe(
      'Sorry: Blocked by policy: Refunds over $100 require manager approval (rule vertex-support-agent-policy#4)',
    );
    expect(ran).toEqual(['process_refund ORD-1 79.99']);
    expect(emulator.problems).toEqual([]);
    // The declarations went out named, with the schema given.
    expect(emulator.requests[0]!.body.tools).toEqual([
      { functionDeclarations: governed.declarations.map((d) => expect.objectContaining({ name: d.name })) },
    ]);
    // The denied call was answered with its id and the reason.
    expect(lastFunctionResponses(emulator.requests[3]!.body.contents)).toEqual([
      {
        id: 'call_2',
        name: 'process_refund',
        response: {
          error:
            'Blocked by policy: Refunds over $100 require manager approval (rule vertex-support-agent-policy#4)',
        },
      },
    ]);

    const events = await recorded();
    expect(trail(events)).toEqual([
      'decision write:refund allow',
      'outcome write:refund allow/success',
      'decision write:refund deny',
      'outcome write:refund deny/blocked',
    ]);
    expect(events[0]).toMatchObject({
      framework: 'vertex',
      kind: 'tool',
      agent: { id: 'Customer Support Agent', tags: ['vertex', 'support'] },
      spanId: 'call:call_1',
      context: { order_id: 'ORD-1', amount: 79.99 },
      source: { name: '@meshguard/vertex' },
    });
    expect(events[1]!.decisionId).toBe(events[0]!.decisionId);
    expect(events[2]).toMatchObject({
      reason: 'Refunds over $100 require manager approval (rule vertex-support-agent-policy#4)',
      rule: { id: 'vertex-support-agent-policy#4' },
      policy: { name: 'vertex-support-agent-policy' },
    });
    expect(events[3]!.decisionId).toBe(events[2]!.decisionId);
  });

  it('answers parallel calls in one turn, in order, each checked on its own', async () => {
    const { governed, ran, recorded } = supportScenario('trace_parallel');
    const emulator = await emulators.start({
      script: [
        {
          parts: [
            functionCallPart('lookup_customer', { email: 'john@example.com' }, { id: 'a' }),
            functionCallPart('get_order_details', { order_id: 'ORD-1' }, { id: 'b' }),
            functionCallPart('process_refund', { order_id: 'ORD-2', amount: 150 }, { id: 'c' }),
            functionCallPart('delete_account', { email: 'john@example.com' }, { id: 'd' }),
          ],
        },
        relay,
      ],
    });
    const chat = genaiClient(emulator).chats.create({ model: MODEL, config: { tools: [governed.tool] } });
    await runGovernedChat({ chat, message: 'Everything at once', functions: governed });

    expect(emulator.problems).toEqual([]);
    const answered = lastFunctionResponses(emulator.requests[1]!.body.contents);
    expect(answered.map((r) => `${r.id} ${r.name}`)).toEqual([
      'a lookup_customer',
      'b get_order_details',
      'c process_refund',
      'd delete_account',
    ]);
    expect(answered[1]!.response).toEqual({
      output: 'Order ORD-1: Wireless Headphones, $79.99, delivered 2024-01-15',
    });
    expect(String(answered[3]!.response.error)).toMatch(
      /^Blocked by policy: Nothing allows "tool:delete_account" for agent "Customer Support Agent"/,
    );
    expect(ran).toEqual(['lookup_customer john@example.com', 'get_order_details ORD-1']);

    const events = await recorded();
    expect(trail(events)).toEqual([
      'decision read:customer_data allow',
      'decision read:order_data allow',
      'decision write:refund deny',
      'outcome write:refund deny/blocked',
      'decision tool:delete_account deny',
      'outcome tool:delete_account deny/blocked',
      'outcome read:customer_data allow/success',
      'outcome read:order_data allow/success',
    ]);
    expect(events.map((e) => e.spanId)).toEqual([
      'call:a',
      'call:b',
      'call:c',
      'call:c',
      'call:d',
      'call:d',
      'call:a',
      'call:b',
    ]);
  });

  it('streams: function calls gathered from the chunks, the answer text streamed', async () => {
    const { governed, recorded } = supportScenario('trace_stream');
    const emulator = await emulators.start({
      script: [
        {
          parts: [
            textPart('Let me check that order for you. '),
            functionCallPart(
              'get_order_details',
              { order_id: 'ORD-1' },
              { id: 's1', thoughtSignature: 'c2ln' },
            ),
          ],
        },
        { parts: [textPart('Your Wireless Headphones were delivered on 2024-01-15.')] },
      ],
    });
    const chat = genaiClient(emulator).chats.create({ model: MODEL, config: { tools: [governed.tool] } });
    const pieces: string[] = [];
    const result = await runGovernedChat({
      chat,
      message: 'Where is ORD-1?',
      functions: governed,
      stream: true,
      onText: (t) => pieces.push(t),
    });
    expect(result.text).toBe('Your Wireless Headphones were delivered on 2024-01-15.');
    expect(pieces.length).toBeGreaterThan(3);
    expect(emulator.requests.map((r) => r.method)).toEqual([
      'streamGenerateContent',
      'streamGenerateContent',
    ]);
    expect(emulator.problems).toEqual([]);
    const events = await recorded();
    expect(trail(events)).toEqual([
      'decision read:order_data allow',
      'outcome read:order_data allow/success',
    ]);
  });

  it('keeps generateContent history verbatim (thought signatures, ids) across rounds', async () => {
    const { governed, recorded } = supportScenario('trace_history');
    const emulator = await emulators.start({
      script: [
        {
          parts: [
            { text: 'thinking about it', thought: true },
            functionCallPart(
              'lookup_customer',
              { email: 'john@example.com' },
              { id: 'h1', thoughtSignature: 'AAEC' },
            ),
          ],
        },
        relay,
      ],
    });
    const ai = genaiClient(emulator);
    const history: Content[] = [];
    const result = await runGovernedChat({
      chat: {
        history,
        generateContent: (contents) =>
          ai.models.generateContent({ model: MODEL, contents, config: { tools: [governed.tool] } }),
      },
      message: 'Who is john@example.com?',
      functions: governed,
    });
    expect(result.text).toBe('Done: lookup_customer');
    expect(emulator.problems).toEqual([]);
    expect(history.map((c) => c.role)).toEqual(['user', 'model', 'user', 'model']);
    expect(history[1]!.parts).toEqual([
      { text: 'thinking about it', thought: true },
      {
        functionCall: { id: 'h1', name: 'lookup_customer', args: { email: 'john@example.com' } },
        thoughtSignature: 'AAEC',
      },
    ]);
    const events = await recorded();
    expect(trail(events)).toEqual([
      'decision read:customer_data allow',
      'outcome read:customer_data allow/success',
    ]);
  });
});

describe('approvals, failures and bad input', () => {
  const APPROVAL_POLICY = `
name: refund-approvals
version: "1"
appliesTo: { tags: [vertex] }
rules:
  - id: big-refunds-need-a-manager
    effect: require_approval
    actions: ["write:refund"]
    conditions: { amount_min: 50 }
    reason: "Refunds over $50 need a manager"
`;

  it('asks onApprovalRequired and records who answered; no approver means no run', async () => {
    const { guard, store } = supportGuard([APPROVAL_POLICY]);
    const { ran, functions } = supportFunctions();
    const asked: string[] = [];
    const governed = governFunctions({
      guard,
      identity: SUPPORT_IDENTITY,
      functions,
      traceId: 'trace_approval',
      onApprovalRequired: ({ name, id, args, decision }) => {
        asked.push(`${name} ${id} ${String(args.amount)} ${decision.reason}`);
        return args.amount === 60
          ? { approve: true, by: 'manager@acme.example' }
          : { approve: false, by: 'manager@acme.example', message: 'Not this one, sorry.' };
      },
    });
    const parts = await governed.respond([
      { id: 'r1', name: 'process_refund', args: { order_id: 'ORD-1', amount: 60 } },
      { id: 'r2', name: 'process_refund', args: { order_id: 'ORD-2', amount: 70 } },
    ]);
    expect(parts).toEqual([
      {
        functionResponse: {
          id: 'r1',
          name: 'process_refund',
          response: { status: 'refunded', order_id: 'ORD-1', amount: 60, ref: 'REF-0001' },
        },
      },
      { functionResponse: { id: 'r2', name: 'process_refund', response: { error: 'Not this one, sorry.' } } },
    ]);
    expect(asked).toEqual([
      'process_refund r1 60 Refunds over $50 need a manager (rule big-refunds-need-a-manager)',
      'process_refund r2 70 Refunds over $50 need a manager (rule big-refunds-need-a-manager)',
    ]);
    expect(ran).toEqual(['process_refund ORD-1 60']);

    // Without an approver, a call policy wants approved does not run.
    const unattended = governFunctions({
      guard,
      identity: SUPPORT_IDENTITY,
      functions,
      traceId: 'trace_approval',
    });
    const [refused] = await unattended.respond([{ id: 'r3', name: 'process_refund', args: { amount: 80 } }]);
    expect(refused!.functionResponse.response.error).toBe(
      'Blocked by policy: Refunds over $50 need a manager (rule big-refunds-need-a-manager) (approval is required and no approver is configured)',
    );
    expect(ran).toHaveLength(1);

    const events = await store.query({ traceId: 'trace_approval', order: 'asc' }).then((p) => p.events);
    expect(
      events.map(
        (e) => `${e.type} ${e.effect}${e.outcome ? `/${e.outcome}` : ''}${e.actor ? ` by ${e.actor}` : ''}`,
      ),
    ).toEqual([
      // Each answer goes the approver's way (recorded with who), then the approved call is
      // checked again with its approval right before it runs; the rejected one is denied.
      'decision require_approval',
      'approval_requested require_approval',
      'approval_granted allow by manager@acme.example',
      'decision require_approval',
      'approval_requested require_approval',
      'approval_rejected deny by manager@acme.example',
      'decision allow',
      'decision deny',
      'outcome allow/success',
      'outcome deny/blocked',
      // Nobody could answer the third: its request is withdrawn.
      'decision require_approval',
      'approval_requested require_approval',
      'approval_cancelled deny by meshguard',
      'outcome require_approval/blocked',
    ]);
    expect(events[5]!.reason).toContain('Not this one, sorry.');
    expect(events[6]).toMatchObject({ approvalId: events[1]!.approvalId, spanId: 'call:r1' });
    expect(events[9]!.reason).toBe('Not this one, sorry.');
  });

  it('where the store keeps no approval requests, the answer is recorded as an outcome (as before)', async () => {
    const store = createMemoryStore();
    const {
      createApproval: _c,
      answerApproval: _a,
      ...trailOnly
    } = store as MemoryStore & Record<string, unknown>;
    const guard = createEmbeddedGuard({
      engine: createPolicyEngine(parsePolicies([SUPPORT_POLICY_TEXT, APPROVAL_POLICY].join('\n---\n'))),
      store: trailOnly as unknown as AuditStore,
    });
    const { ran, functions } = supportFunctions();
    const governed = governFunctions({
      guard,
      identity: SUPPORT_IDENTITY,
      functions,
      traceId: 'trace_plain',
      onApprovalRequired: ({ args }) =>
        args.amount === 60
          ? { approve: true, by: 'manager@acme.example' }
          : { approve: false, by: 'manager@acme.example', message: 'Not this one, sorry.' },
    });
    await governed.respond([
      { id: 'p1', name: 'process_refund', args: { order_id: 'ORD-1', amount: 60 } },
      { id: 'p2', name: 'process_refund', args: { order_id: 'ORD-2', amount: 70 } },
    ]);
    expect(ran).toEqual(['process_refund ORD-1 60']);
    const events = await store.query({ traceId: 'trace_plain', order: 'asc' }).then((p) => p.events);
    expect(events.map((e) => `${e.type} ${e.effect}${e.outcome ? `/${e.outcome}` : ''}`)).toEqual([
      'decision require_approval',
      'outcome require_approval/approved',
      'decision require_approval',
      'outcome require_approval/rejected',
      'outcome require_approval/success',
    ]);
  });

  it('fails closed: a check that throws or an approver that throws runs nothing', async () => {
    const { guard, store } = supportGuard([APPROVAL_POLICY]);
    const { ran, functions } = supportFunctions();
    const broken: Guard = { ...guard, check: async () => Promise.reject(new Error('store offline')) };
    const governed = governFunctions({
      guard: broken,
      identity: SUPPORT_IDENTITY,
      functions,
      traceId: 'trace_broken',
    });
    const [part] = await governed.respond([{ id: 'x', name: 'lookup_customer', args: { email: 'a@b.c' } }]);
    expect(part!.functionResponse.response.error).toBe(
      'Blocked by policy: the policy check failed, so the action is denied: store offline',
    );

    const throwing = governFunctions({
      guard,
      identity: SUPPORT_IDENTITY,
      functions,
      traceId: 'trace_broken',
      onApprovalRequired: () => {
        throw new Error('review service down');
      },
    });
    const [refused] = await throwing.respond([{ id: 'y', name: 'process_refund', args: { amount: 90 } }]);
    expect(String(refused!.functionResponse.response.error)).toContain(
      'approval failed: review service down',
    );
    expect(ran).toEqual([]);

    const events = await store.query({ traceId: 'trace_broken', order: 'asc' }).then((p) => p.events);
    expect(trail(events)).toEqual([
      'outcome read:customer_data deny/blocked',
      'decision write:refund require_approval',
      'approval_requested write:refund require_approval',
      // The approver failed: nobody can answer the request now, so it is withdrawn.
      'approval_cancelled write:refund deny',
      'outcome write:refund require_approval/blocked',
    ]);
    expect(events[0]!.error).toContain('store offline');
    expect(events[3]!.reason).toContain('the approver failed: review service down');
    expect(events[4]!.error).toBe('review service down');
  });

  it('runs only on an allow: a guard answering something else runs nothing', async () => {
    const { guard, store } = supportGuard();
    const { ran, functions } = supportFunctions();
    // A guard of the host's making that answers a decision MeshGuard does not know.
    const odd: Guard = {
      ...guard,
      check: async (request) => {
        const decision = await guard.check(request);
        return request.context?.email === 'a@b.c'
          ? { ...decision, effect: 'ALLOW' as never, allowed: false }
          : { ...decision, allowed: false };
      },
    };
    const governed = governFunctions({
      guard: odd,
      identity: SUPPORT_IDENTITY,
      functions,
      traceId: 'trace_odd',
    });
    const parts = await governed.respond([
      { id: 'x', name: 'lookup_customer', args: { email: 'a@b.c' } },
      { id: 'y', name: 'lookup_customer', args: { email: 'd@e.f' } },
    ]);
    expect(ran).toEqual([]);
    expect(parts.map((p) => String(p.functionResponse.response.error))).toEqual([
      expect.stringContaining('not an allow'),
      expect.stringContaining('not an allow'),
    ]);
    const events = await store.query({ traceId: 'trace_odd', order: 'asc' }).then((p) => p.events);
    // The outcome of the unknown effect cannot be stored (the trail only knows the three effects);
    // the inconsistent allow is recorded as blocked, saying why.
    expect(events.filter((e) => e.type === 'outcome').map((e) => [e.outcome, e.error])).toEqual([
      ['blocked', 'the decision (effect "allow", allowed false) is not an allow'],
    ]);
  });

  it('runs nothing of a turn when deciding one of its calls fails', async () => {
    const { guard } = supportGuard();
    const { ran, functions } = supportFunctions();
    const governed = governFunctions({
      guard,
      identity: SUPPORT_IDENTITY,
      functions,
      context: (args) => {
        if (args.amount === undefined) return args;
        throw new Error('cannot read the amount');
      },
    });
    await expect(
      governed.respond([
        { id: 'ok', name: 'lookup_customer', args: { email: 'john@example.com' } },
        { id: 'bad', name: 'process_refund', args: { amount: 10 } },
      ]),
    ).rejects.toThrow('cannot read the amount');
    expect(ran).toEqual([]); // the lookup was allowed, but the turn never reached its handlers
  });

  it('records a handler that throws as an error outcome and tells the model', async () => {
    const { guard, store } = supportGuard();
    const governed = governFunctions({
      guard,
      identity: SUPPORT_IDENTITY,
      traceId: 'trace_error',
      functions: {
        lookup_customer: {
          action: 'read:customer_data',
          declaration: { description: 'Look up a customer.' },
          handler: () => {
            throw new Error('CRM timeout');
          },
        },
      },
    });
    const [part] = await governed.respond({
      candidates: [
        { content: { role: 'model', parts: [{ functionCall: { name: 'lookup_customer', args: {} } }] } },
      ],
    });
    expect(part).toEqual({
      functionResponse: { name: 'lookup_customer', response: { error: 'CRM timeout' } },
    });
    const events = await store.query({ traceId: 'trace_error', order: 'asc' }).then((p) => p.events);
    expect(trail(events)).toEqual([
      'decision read:customer_data allow',
      'outcome read:customer_data allow/error',
    ]);
    expect(events[1]!.error).toBe('CRM timeout');
  });

  it('says what is wrong with its options, and where', () => {
    const { guard } = supportGuard();
    const handler = () => 'ok';
    const bad = (options: unknown) => () => governFunctions(options as never);
    expect(bad(undefined)).toThrow(/governFunctions: options are required/);
    expect(bad({ identity: SUPPORT_IDENTITY, functions: {} })).toThrow(/`guard` must be a MeshGuard guard/);
    expect(bad({ guard, functions: { f: { declaration: {}, handler } } })).toThrow(/`identity` is required/);
    expect(
      bad({ guard, identity: { name: 'x', tier: 'god' }, functions: { f: { declaration: {}, handler } } }),
    ).toThrow(/identity\.tier/);
    expect(bad({ guard, identity: SUPPORT_IDENTITY, functions: {} })).toThrow(/at least one function/);
    expect(
      bad({ guard, identity: SUPPORT_IDENTITY, functions: { '9lives': { declaration: {}, handler } } }),
    ).toThrow(/functions\.9lives: not a valid Gemini function name/);
    expect(
      bad({ guard, identity: SUPPORT_IDENTITY, functions: { f: { declaration: { name: 'g' }, handler } } }),
    ).toThrow(/functions\.f\.declaration\.name: is "g"/);
    expect(bad({ guard, identity: SUPPORT_IDENTITY, functions: { f: { declaration: {} } } })).toThrow(
      /functions\.f\.handler: must be a function/,
    );
    expect(
      bad({
        guard,
        identity: SUPPORT_IDENTITY,
        functions: { f: { declaration: {}, handler, action: 'refund' } },
      }),
    ).toThrow(/functions\.f\.action: "refund" is not an action/);
    expect(
      bad({ guard, identity: SUPPORT_IDENTITY, functions: { f: { declaration: {}, handler } } }),
    ).not.toThrow();
    try {
      bad({ guard, identity: SUPPORT_IDENTITY, functions: {} })();
    } catch (error) {
      expect(ConfigError.isInstance(error)).toBe(true);
    }
  });
});
