import { ConfigError, MeshGuardError, type RunParking } from '@meshguard/core';
import type { GovernedBuiltinTools } from './builtin-tools';
import {
  type FunctionResponsePart,
  functionCallsOf,
  type GeminiContent,
  type GeminiFunctionCall,
  type GeminiPart,
  type GeminiResponse,
  mergeChunks,
  textOf,
} from './gemini-parts';
import { functionsInternals, type GovernedFunctions, type WaitingCall } from './govern-functions';
import { type ParkedChat, parkChat, parkingOf } from './vertex-parking';

/** `@google/genai`'s `Chat` (`ai.chats.create(...)`). */
export interface GenAIChatLike {
  sendMessage(params: { message: unknown }): Promise<GeminiResponse>;
  sendMessageStream(params: { message: unknown }): Promise<AsyncIterable<GeminiResponse>>;
  /** The chat's history (what `parking` parks). */
  getHistory?(curated?: boolean): GeminiContent[];
}

/** `@google-cloud/vertexai`'s `ChatSession` (`model.startChat({})`). */
export interface LegacyChatLike {
  sendMessage(request: string | unknown[]): Promise<{ response: GeminiResponse }>;
  sendMessageStream(
    request: string | unknown[],
  ): Promise<{ stream: AsyncIterable<GeminiResponse>; response: Promise<GeminiResponse> }>;
  /** The chat's history (what `parking` parks). */
  getHistory?(): Promise<GeminiContent[]>;
}

/**
 * `generateContent` with a history you keep: the loop appends the user's message, the model's
 * content exactly as it came (thought signatures, call ids) and the function responses.
 */
export interface HistoryChat<C extends GeminiContent = GeminiContent> {
  history: C[];
  generateContent(contents: C[]): Promise<GeminiResponse | { response: GeminiResponse }>;
  /** Needed for `stream: true`: the chunks of `streamGenerateContent`. */
  generateContentStream?(
    contents: C[],
  ): Promise<AsyncIterable<GeminiResponse> | { stream: AsyncIterable<GeminiResponse> }>;
}

export interface RunGovernedChatOptions<C extends GeminiContent = GeminiContent> {
  /** `C`: your SDK's `Content` type, for a history chat. */
  chat: GenAIChatLike | LegacyChatLike | HistoryChat<C>;
  /** The user's message: text or parts. */
  message: string | GeminiPart[];
  functions: GovernedFunctions;
  /** How many model requests one message may take (default 10). */
  maxRounds?: number;
  /** Use `sendMessageStream` / `streamGenerateContent`. */
  stream?: boolean;
  /** Streamed answer text as it arrives. */
  onText?: (text: string) => void;
  /** Records the built-in tools' activity of every response (`governBuiltinTools(...)`). */
  builtins?: Pick<GovernedBuiltinTools<object>, 'recordBuiltinActivity'>;
  /**
   * Where a chat waits for a person's approval (`true`: `createFileParking()` from
   * `@meshguard/core`, `.meshguard/parked`). With it, and no `onApprovalRequired` on the
   * functions, a call whose approval request is open parks the chat (its history and the calls
   * to answer) under the request's id: the result is `awaiting_approval` (`pendingApprovals`
   * names them), and `resumeParkedChat` sends the function responses from any process once a
   * person has answered.
   */
  parking?: RunParking | true;
}

/** A call the chat waits on: its approval request is open, and the chat is parked under its id. */
export interface PendingApproval {
  /** The approval request's id: what `meshguard approvals approve <id>` and `resumeParkedChat` take. */
  approvalId: string;
  /** When the request expires unanswered. */
  expiresAt: string;
  /** The function the model called, its call id and arguments, and the policy action. */
  name: string;
  id: string | undefined;
  args: Record<string, unknown>;
  action: string;
}

export interface GovernedChatResult {
  /**
   * `completed`: the model answered; `awaiting_approval`: the chat is parked until a person
   * answers `pendingApprovals` (resume it with `resumeParkedChat`).
   */
  status: 'completed' | 'awaiting_approval';
  /** The approvals a parked chat waits on (empty unless `status` is `awaiting_approval`). */
  pendingApprovals: PendingApproval[];
  /** The trace the chat's decisions are recorded under. */
  traceId: string;
  /** The model's final answer text (empty while the chat waits for approvals). */
  text: string;
  /** Every model response of this message, in order (streamed ones merged from their chunks). */
  responses: GeminiResponse[];
  /** The function responses sent back, round by round. */
  functionResponses: FunctionResponsePart[][];
}

type Send = (message: string | GeminiPart[]) => Promise<GeminiResponse>;

/** A chat as the loop drives it: how to send a message, and how to read its history. */
interface Driven {
  send: Send;
  history(): Promise<GeminiContent[]>;
}

/**
 * The function-calling loop for either SDK's chat (or `generateContent` with a history): sends the
 * message, answers the model's function calls through `functions` (checked first), and repeats
 * until the model answers in text. With `parking`, a call waiting for a person's approval parks
 * the chat instead (see `parking`).
 *
 * @example
 * const chat = ai.chats.create({ model: 'gemini-2.5-flash', config: { tools: [functions.tool] } });
 * const { text } = await runGovernedChat({ chat, message: 'Refund $150 on ORD-2', functions });
 */
export async function runGovernedChat<C extends GeminiContent = GeminiContent>(
  options: RunGovernedChatOptions<C>,
): Promise<GovernedChatResult> {
  const maxRounds = checkLoopOptions('runGovernedChat', options);
  const inner = functionsInternals(options.functions);
  if (options.parking && !inner) {
    throw new ConfigError('runGovernedChat: `parking` needs functions from governFunctions(...)', {
      code: 'functions_invalid',
    });
  }
  return chatLoop({
    driven: driver(options),
    options,
    maxRounds,
    traceId: options.functions.traceId,
    first: options.message,
    ...(options.parking ? { parking: parkingOf(options.parking) } : {}),
  });
}

/** Checks what both entry points take; returns `maxRounds`. */
export function checkLoopOptions(
  where: string,
  options: Pick<RunGovernedChatOptions, 'maxRounds' | 'functions'>,
): number {
  const maxRounds = options.maxRounds ?? 10;
  if (!Number.isInteger(maxRounds) || maxRounds < 1) {
    throw new ConfigError(
      `${where}: maxRounds must be a positive integer, got ${String(options.maxRounds)}`,
      {
        code: 'max_rounds_invalid',
      },
    );
  }
  if (typeof options.functions?.respond !== 'function') {
    throw new ConfigError(`${where}: \`functions\` must come from governFunctions(...)`, {
      code: 'functions_invalid',
    });
  }
  return maxRounds;
}

/** The loop of a chat, from its first message (the user's, or a resumed chat's function responses). */
export async function chatLoop(run: {
  driven: Driven;
  options: Pick<RunGovernedChatOptions, 'functions' | 'builtins'>;
  maxRounds: number;
  traceId: string;
  first: string | GeminiPart[];
  parking?: RunParking;
  /** A resumed chat: the function responses it starts with (reported first). */
  resumed?: FunctionResponsePart[];
  /** Called once the first message was answered (`sent`) or failed. */
  settled?(sent: boolean): Promise<void>;
}): Promise<GovernedChatResult> {
  const { driven, options, traceId } = run;
  const inner = functionsInternals(options.functions);
  const responses: GeminiResponse[] = [];
  const functionResponses: FunctionResponsePart[][] = run.resumed ? [run.resumed] : [];
  const done = (text: string, pendingApprovals: PendingApproval[] = []): GovernedChatResult => ({
    status: pendingApprovals.length > 0 ? 'awaiting_approval' : 'completed',
    pendingApprovals,
    traceId,
    text,
    responses,
    functionResponses,
  });
  let settled = run.settled;
  let message = run.first;
  for (let round = 1; round <= run.maxRounds; round++) {
    let response: GeminiResponse;
    try {
      response = await driven.send(message);
    } catch (error) {
      await settled?.(false);
      throw error;
    }
    await settled?.(true);
    settled = undefined;
    responses.push(response);
    await options.builtins?.recordBuiltinActivity(response);
    const calls = functionCallsOf(response);
    if (calls.length === 0) refuseBlocked(response);
    if (calls.length === 0) return done(textOf(response));
    if (round === run.maxRounds) break;
    const answered = inner
      ? await inner.answerCalls(calls, traceId, run.parking !== undefined)
      : await options.functions.respond(calls);
    const waiting = answered.filter((a): a is WaitingCall => !('functionResponse' in a));
    if (waiting.length > 0) {
      return done('', await parkChatTurn(run.parking!, inner!.agent.id, traceId, driven, calls, answered));
    }
    const parts = answered as FunctionResponsePart[];
    functionResponses.push(parts);
    message = parts;
  }
  throw new MeshGuardError(
    `runGovernedChat: the model was still calling functions after ${run.maxRounds} rounds (maxRounds)`,
    { code: 'max_rounds_exceeded' },
  );
}

/** Parks a chat whose calls wait for approvals: its history and every call, answered or waiting. */
async function parkChatTurn(
  parking: RunParking,
  agentId: string,
  traceId: string,
  driven: Driven,
  calls: GeminiFunctionCall[],
  answered: Array<FunctionResponsePart | WaitingCall>,
): Promise<PendingApproval[]> {
  const waiting = answered.filter((a): a is WaitingCall => !('functionResponse' in a));
  const state: ParkedChat = {
    v: 1,
    agentId,
    traceId,
    pausedAt: new Date().toISOString(),
    history: JSON.parse(JSON.stringify(await driven.history())),
    calls: calls.map((call, index) => {
      const answer = answered[index]!;
      const parked = { call: JSON.parse(JSON.stringify(call)) as GeminiFunctionCall };
      return 'functionResponse' in answer
        ? { ...parked, response: JSON.parse(JSON.stringify(answer)) as FunctionResponsePart }
        : {
            ...parked,
            approval: {
              id: answer.approval.id,
              expiresAt: answer.approval.expiresAt,
              decisionId: answer.decisionId,
            },
          };
    }),
    approvalIds: waiting.map((w) => w.approval.id),
  };
  await parkChat(parking, state);
  return waiting.map((w) => ({
    approvalId: w.approval.id,
    expiresAt: w.approval.expiresAt,
    name: w.call.name ?? '',
    id: w.call.id,
    args: isRecord(w.call.args) ? w.call.args : {},
    action: w.action,
  }));
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

// How a candidate may end with an answer worth returning; any other reason stopped it.
const FINISHED = new Set(['STOP', 'MAX_TOKENS', 'FINISH_REASON_UNSPECIFIED']);

/** Throws a clear error for a response that is no answer: a blocked prompt, a stopped candidate. */
function refuseBlocked(response: GeminiResponse): void {
  const candidate = response.candidates?.[0];
  const feedback = response.promptFeedback;
  let why: string | undefined;
  if (!candidate) {
    why = feedback?.blockReason
      ? `the prompt was blocked (${feedback.blockReason}${feedback.blockReasonMessage ? `: ${feedback.blockReasonMessage}` : ''})`
      : 'the response has no candidates';
  } else if (candidate.finishReason && !FINISHED.has(candidate.finishReason)) {
    why = `the model's answer was stopped (finishReason ${candidate.finishReason}${candidate.finishMessage ? `: ${candidate.finishMessage}` : ''})`;
  }
  if (why) {
    throw new MeshGuardError(`runGovernedChat: no answer from the model: ${why}`, {
      code: 'response_blocked',
    });
  }
}

/** How to drive `chat`: send a message (streamed or not), and read its history. */
export function driver<C extends GeminiContent>(
  options: Pick<RunGovernedChatOptions<C>, 'chat' | 'stream' | 'onText'>,
): Driven {
  const { chat, stream, onText } = options;
  const streamed = async (chunks: AsyncIterable<GeminiResponse>) => {
    const seen: GeminiResponse[] = [];
    for await (const chunk of chunks) {
      seen.push(chunk);
      const text = textOf(chunk);
      if (text && onText) onText(text);
    }
    return mergeChunks(seen);
  };
  const c = chat as unknown as Record<string, unknown>;
  if (Array.isArray(c.history) && typeof c.generateContent === 'function') {
    const h = chat as unknown as HistoryChat;
    const send: Send = async (message) => {
      h.history.push({ role: 'user', parts: typeof message === 'string' ? [{ text: message }] : message });
      const contents = structuredClone(h.history);
      let response: GeminiResponse;
      if (stream) {
        if (!h.generateContentStream) {
          throw new ConfigError(
            'runGovernedChat: stream: true needs `generateContentStream` on the history chat',
            {
              code: 'chat_invalid',
            },
          );
        }
        const result = await h.generateContentStream(contents);
        response = await streamed(Symbol.asyncIterator in result ? result : result.stream);
      } else {
        const result = await h.generateContent(contents);
        response = 'response' in result ? result.response : result;
      }
      // Verbatim: thought signatures and call ids must go back exactly as the model sent them.
      const content = response.candidates?.[0]?.content;
      if (content) h.history.push(content);
      return response;
    };
    return { send, history: async () => h.history };
  }
  if ('modelsModule' in c && typeof c.sendMessage === 'function') {
    const g = chat as GenAIChatLike;
    return {
      send: async (message) =>
        stream ? streamed(await g.sendMessageStream({ message })) : g.sendMessage({ message }),
      history: async () => historyOf(g.getHistory?.()),
    };
  }
  if (typeof c.fetchToken === 'function' && typeof c.sendMessage === 'function') {
    const l = chat as LegacyChatLike & { sendStreamPromise?: Promise<void> };
    const send: Send = async (message) => {
      if (!stream) return (await l.sendMessage(message)).response;
      const result = await l.sendMessageStream(message);
      // The SDK's own aggregate drops thought signatures and code execution parts: merge the chunks here.
      const response = await streamed(result.stream);
      // The chat appends the model's turn to its history only once this settles.
      await l.sendStreamPromise;
      return response;
    };
    return { send, history: async () => historyOf(await l.getHistory?.()) };
  }
  throw new ConfigError(
    'runGovernedChat: `chat` must be an @google/genai chat (ai.chats.create), an @google-cloud/vertexai chat (model.startChat({})), or { history, generateContent }',
    { code: 'chat_invalid' },
  );
}

function historyOf(history: GeminiContent[] | undefined): GeminiContent[] {
  if (!Array.isArray(history)) {
    throw new ConfigError('runGovernedChat: `parking` needs a chat whose history can be read (getHistory)', {
      code: 'chat_invalid',
    });
  }
  return history;
}
