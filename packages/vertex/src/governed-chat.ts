import { ConfigError, MeshGuardError } from '@meshguard/core';
import type { GovernedBuiltinTools } from './builtin-tools';
import {
  type FunctionResponsePart,
  functionCallsOf,
  type GeminiContent,
  type GeminiPart,
  type GeminiResponse,
  mergeChunks,
  textOf,
} from './gemini-parts';
import type { GovernedFunctions } from './govern-functions';

/** `@google/genai`'s `Chat` (`ai.chats.create(...)`). */
export interface GenAIChatLike {
  sendMessage(params: { message: unknown }): Promise<GeminiResponse>;
  sendMessageStream(params: { message: unknown }): Promise<AsyncIterable<GeminiResponse>>;
}

/** `@google-cloud/vertexai`'s `ChatSession` (`model.startChat({})`). */
export interface LegacyChatLike {
  sendMessage(request: string | unknown[]): Promise<{ response: GeminiResponse }>;
  sendMessageStream(
    request: string | unknown[],
  ): Promise<{ stream: AsyncIterable<GeminiResponse>; response: Promise<GeminiResponse> }>;
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
}

export interface GovernedChatResult {
  /** The model's final answer text. */
  text: string;
  /** Every model response of this message, in order (streamed ones merged from their chunks). */
  responses: GeminiResponse[];
  /** The function responses sent back, round by round. */
  functionResponses: FunctionResponsePart[][];
}

type Send = (message: string | GeminiPart[]) => Promise<GeminiResponse>;

/**
 * The function-calling loop for either SDK's chat (or `generateContent` with a history): sends the
 * message, answers the model's function calls through `functions` (checked first), and repeats
 * until the model answers in text.
 *
 * @example
 * const chat = ai.chats.create({ model: 'gemini-2.5-flash', config: { tools: [functions.tool] } });
 * const { text } = await runGovernedChat({ chat, message: 'Refund $150 on ORD-2', functions });
 */
export async function runGovernedChat<C extends GeminiContent = GeminiContent>(
  options: RunGovernedChatOptions<C>,
): Promise<GovernedChatResult> {
  const maxRounds = options.maxRounds ?? 10;
  if (!Number.isInteger(maxRounds) || maxRounds < 1) {
    throw new ConfigError(
      `runGovernedChat: maxRounds must be a positive integer, got ${String(options.maxRounds)}`,
      {
        code: 'max_rounds_invalid',
      },
    );
  }
  if (typeof options.functions?.respond !== 'function') {
    throw new ConfigError('runGovernedChat: `functions` must come from governFunctions(...)', {
      code: 'functions_invalid',
    });
  }
  const send = sender(options);
  const responses: GeminiResponse[] = [];
  const functionResponses: FunctionResponsePart[][] = [];
  let message: string | GeminiPart[] = options.message;
  for (let round = 1; round <= maxRounds; round++) {
    const response = await send(message);
    responses.push(response);
    await options.builtins?.recordBuiltinActivity(response);
    const calls = functionCallsOf(response);
    if (calls.length === 0) refuseBlocked(response);
    if (calls.length === 0) return { text: textOf(response), responses, functionResponses };
    if (round === maxRounds) break;
    const parts = await options.functions.respond(calls);
    functionResponses.push(parts);
    message = parts;
  }
  throw new MeshGuardError(
    `runGovernedChat: the model was still calling functions after ${maxRounds} rounds (maxRounds)`,
    { code: 'max_rounds_exceeded' },
  );
}

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

function sender<C extends GeminiContent>(options: RunGovernedChatOptions<C>): Send {
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
    return async (message) => {
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
  }
  if ('modelsModule' in c && typeof c.sendMessage === 'function') {
    const g = chat as GenAIChatLike;
    return async (message) =>
      stream ? streamed(await g.sendMessageStream({ message })) : g.sendMessage({ message });
  }
  if (typeof c.fetchToken === 'function' && typeof c.sendMessage === 'function') {
    const l = chat as LegacyChatLike & { sendStreamPromise?: Promise<void> };
    return async (message) => {
      if (!stream) return (await l.sendMessage(message)).response;
      const result = await l.sendMessageStream(message);
      // The SDK's own aggregate drops thought signatures and code execution parts: merge the chunks here.
      const response = await streamed(result.stream);
      // The chat appends the model's turn to its history only once this settles.
      await l.sendStreamPromise;
      return response;
    };
  }
  throw new ConfigError(
    'runGovernedChat: `chat` must be an @google/genai chat (ai.chats.create), an @google-cloud/vertexai chat (model.startChat({})), or { history, generateContent }',
    { code: 'chat_invalid' },
  );
}
