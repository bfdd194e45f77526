import { GoogleGenAI } from '@google/genai';
import { type AuditEvent, createGuard, type EmbeddedGuard } from '@meshguard/core';
import { FRAMEWORK, governBuiltinTools, governFunctions, runGovernedChat } from '@meshguard/vertex';
import { fixedTokenAuthClient, startVertexEmulator, type VertexEmulator } from '@meshguard/vertex/testing';
import pc from 'picocolors';
import {
  FUNCTIONS,
  IDENTITY,
  INSTRUCTIONS,
  SEARCH_TURN,
  SUPPORT_TURNS,
  scriptedStory,
} from './support-story';

export interface DemoOptions {
  /** The policy files (examples/policies/vertex-support.yaml). */
  policies: string[];
  /** The audit store URL (`sqlite:<path>` or `memory`). */
  store: string;
  /** Where the transcript goes. */
  print: (line: string) => void;
  /** Run live on Vertex AI in this project (Application Default Credentials) instead of the emulator. */
  project?: string | undefined;
  location?: string | undefined;
  model?: string | undefined;
  /** Record under this trace id (the root `pnpm demo` runs every framework under one). */
  traceId?: string | undefined;
}

export interface DemoResult {
  traceId: string;
  events: AuditEvent[];
  verified: boolean;
  /** What the emulator found wrong in what the client sent (offline only). */
  problems: string[];
}

/** Plays the customer support story on Gemini, printing each decision as it is made. */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const live = Boolean(options.project);
  const created = await createGuard({ policies: options.policies, store: options.store });
  if (created.mode !== 'embedded') throw new Error('the demo runs embedded: unset MESHGUARD_GATEWAY_URL');
  const guard: EmbeddedGuard = created;
  const traceId = options.traceId ?? `trace_${crypto.randomUUID().replaceAll('-', '')}`;
  let emulator: VertexEmulator | undefined;
  try {
    emulator = live ? undefined : await startVertexEmulator({ script: scriptedStory() });
    const ai = emulator
      ? new GoogleGenAI({
          vertexai: true,
          project: 'meshguard-demo',
          location: 'us-central1',
          googleAuthOptions: { authClient: fixedTokenAuthClient() as never },
          httpOptions: { baseUrl: emulator.url },
        })
      : new GoogleGenAI({
          vertexai: true,
          project: options.project,
          location: options.location ?? 'us-central1',
        });
    const model = options.model ?? 'gemini-2.5-flash';
    const p = options.print;
    let shown = 0;

    const showDecisions = async () => {
      const events = await guard.query({ traceId, framework: FRAMEWORK, order: 'asc', limit: 10_000 });
      for (const event of events.slice(shown)) {
        if (event.type === 'outcome' && event.outcome === 'observed') {
          const queries = (event.context?.queries as string[] | undefined) ?? [];
          const sources = (event.context?.sources as unknown[] | undefined) ?? [];
          p(
            `   ${pc.blue('OBSERVED')} ${event.agent.name}: ${event.action} ${pc.dim(`"${queries.join('", "')}" (${sources.length} source${sources.length === 1 ? '' : 's'})`)}`,
          );
          continue;
        }
        if (event.type !== 'decision' || event.mode !== 'enforce') continue;
        const outcome = events.find(
          (o) => o.type === 'outcome' && o.decisionId === event.decisionId && o.outcome !== 'observed',
        );
        const mark =
          event.effect === 'allow'
            ? pc.green('ALLOW   ')
            : event.effect === 'deny'
              ? pc.red('DENY    ')
              : pc.yellow('APPROVAL');
        const offer = event.context?.stage === 'offer' ? pc.dim(' (offer time)') : '';
        const done = outcome?.outcome ? pc.dim(` -> ${outcome.outcome}`) : '';
        p(`   ${mark} ${event.agent.name}: ${event.action}${offer}${done}`);
        if (event.effect !== 'allow') p(`            ${pc.dim(event.reason ?? '')}`);
      }
      shown = events.length;
    };

    p(pc.bold('1. Function calling: the Customer Support Agent on Gemini\n'));
    const functions = governFunctions({ guard, identity: IDENTITY, functions: FUNCTIONS, traceId });
    const chat = ai.chats.create({
      model,
      config: { systemInstruction: INSTRUCTIONS, tools: [functions.tool] },
    });
    for (const message of SUPPORT_TURNS) {
      p(`${pc.cyan('user')}  ${message}`);
      const { text } = await runGovernedChat({ chat, message, functions });
      await showDecisions();
      p(`${pc.magenta('Gemini')}  ${text}\n`);
    }

    p(pc.bold('2. Built-in tools: Google Search allowed, code execution not offered\n'));
    p(`${pc.cyan('user')}  ${SEARCH_TURN}`);
    const builtins = await governBuiltinTools([{ googleSearch: {} }, { codeExecution: {} }], {
      guard,
      identity: IDENTITY,
      traceId,
    });
    // Built-in tools get a chat of their own: not every Gemini model takes them with function declarations.
    const searchChat = ai.chats.create({
      model,
      config: { systemInstruction: INSTRUCTIONS, tools: builtins.tools },
    });
    const { text } = await runGovernedChat({ chat: searchChat, message: SEARCH_TURN, functions, builtins });
    await showDecisions();
    p(`${pc.magenta('Gemini')}  ${text}\n`);
  } finally {
    await emulator?.close();
  }
  if (emulator && emulator.remaining > 0)
    throw new Error(
      `the offline script has ${emulator.remaining} turn${emulator.remaining === 1 ? '' : 's'} left`,
    );
  const events = await guard.query({ traceId, framework: FRAMEWORK, order: 'asc', limit: 10_000 });
  const verified = (await guard.store.verify()).ok;
  await guard.close();
  return { traceId, events, verified, problems: emulator?.problems ?? [] };
}
