// The Gemini wire shapes this adapter reads and writes, typed structurally so the same code serves
// `@google/genai` and `@google-cloud/vertexai` (both optional peers) without importing either.

/** A `functionCall` as the model sends it. Gemini 2.5+ ids it; thought signatures sit on its part. */
export interface GeminiFunctionCall {
  id?: string | undefined;
  name?: string | undefined;
  args?: unknown;
  /** A piece of arguments streamed in parts (`streamFunctionCallArguments`): such a call never runs. */
  partialArgs?: unknown[] | undefined;
  /** `true` on every piece of a call streamed in parts but the last. */
  willContinue?: boolean | undefined;
}

/** A content part (text, function call or response, code execution...). */
export interface GeminiPart {
  text?: string | undefined;
  thought?: boolean | undefined;
  thoughtSignature?: string | undefined;
  functionCall?: GeminiFunctionCall | undefined;
  functionResponse?: { id?: string | undefined; name?: string | undefined; response?: unknown } | undefined;
  executableCode?: { code?: string | undefined; language?: string | undefined } | undefined;
  codeExecutionResult?: { outcome?: string | undefined; output?: string | undefined } | undefined;
}

export interface GeminiContent {
  role?: string | undefined;
  parts?: GeminiPart[] | undefined;
}

interface GeminiCandidate {
  content?: GeminiContent | undefined;
  finishReason?: string | undefined;
  finishMessage?: string | undefined;
  groundingMetadata?: GroundingMetadata | undefined;
  /** What URL context fetched for the response, and whether each fetch worked. */
  urlContextMetadata?: UrlContextMetadata | undefined;
}

interface UrlContextMetadata {
  urlMetadata?:
    | Array<{ retrievedUrl?: string | undefined; urlRetrievalStatus?: string | undefined }>
    | undefined;
}

/** What Vertex reports about Google Search, retrieval and Maps it ran for a response. */
export interface GroundingMetadata {
  webSearchQueries?: string[] | undefined;
  retrievalQueries?: string[] | undefined;
  groundingChunks?:
    | Array<{
        web?: { uri?: string | undefined; title?: string | undefined } | undefined;
        retrievedContext?: { uri?: string | undefined; title?: string | undefined } | undefined;
        maps?: { uri?: string | undefined; title?: string | undefined } | undefined;
      }>
    | undefined;
}

/** A `generateContent` response (or one streamed chunk) of either SDK. */
export interface GeminiResponse {
  responseId?: string | undefined;
  candidates?: GeminiCandidate[] | undefined;
  /** Set when the prompt itself was blocked (the response then has no candidates). */
  promptFeedback?: { blockReason?: string | undefined; blockReasonMessage?: string | undefined } | undefined;
}

/** A function declaration of either SDK (`parameters` or `parametersJsonSchema`). */
export interface FunctionDeclarationLike {
  name?: string | undefined;
  description?: string | undefined;
  parameters?: unknown;
  parametersJsonSchema?: unknown;
}

/** The part that answers one function call. */
export interface FunctionResponsePart {
  functionResponse: { id?: string; name: string; response: Record<string, unknown> };
}

/** The function calls of the first candidate, in the order the model made them. */
export function functionCallsOf(response: GeminiResponse | undefined): GeminiFunctionCall[] {
  return (response?.candidates?.[0]?.content?.parts ?? [])
    .map((p) => p.functionCall)
    .filter((c): c is GeminiFunctionCall => c !== undefined);
}

/** The answer text of the first candidate (thoughts left out). */
export function textOf(response: GeminiResponse | undefined): string {
  return (response?.candidates?.[0]?.content?.parts ?? [])
    .filter((p) => typeof p.text === 'string' && !p.thought)
    .map((p) => p.text)
    .join('');
}

/**
 * One response from streamed chunks: every part kept as sent (thought signatures, code
 * execution), text pieces joined, grounding from whichever chunk carried it.
 */
export function mergeChunks(chunks: GeminiResponse[]): GeminiResponse {
  const parts: GeminiPart[] = [];
  let groundingMetadata: GroundingMetadata | undefined;
  let urlContextMetadata: UrlContextMetadata | undefined;
  let finishReason: string | undefined;
  let finishMessage: string | undefined;
  let promptFeedback: GeminiResponse['promptFeedback'];
  let answered = false;
  for (const chunk of chunks) {
    promptFeedback = chunk.promptFeedback ?? promptFeedback;
    const candidate = chunk.candidates?.[0];
    if (candidate) answered = true;
    for (const part of candidate?.content?.parts ?? []) {
      const previous = parts.at(-1);
      const plainText = (p: GeminiPart | undefined) =>
        p !== undefined && typeof p.text === 'string' && Object.keys(p).length === 1;
      if (plainText(part) && plainText(previous)) previous!.text += part.text!;
      else parts.push({ ...part });
    }
    groundingMetadata = candidate?.groundingMetadata ?? groundingMetadata;
    urlContextMetadata = candidate?.urlContextMetadata ?? urlContextMetadata;
    finishReason = candidate?.finishReason ?? finishReason;
    finishMessage = candidate?.finishMessage ?? finishMessage;
  }
  const responseId = chunks.find((c) => c.responseId)?.responseId;
  return {
    ...(responseId ? { responseId } : {}),
    ...(promptFeedback ? { promptFeedback } : {}),
    // A blocked prompt streams no candidate at all: say so, rather than invent an empty answer.
    candidates: !answered
      ? []
      : [
          {
            content: { role: 'model', parts },
            ...(finishReason ? { finishReason } : {}),
            ...(finishMessage ? { finishMessage } : {}),
            ...(groundingMetadata ? { groundingMetadata } : {}),
            ...(urlContextMetadata ? { urlContextMetadata } : {}),
          },
        ],
  };
}
