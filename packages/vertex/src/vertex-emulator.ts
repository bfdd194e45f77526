import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createEmulatorRecord, readJsonBody, sendJson, startEmulatorServer } from '@meshguard/core/testing';
import { createEmulatorCertificate, type EmulatorCertificate } from './emulator-certificate';

/** A Gemini content part in its wire shape (`text`, `functionCall`, `executableCode`...). */
export type VertexPart = Record<string, unknown>;

/** What the emulated model answers one request with. */
export interface VertexModelTurn {
  parts: VertexPart[];
  /** What Google's built-in tools did (search queries, sources), as Vertex reports it. */
  groundingMetadata?: Record<string, unknown>;
  /** The pages URL context fetched (`{ urlMetadata: [{ retrievedUrl, urlRetrievalStatus }] }`). */
  urlContextMetadata?: Record<string, unknown>;
  /** Default `STOP`. */
  finishReason?: string;
  /**
   * Why the prompt was refused, as Vertex reports it (`{ blockReason: 'SAFETY' }`): the response
   * then has no candidates.
   */
  promptFeedback?: Record<string, unknown>;
}

/** A scripted turn: fixed, or computed from the request (to answer what the client sent). */
export type VertexTurn = VertexModelTurn | ((request: VertexRequest) => VertexModelTurn);

/** One request the emulator received. */
export interface VertexRequest {
  method: 'generateContent' | 'streamGenerateContent';
  /** The model name from the path (`gemini-2.5-flash`). */
  model: string;
  /** The request path without the query. */
  path: string;
  body: {
    contents?: Array<{ role?: string; parts?: VertexPart[] }>;
    tools?: Array<Record<string, unknown>>;
    systemInstruction?: unknown;
    generationConfig?: Record<string, unknown>;
    [key: string]: unknown;
  };
}

export interface VertexEmulator {
  /**
   * For `@google/genai`: `httpOptions: { baseUrl: emulator.url }` (`http://127.0.0.1:<port>`,
   * or `https://localhost:<port>` with TLS).
   */
  readonly url: string;
  /** For `@google-cloud/vertexai` (TLS only): `apiEndpoint: emulator.apiEndpoint` (`localhost:<port>`). */
  readonly apiEndpoint: string;
  /** The CA certificate (PEM) that signed the emulator's certificate, when it serves TLS. */
  readonly ca: string | undefined;
  /** Every request received, in order. */
  readonly requests: VertexRequest[];
  /** What the client got wrong (an unanswered `functionCall`, a wrong id, a lost thought signature...). */
  readonly problems: string[];
  /** How many scripted turns are left. */
  readonly remaining: number;
  close(): Promise<void>;
}

export interface VertexEmulatorOptions {
  script: VertexTurn[];
  /**
   * Serve https (`@google-cloud/vertexai` always uses https): `true` generates a throwaway CA and
   * certificate (see `emulator.ca`); or give a certificate from `createEmulatorCertificate()`
   * made before the client's process started (`NODE_EXTRA_CA_CERTS`).
   */
  tls?: boolean | EmulatorCertificate;
  /** The bearer token requests must carry (default: any). */
  token?: string;
}

/** A `functionCall` part; `thoughtSignature` as Gemini 2.5+/3 models attach to it. */
export function functionCallPart(
  name: string,
  args: Record<string, unknown>,
  options: { id?: string; thoughtSignature?: string } = {},
): VertexPart {
  return {
    functionCall: { ...(options.id ? { id: options.id } : {}), name, args },
    ...(options.thoughtSignature ? { thoughtSignature: options.thoughtSignature } : {}),
  };
}

/** A text part. */
export function textPart(text: string): VertexPart {
  return { text };
}

/** Code the model ran with the code execution tool, and what came of it. */
export function codeExecutionParts(code: string, output: string, outcome = 'OUTCOME_OK'): VertexPart[] {
  return [{ executableCode: { language: 'PYTHON', code } }, { codeExecutionResult: { outcome, output } }];
}

/** The `groundingMetadata` Vertex returns after a Google Search. */
export function searchGrounding(queries: string[], sources: Array<{ uri: string; title: string }>) {
  return {
    webSearchQueries: queries,
    groundingChunks: sources.map((web) => ({ web })),
    searchEntryPoint: { renderedContent: '<div>search suggestions</div>' },
  };
}

const JSON_UTF8 = { 'content-type': 'application/json; charset=UTF-8' };

const PATH =
  /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;

/**
 * A local server speaking Vertex AI's `generateContent` and `streamGenerateContent` (SSE) from a
 * script of model turns, so the real `@google/genai` and `@google-cloud/vertexai` clients can be
 * exercised offline. It checks that every `functionCall` it sent comes back in the next request's
 * history unchanged (id, thought signature) and is answered by a `functionResponse` with the
 * same name and id.
 *
 * @example
 * const emulator = await startVertexEmulator({ script: [{ parts: [textPart('Hello!')] }] });
 * const ai = new GoogleGenAI({ vertexai: true, project: 'demo', location: 'us-central1',
 *   googleAuthOptions: { authClient: fixedTokenAuthClient() as never }, httpOptions: { baseUrl: emulator.url } });
 */
export async function startVertexEmulator(options: VertexEmulatorOptions): Promise<VertexEmulator> {
  const record = createEmulatorRecord<VertexTurn, VertexRequest>(options.script);
  const { requests, problems } = record;
  let awaiting: VertexPart[] = [];
  // Unique across emulator runs, as Vertex's are: audit event ids derive from them.
  const run = randomBytes(6).toString('hex');
  let sequence = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const match = req.method === 'POST' ? PATH.exec(url.pathname) : null;
    if (!match) {
      return sendError(
        res,
        404,
        `the emulator answers POST /v1/projects/*/locations/*/publishers/google/models/*:generateContent|streamGenerateContent, not ${req.method} ${url.pathname}`,
      );
    }
    const auth = req.headers.authorization;
    if (!auth?.startsWith('Bearer ') || (options.token && auth !== `Bearer ${options.token}`)) {
      return sendError(res, 401, 'missing or wrong bearer token');
    }
    const method = match[5] as VertexRequest['method'];
    if (method === 'streamGenerateContent' && url.searchParams.get('alt') !== 'sse') {
      problems.push(`request ${requests.length + 1}: streamGenerateContent without ?alt=sse`);
    }
    const read = await readJsonBody(req);
    if (!read.ok) {
      problems.push(`request ${requests.length + 1}: body is not JSON`);
      return sendError(res, 400, 'request body is not JSON');
    }
    const body = read.json as VertexRequest['body'];
    const request: VertexRequest = { method, model: match[4]!, path: url.pathname, body };
    requests.push(request);
    problems.push(...answerProblems(requests.length, awaiting, body.contents ?? []));

    const scripted = record.next();
    if (!scripted) {
      problems.push(`request ${requests.length}: the script has no turn left`);
      return sendError(res, 500, 'the emulator script has no turn left');
    }
    const turn = typeof scripted === 'function' ? scripted(request) : scripted;
    awaiting = turn.parts.filter((p) => p.functionCall);
    const responseId = `emulated-${run}-${++sequence}`;
    const envelope = {
      modelVersion: request.model,
      createTime: new Date().toISOString(),
      responseId,
    };
    const usage = { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 };
    // A candidate that generated nothing (a SAFETY stop) has no content, as on Vertex.
    const candidate = (parts: VertexPart[], last: boolean) => ({
      ...(parts.length > 0 ? { content: { role: 'model', parts } } : {}),
      index: 0,
      ...(last ? { finishReason: turn.finishReason ?? 'STOP' } : {}),
      ...(last && turn.groundingMetadata ? { groundingMetadata: turn.groundingMetadata } : {}),
      ...(last && turn.urlContextMetadata ? { urlContextMetadata: turn.urlContextMetadata } : {}),
    });
    if (turn.promptFeedback) {
      // A blocked prompt: no candidates, only the feedback (one chunk when streamed).
      const blocked = JSON.stringify({
        promptFeedback: turn.promptFeedback,
        usageMetadata: usage,
        ...envelope,
      });
      if (method === 'generateContent') {
        res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
        res.end(blocked);
      } else {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.end(`data: ${blocked}\r\n\r\n`);
      }
      return;
    }
    if (method === 'generateContent') {
      const answer = { candidates: [candidate(turn.parts, true)], usageMetadata: usage, ...envelope };
      return sendJson(res, 200, answer, JSON_UTF8);
    }
    // Streamed as Vertex does: text in small pieces, every other part in a chunk of its own,
    // the finish reason (and grounding) on the last chunk.
    const chunks: VertexPart[][] = [];
    for (const part of turn.parts) {
      if (typeof part.text === 'string' && Object.keys(part).length === 1) {
        for (const piece of part.text.match(/.{1,12}/gs) ?? ['']) chunks.push([{ text: piece }]);
      } else chunks.push([part]);
    }
    if (chunks.length === 0) chunks.push([]);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    chunks.forEach((parts, i) => {
      const last = i === chunks.length - 1;
      const chunk = {
        candidates: [candidate(parts, last)],
        ...(last ? { usageMetadata: usage } : {}),
        ...envelope,
      };
      res.write(`data: ${JSON.stringify(chunk)}\r\n\r\n`);
    });
    res.end();
  };

  const certificate =
    options.tls === true ? await createEmulatorCertificate() : options.tls ? options.tls : undefined;
  const server = await startEmulatorServer({
    handle,
    problems,
    fail: (res) => void sendError(res, 500, 'emulator error'),
    tls: certificate,
  });
  return {
    url: server.url,
    apiEndpoint: `localhost:${server.port}`,
    ca: certificate?.ca,
    requests,
    problems,
    get remaining() {
      return record.remaining;
    },
    close: server.close,
  };
}

/**
 * What is wrong with how a request answers the function calls of the previous turn: each call
 * must come back as the model sent it (id, arguments, thought signature), followed by a
 * `functionResponse` with the same name and id; nothing may answer a call never made.
 */
function answerProblems(
  n: number,
  awaiting: VertexPart[],
  contents: Array<{ role?: string; parts?: VertexPart[] }>,
): string[] {
  const problems: string[] = [];
  const parts = contents.flatMap((c) => (c.parts ?? []).map((part) => ({ role: c.role, part })));
  const responses = parts
    .filter(({ part }) => part.functionResponse)
    .map(({ part }) => part.functionResponse as { id?: string; name?: string });
  for (const sent of awaiting) {
    const call = sent.functionCall as { id?: string; name: string; args?: unknown };
    const label = `${call.name}${call.id ? ` (${call.id})` : ''}`;
    const echoed = parts.find(
      ({ role, part }) =>
        role === 'model' &&
        (part.functionCall as { id?: string; name?: string } | undefined)?.name === call.name &&
        (part.functionCall as { id?: string }).id === call.id,
    );
    if (!echoed) problems.push(`request ${n}: the model's functionCall ${label} is missing from the history`);
    else if (sent.thoughtSignature && echoed.part.thoughtSignature !== sent.thoughtSignature)
      problems.push(`request ${n}: the thought signature of functionCall ${label} was not kept`);
    const answered = responses.filter((r) => r.name === call.name && (call.id ? r.id === call.id : true));
    if (answered.length === 0) problems.push(`request ${n}: no functionResponse for ${label}`);
  }
  if (awaiting.length > 0) {
    const asked = new Set(awaiting.map((p) => (p.functionCall as { id?: string }).id).filter(Boolean));
    for (const r of responses) {
      if (
        r.id &&
        !asked.has(r.id) &&
        !parts.some(({ part }) => (part.functionCall as { id?: string })?.id === r.id)
      )
        problems.push(`request ${n}: functionResponse ${r.name} (${r.id}) answers no call`);
    }
  }
  return problems;
}

function sendError(res: ServerResponse, status: number, message: string) {
  const statuses: Record<number, string> = {
    400: 'INVALID_ARGUMENT',
    401: 'UNAUTHENTICATED',
    404: 'NOT_FOUND',
    500: 'INTERNAL',
  };
  const error = { code: status, message, status: statuses[status] ?? 'UNKNOWN' };
  return sendJson(res, status, { error }, JSON_UTF8);
}
