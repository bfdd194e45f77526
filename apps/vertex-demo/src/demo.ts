import { type Content, GoogleGenAI } from '@google/genai';
import { type AuditEvent, createFileParking, createGuard, type EmbeddedGuard } from '@meshguard/core';
import {
  FRAMEWORK,
  governBuiltinTools,
  governFunctions,
  resumeParkedChat,
  runGovernedChat,
} from '@meshguard/vertex';
import { fixedTokenAuthClient, startVertexEmulator, type VertexEmulator } from '@meshguard/vertex/testing';
import pc from 'picocolors';
import {
  APPROVAL_REQUEST,
  DESK_FUNCTIONS,
  DESK_INSTRUCTIONS,
  FUNCTIONS,
  IDENTITY,
  INSTRUCTIONS,
  REFUNDS_DESK,
  SEARCH_TURN,
  SUPPORT_TURNS,
  scriptedApprovalScene,
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
  /**
   * The approval scene: where the paused chat is parked, and the person who answers (another
   * process, as a manager with the CLI would: `meshguard approvals approve <id>`). Without it the
   * scene is left out.
   */
  approval?: { parkingDir: string; approve: (approvalId: string) => Promise<void> } | undefined;
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
    const scene = options.approval ? scriptedApprovalScene() : [];
    emulator = live ? undefined : await startVertexEmulator({ script: [...scriptedStory(), ...scene] });
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
        if (event.type === 'approval_granted' || event.type === 'approval_rejected') {
          const answer = event.type === 'approval_granted' ? pc.green('APPROVED') : pc.red('REJECTED');
          p(
            `   ${answer} by ${event.actor ?? 'someone'}: ${event.action} ${pc.dim(`(${event.approvalId})`)}`,
          );
          continue;
        }
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

    if (options.approval) {
      // The chat pauses on the approval and is parked (its history and the call), a manager
      // approves from another process, and the chat is rebuilt from the parked history and goes
      // on: the refund runs once. Live, the same request reaches Gemini, which calls the function.
      p(pc.bold('3. A refund a manager approves: the chat waits, a person answers, the chat goes on\n'));
      const parking = createFileParking(options.approval.parkingDir);
      const desk = governFunctions({ guard, identity: REFUNDS_DESK, functions: DESK_FUNCTIONS, traceId });
      const config = { systemInstruction: DESK_INSTRUCTIONS, tools: [desk.tool] };
      p(`${pc.cyan('user')}  ${APPROVAL_REQUEST}`);
      const paused = await runGovernedChat({
        chat: ai.chats.create({ model, config }),
        message: APPROVAL_REQUEST,
        functions: desk,
        parking,
      });
      await showDecisions();
      const [pending] = paused.pendingApprovals;
      if (paused.status !== 'awaiting_approval' || !pending) {
        throw new Error(`the refund was not parked for approval (the chat ended ${paused.status})`);
      }
      p(
        `   ${pc.dim(`chat parked under ${pending.approvalId}; asking a refund manager (another process)...`)}`,
      );
      await options.approval.approve(pending.approvalId);
      p(`   ${pc.dim('approved; resuming the parked chat')}`);
      // `Content`: the parked history is the @google/genai chat's own.
      const resumed = await resumeParkedChat<Content>(pending.approvalId, {
        functions: desk,
        parking,
        chat: (history) => ai.chats.create({ model, config, history }),
      });
      await showDecisions();
      p(`${pc.magenta('Refunds Desk')}  ${resumed.text}\n`);
    }
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
