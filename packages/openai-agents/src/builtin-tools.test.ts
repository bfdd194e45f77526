import { createTestGuard } from '@meshguard/core/testing';
import {
  Agent,
  codeInterpreterTool,
  computerTool,
  fileSearchTool,
  hostedMcpTool,
  Runner,
  shellTool,
  webSearchTool,
} from '@openai/agents';
import { assistantMessage, modelResponder, ScriptedModel } from '@openai/agents/testing';
import { describe, expect, it } from 'vitest';
import { governAgent } from './govern-agent';
import { approveToolCall, runGoverned } from './governed-run';
import { recordHostedToolCalls } from './hosted-tools';
import { seedGuard, supportOptions, trail } from './support-fixtures';
import { runHostedSearches } from './test-helpers/hosted-searches';

const COMPUTER_POLICY = `
name: computer-actions
version: "1"
appliesTo:
  tags: [support]
rules:
  - id: look-and-click
    effect: allow
    actions: ["execute:computer_use"]
    conditions:
      context:
        type: { in: [screenshot, click, wait] }
  - id: shell-read-only
    effect: allow
    actions: ["execute:shell"]
    conditions:
      context:
        commands: { exists: true }
`;

describe('built-in tools', () => {
  it('offers hosted tools only when policy allows them for the run, and records the calls that happened', async () => {
    const { guard, store } = seedGuard();
    let offered: string[] = [];
    const model = new ScriptedModel([
      modelResponder((call) => {
        offered = call.request.tools.map((t) => t.name);
        return [
          {
            type: 'hosted_tool_call',
            id: 'ws_1',
            name: 'web_search_call',
            status: 'completed',
            providerData: {
              type: 'web_search_call',
              action: { type: 'search', query: 'headphones return policy' },
            },
          },
          assistantMessage('Returns are accepted within 30 days.'),
        ];
      }),
    ]);
    const agent = new Agent({
      name: 'Customer Support Agent',
      instructions: 'Answer with sources.',
      model,
      tools: [webSearchTool(), fileSearchTool(['vs_support']), codeInterpreterTool()],
    });
    const options = supportOptions(guard, 'trace_hosted');
    const result = await new Runner({ tracingDisabled: true }).run(
      governAgent(agent, options),
      'Return policy?',
    );
    expect(offered).toEqual(['web_search', 'file_search']); // code_interpreter: nothing allows it
    expect(await recordHostedToolCalls(result, options)).toBe(1);
    expect(await recordHostedToolCalls(result, options)).toBe(1); // idempotent: same event id

    const events = (await store.query({ traceId: 'trace_hosted', order: 'asc' })).events;
    expect(trail(events)).toEqual([
      'decision Customer Support Agent read:web_search allow',
      'decision Customer Support Agent read:file_search allow',
      'decision Customer Support Agent execute:code_interpreter deny',
      'outcome Customer Support Agent read:web_search allow/success',
    ]);
    expect(events[0]).toMatchObject({
      kind: 'builtin_tool',
      context: { stage: 'offer', tool: 'web_search' },
    });
    expect(events[3]).toMatchObject({
      id: 'openai:ws_1',
      decisionId: events[0]!.decisionId,
      context: { query: 'headphones return policy' },
    });
  });

  it('records a hosted call policy would have denied as it ran (a query condition) as an observed deny, not a success', async () => {
    const { guard, store } = seedGuard([
      `
name: no-competitor-searches
version: "1"
appliesTo: { tags: [support] }
rules:
  - id: no-competitors
    effect: deny
    actions: ["read:*_search"]
    conditions: { context: { query: { matches: "[Aa][Cc][Mm][Ee]" } } }
    reason: Searching for competitors is not allowed
`,
    ]);
    const { result, options } = await runHostedSearches(guard, 'trace_hosted_deny');
    expect(await recordHostedToolCalls(result, options)).toBe(3);
    expect(await recordHostedToolCalls(result, options)).toBe(3); // idempotent: same event ids

    const events = (await store.query({ traceId: 'trace_hosted_deny', order: 'asc' })).events;
    // The test clock stands still: events of one instant come in id order.
    expect(trail(events).sort()).toEqual([
      'decision Customer Support Agent read:file_search allow',
      'decision Customer Support Agent read:web_search allow',
      'outcome Customer Support Agent read:file_search deny/observed',
      'outcome Customer Support Agent read:web_search allow/success',
      'outcome Customer Support Agent read:web_search deny/observed',
    ]);
    const offer = events.find((e) => e.type === 'decision' && e.action === 'read:web_search')!;
    const byId = (id: string) => events.find((e) => e.id === id);
    expect(byId('openai:ws_ok')).toMatchObject({ decisionId: offer.decisionId, outcome: 'success' });
    expect(byId('openai:ws_no')).toMatchObject({
      id: 'openai:ws_no',
      kind: 'builtin_tool',
      framework: 'openai-agents',
      context: { tool: 'web_search', query: 'ACME headphones prices' },
      reason:
        'observed in the run: OpenAI ran it on its side, where MeshGuard cannot stop it; policy would not allow it: Searching for competitors is not allowed (rule no-competitors)',
    });
    // An observed call stands alone: joined to the offer, it would take the offer's allow.
    expect(byId('openai:ws_no')!.decisionId).not.toBe(offer.decisionId);
    expect(byId('openai:fs_no')).toMatchObject({
      effect: 'deny',
      outcome: 'observed',
      context: { queries: ['warranty terms', 'acme price match'] },
    });
  });

  it('checks computer use per action: allowed actions run, a denied one is rejected with the reason', async () => {
    // The seed policy denies computer use outright; this one allows looking and clicking.
    const { guard, store } = createTestGuard({ policy: COMPUTER_POLICY });
    const done: string[] = [];
    const computer = {
      environment: 'browser' as const,
      dimensions: [1024, 768] as [number, number],
      screenshot: () => 'iVBORw0KGgo=',
      click: (x: number, y: number) => {
        done.push(`click ${x},${y}`);
      },
      doubleClick: () => {},
      scroll: () => {},
      type: (text: string) => {
        done.push(`type ${text}`);
      },
      wait: () => {},
      move: () => {},
      keypress: () => {},
      drag: () => {},
    };
    let rejection = '';
    const model = new ScriptedModel([
      [
        {
          type: 'computer_call',
          callId: 'cc_1',
          status: 'completed',
          action: { type: 'click', x: 10, y: 20, button: 'left' },
        },
      ],
      [
        {
          type: 'computer_call',
          callId: 'cc_2',
          status: 'completed',
          action: { type: 'type', text: 'rm -rf /' },
        },
      ],
      modelResponder((call) => {
        rejection = JSON.stringify(call.request.input);
        return [assistantMessage('I may not type there.')];
      }),
    ]);
    const agent = new Agent({
      name: 'Customer Support Agent',
      instructions: 'Use the browser.',
      model,
      tools: [computerTool({ computer })],
    });
    const options = supportOptions(guard, 'trace_computer');
    // The seed policy denies computer use outright: the tool is not even offered.
    const { guard: strict } = seedGuard();
    let offeredUnderSeed: string[] = [];
    const seedOnly = new ScriptedModel([
      modelResponder((call) => {
        offeredUnderSeed = call.request.tools.map((t) => t.name);
        return [assistantMessage('No computer here.')];
      }),
    ]);
    await new Runner({ tracingDisabled: true }).run(
      governAgent(agent.clone({ model: seedOnly }), supportOptions(strict, 'trace_seed_computer')),
      'Open the admin page',
    );
    expect(offeredUnderSeed).toEqual([]);

    // A host approving every interruption cannot lift a policy deny.
    const raw = await new Runner({ tracingDisabled: true }).run(
      governAgent(
        agent.clone({
          model: new ScriptedModel([
            [
              {
                type: 'computer_call',
                callId: 'cc_9',
                status: 'completed',
                action: { type: 'type', text: 'DROP TABLE users' },
              },
            ],
          ]),
        }),
        supportOptions(guard, 'trace_computer_host'),
      ),
      'Type it',
    );
    expect(raw.interruptions).toHaveLength(1);
    await expect(approveToolCall(raw.state, raw.interruptions[0]!, { by: 'eager-host' })).rejects.toThrow(
      /is a policy denial/,
    );

    const result = await runGoverned(governAgent(agent, options), 'Fill in the form', {
      ...options,
      runner: new Runner({ tracingDisabled: true }),
    });
    expect(result.finalOutput).toBe('I may not type there.');
    expect(done).toEqual(['click 10,20']);
    expect(rejection).toContain('Blocked by policy: Nothing allows');

    const events = (await store.query({ traceId: 'trace_computer', order: 'asc' })).events;
    expect(trail(events)).toEqual([
      'decision Customer Support Agent execute:computer_use allow',
      'decision Customer Support Agent execute:computer_use deny',
      'outcome Customer Support Agent execute:computer_use deny/blocked',
    ]);
    expect(events[0]!.context).toMatchObject({ type: 'click', x: 10, y: 20 });
    expect(events[1]!.context).toMatchObject({ type: 'type' });
  });

  it("gives a computer action's check the product page's action_type and target beside the SDK's own fields", async () => {
    // Written as the product page writes it: what kind of action, and where on the screen.
    const { guard, store } = createTestGuard({
      policy: `
name: top-bar-only
version: "1"
appliesTo: { tags: [support] }
rules:
  - id: top-bar
    effect: allow
    actions: ["execute:computer_use"]
    conditions:
      context:
        action_type: { in: [click, drag] }
        target.y: { lt: 100 }
`,
    });
    const done: string[] = [];
    const computer = {
      environment: 'browser' as const,
      dimensions: [1024, 768] as [number, number],
      screenshot: () => 'iVBORw0KGgo=',
      click: (x: number, y: number) => {
        done.push(`click ${x},${y}`);
      },
      doubleClick: () => {},
      scroll: () => {},
      type: () => {},
      wait: () => {},
      move: () => {},
      keypress: (keys: string[]) => {
        done.push(`keypress ${keys.join('+')}`);
      },
      drag: () => {
        done.push('drag');
      },
    };
    const computerCall = (callId: string, action: Record<string, unknown>) => [
      { type: 'computer_call' as const, callId, status: 'completed' as const, action: action as never },
    ];
    const model = new ScriptedModel([
      computerCall('cc_1', { type: 'click', x: 500, y: 40, button: 'left' }),
      computerCall('cc_2', {
        type: 'drag',
        path: [
          { x: 500, y: 40 },
          { x: 300, y: 600 },
        ],
      }),
      computerCall('cc_3', { type: 'keypress', keys: ['ctrl', 'a'] }),
      [assistantMessage('Only the top bar is mine to touch.')],
    ]);
    const browse = computerTool({ computer });
    const agent = new Agent({
      name: 'Customer Support Agent',
      instructions: 'Use the browser.',
      model,
      tools: [browse],
    });
    const seen: Array<{ toolName: string; action: string; args: unknown }> = [];
    const options = {
      ...supportOptions(guard, 'trace_computer_fields'),
      // A host's context hook gets the same fields, and the tool's own name.
      context: (args: unknown, call: { toolName: string; action: string }) => {
        seen.push({ toolName: call.toolName, action: call.action, args });
        return args as Record<string, unknown>;
      },
    };
    const result = await runGoverned(governAgent(agent, options), 'Tidy the page', {
      ...options,
      runner: new Runner({ tracingDisabled: true }),
    });
    expect(result.finalOutput).toBe('Only the top bar is mine to touch.');
    expect(done).toEqual(['click 500,40']);

    const decisions = (await store.query({ traceId: 'trace_computer_fields', order: 'asc' })).events.filter(
      (e) => e.type === 'decision',
    );
    expect(decisions.map((e) => [e.effect, e.context])).toEqual([
      [
        'allow',
        { type: 'click', x: 500, y: 40, button: 'left', action_type: 'click', target: { x: 500, y: 40 } },
      ],
      [
        'deny',
        {
          type: 'drag',
          path: [
            { x: 500, y: 40 },
            { x: 300, y: 600 },
          ],
          action_type: 'drag',
          target: { x: 300, y: 600 }, // where the drag ends
        },
      ],
      ['deny', { type: 'keypress', keys: ['ctrl', 'a'], action_type: 'keypress' }], // no point: no target
    ]);
    expect(seen.map((s) => [s.toolName, s.action])).toEqual([
      [browse.name, 'execute:computer_use'],
      [browse.name, 'execute:computer_use'],
      [browse.name, 'execute:computer_use'],
    ]);
    expect(seen[0]!.args).toMatchObject({ action_type: 'click', target: { x: 500, y: 40 } });
  });

  it('checks each hosted MCP call through onApproval: allowed calls are approved, others rejected with the reason', async () => {
    const { guard, store } = createTestGuard({
      policy: `
name: crm-mcp
version: "1"
appliesTo: { tags: [support] }
rules:
  - effect: allow
    actions: ["mcp:crm:read_*"]
`,
    });
    const request = (id: string, name: string) => ({
      type: 'hosted_tool_call' as const,
      id,
      name: 'mcp_approval_request',
      providerData: {
        type: 'mcp_approval_request',
        id,
        server_label: 'crm',
        name,
        arguments: '{"customer_id":"CUST-1"}',
      },
    });
    let responses = '';
    const model = new ScriptedModel([
      [request('mcpr_1', 'read_customer'), request('mcpr_2', 'delete_customer')],
      modelResponder((call) => {
        responses = JSON.stringify(call.request.input);
        return [assistantMessage('I read the record; deleting is not allowed.')];
      }),
    ]);
    const agent = new Agent({
      name: 'Customer Support Agent',
      instructions: 'Use the CRM.',
      model,
      tools: [hostedMcpTool({ serverLabel: 'crm', serverUrl: 'https://crm.example.test/mcp' })],
    });
    const options = supportOptions(guard, 'trace_mcp');
    const governed = governAgent(agent, options);
    expect(
      (governed.tools[0] as unknown as { providerData: { require_approval: string } }).providerData
        .require_approval,
    ).toBe('always');
    const result = await new Runner({ tracingDisabled: true }).run(governed, 'Delete customer CUST-1');
    expect(result.finalOutput).toBe('I read the record; deleting is not allowed.');
    expect(responses).toContain('"approval_request_id":"mcpr_1"');
    expect(responses).toMatch(
      /"approve":false[^}]*"approval_request_id":"mcpr_2"|"approval_request_id":"mcpr_2"[^}]*"approve":false/,
    );
    expect(responses).toContain('Blocked by policy: Nothing allows');
    const events = (await store.query({ traceId: 'trace_mcp', order: 'asc' })).events;
    expect(trail(events)).toEqual([
      'decision Customer Support Agent mcp:crm:read_customer allow',
      'decision Customer Support Agent mcp:crm:delete_customer deny',
      'outcome Customer Support Agent mcp:crm:delete_customer deny/blocked',
    ]);
    expect(events[0]!.context).toEqual({ customer_id: 'CUST-1' });
  });

  it('checks local shell commands; a denied command is rejected at once through onApproval', async () => {
    const { guard, store } = seedGuard([
      COMPUTER_POLICY.replace('commands: { exists: true }', 'commands: { exists: false }'),
    ]);
    const ran: string[] = [];
    const shell = {
      run: async (action: { commands: string[] }) => {
        ran.push(...action.commands);
        return { output: [] };
      },
    };
    const model = new ScriptedModel([
      [
        {
          type: 'shell_call',
          callId: 'sh_1',
          status: 'completed',
          action: { commands: ['cat /etc/passwd'], timeoutMs: 1000 },
        },
      ],
      [assistantMessage('I cannot run that.')],
    ]);
    const localShell = shellTool({ shell: shell as never });
    const agent = new Agent({
      name: 'Customer Support Agent',
      instructions: 'Use the shell.',
      model,
      tools: [localShell],
    });
    const asked: unknown[] = [];
    const options = {
      ...supportOptions(guard, 'trace_shell'),
      context: (args: unknown, call: { toolName: string; action: string }) => {
        asked.push([call.toolName, call.action, args]);
        return args as Record<string, unknown>;
      },
    };
    const result = await new Runner({ tracingDisabled: true }).run(governAgent(agent, options), 'Show users');
    expect(result.interruptions ?? []).toEqual([]);
    expect(result.finalOutput).toBe('I cannot run that.');
    expect(ran).toEqual([]);
    // A local shell's call was checked before it ran: it is no hosted call to record afterwards.
    expect(await recordHostedToolCalls(result, options)).toBe(0);
    // The check's context is the SDK's shell action as the model sent it.
    expect(asked).toEqual([
      [localShell.name, 'execute:shell', { commands: ['cat /etc/passwd'], timeoutMs: 1000 }],
    ]);
    const events = (await store.query({ traceId: 'trace_shell', order: 'asc' })).events;
    expect(trail(events)).toEqual([
      'decision Customer Support Agent execute:shell deny',
      'outcome Customer Support Agent execute:shell deny/blocked',
    ]);
  });
});
