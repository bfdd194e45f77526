import type { IncomingMessage, ServerResponse } from 'node:http';
import { createEmulatorRecord, readJsonBody, sendJson, startEmulatorServer } from '@meshguard/core/testing';

/** One output item of the Responses API, in its wire shape (`function_call`, `message`, `web_search_call`...). */
export type ResponsesOutputItem = Record<string, unknown> & { type: string };

/** What the emulator answers one request with: output items, or a function of the request body. */
export type ResponsesTurn = ResponsesOutputItem[] | ((body: ResponsesRequestBody) => ResponsesOutputItem[]);

export interface ResponsesRequestBody {
  model?: string;
  input?: unknown;
  tools?: Array<{ type: string; name?: string }>;
  stream?: boolean;
  [key: string]: unknown;
}

export interface ResponsesEmulator {
  /** The base URL to give `new OpenAIProvider({ baseURL })` (ends in `/v1`). */
  readonly url: string;
  /** Every request body received, in order. */
  readonly requests: ResponsesRequestBody[];
  /** Problems found in what the client sent (a missing `function_call_output`, a bad body...). */
  readonly problems: string[];
  /** How many scripted turns are left. */
  readonly remaining: number;
  close(): Promise<void>;
}

/** A `function_call` output item. */
export function responsesFunctionCall(
  name: string,
  args: Record<string, unknown>,
  callId: string,
): ResponsesOutputItem {
  return {
    type: 'function_call',
    id: `fc_${callId}`,
    call_id: callId,
    name,
    arguments: JSON.stringify(args),
    status: 'completed',
  };
}

/** An assistant `message` output item with one text part. */
export function responsesMessage(
  text: string,
  id = `msg_${Math.random().toString(16).slice(2, 10)}`,
): ResponsesOutputItem {
  return {
    type: 'message',
    id,
    role: 'assistant',
    status: 'completed',
    content: [{ type: 'output_text', text, annotations: [] }],
  };
}

/** A hosted `web_search_call` output item (OpenAI ran the search itself). */
export function responsesWebSearchCall(query: string, id = 'ws_1'): ResponsesOutputItem {
  return { type: 'web_search_call', id, status: 'completed', action: { type: 'search', query } };
}

/**
 * A `shell_call` output item of a hosted shell (`shellTool({ environment: { type: 'container_auto' } })`):
 * OpenAI ran the commands in its own container. `callId` defaults to `call_<id>`.
 */
export function responsesShellCall(
  commands: string[],
  options: { id?: string; callId?: string; timeoutMs?: number } = {},
): ResponsesOutputItem {
  const id = options.id ?? 'sh_1';
  return {
    type: 'shell_call',
    id,
    call_id: options.callId ?? `call_${id}`,
    status: 'completed',
    action: { commands, timeout_ms: options.timeoutMs ?? null, max_output_length: null },
    environment: { type: 'container_reference', container_id: 'cntr_emulated' },
  };
}

/**
 * The `shell_call_output` item OpenAI sends after running a hosted shell call: one result per
 * command, each an exit code or `'timeout'`.
 */
export function responsesShellCallOutput(
  callId: string,
  results: Array<{ stdout?: string; stderr?: string; exit: number | 'timeout' }>,
  id = `sho_${callId}`,
): ResponsesOutputItem {
  return {
    type: 'shell_call_output',
    id,
    call_id: callId,
    status: 'completed',
    max_output_length: null,
    output: results.map(({ stdout = '', stderr = '', exit }) => ({
      stdout,
      stderr,
      outcome: exit === 'timeout' ? { type: 'timeout' } : { type: 'exit', exit_code: exit },
    })),
  };
}

/**
 * A local server speaking the OpenAI Responses API (`POST /v1/responses`, JSON or SSE streaming)
 * from a script of turns, so the real `OpenAIProvider` can be exercised offline. It checks that
 * each `function_call` it sent is answered by a `function_call_output` with the same `call_id`.
 *
 * @example
 * const emulator = await startResponsesEmulator({ script: [[responsesMessage('Hello!')]] });
 * const provider = new OpenAIProvider({ apiKey: 'test', baseURL: emulator.url, useResponses: true });
 */
export async function startResponsesEmulator(options: {
  script: ResponsesTurn[];
}): Promise<ResponsesEmulator> {
  const record = createEmulatorRecord<ResponsesTurn, ResponsesRequestBody>(options.script);
  const { requests, problems } = record;
  let awaiting: string[] = [];
  let sequence = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST' || !req.url?.endsWith('/responses')) {
      return sendError(res, 404, `the emulator answers POST /v1/responses, not ${req.method} ${req.url}`);
    }
    if (!req.headers.authorization?.startsWith('Bearer ')) {
      return sendError(res, 401, 'missing bearer token');
    }
    const read = await readJsonBody(req);
    if (!read.ok) {
      problems.push('request body is not JSON');
      return sendError(res, 400, 'request body is not JSON');
    }
    const body = read.json as ResponsesRequestBody;
    requests.push(body);
    const answered = new Set(
      (Array.isArray(body.input) ? body.input : [])
        .filter((i: { type?: string }) => i?.type === 'function_call_output')
        .map((i: { call_id?: string }) => i.call_id),
    );
    for (const callId of awaiting) {
      if (!answered.has(callId))
        problems.push(`request ${requests.length}: no function_call_output for ${callId}`);
    }
    const turn = record.next();
    if (!turn) {
      problems.push(`request ${requests.length}: the script has no turn left`);
      return sendError(res, 500, 'the emulator script has no turn left');
    }
    const output = typeof turn === 'function' ? turn(body) : turn;
    awaiting = output.filter((i) => i.type === 'function_call').map((i) => String(i.call_id));
    const response = {
      id: `resp_${++sequence}`,
      object: 'response',
      created_at: Math.floor(Date.now() / 1000),
      status: 'completed',
      model: body.model ?? 'gpt-emulated',
      output,
      parallel_tool_calls: true,
      tool_choice: 'auto',
      tools: body.tools ?? [],
      usage: {
        input_tokens: 10,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: 5,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 15,
      },
    };
    if (!body.stream) return sendJson(res, 200, response, { 'x-request-id': `req_${sequence}` });
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let n = 0;
    const send = (type: string, data: Record<string, unknown>) =>
      res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: n++, ...data })}\n\n`);
    send('response.created', { response: { ...response, status: 'in_progress', output: [] } });
    output.forEach((item, index) => {
      send('response.output_item.added', { output_index: index, item: { ...item, status: 'in_progress' } });
      if (item.type === 'message') {
        const text = (item.content as Array<{ text?: string }>)[0]?.text ?? '';
        for (const delta of text.match(/.{1,8}/gs) ?? []) {
          send('response.output_text.delta', {
            item_id: item.id,
            output_index: index,
            content_index: 0,
            delta,
          });
        }
      }
      send('response.output_item.done', { output_index: index, item });
    });
    send('response.completed', { response });
    res.end();
  };

  const server = await startEmulatorServer({
    handle,
    problems,
    fail: (res) => void sendError(res, 500, 'emulator error'),
  });
  return {
    url: `${server.url}/v1`,
    requests,
    problems,
    get remaining() {
      return record.remaining;
    },
    close: server.close,
  };
}

function sendError(res: ServerResponse, status: number, message: string) {
  return sendJson(res, status, {
    error: { message, type: 'invalid_request_error', code: null, param: null },
  });
}
