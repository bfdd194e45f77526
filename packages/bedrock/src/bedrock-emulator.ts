import { createHash, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import {
  createEmulatorRecord,
  type EmulatorHttpRequest,
  type EmulatorHttpResponse,
  readJsonBody,
  sendJson,
  startEmulatorServer,
} from '@meshguard/core/testing';
import {
  checkReply,
  type PendingInput,
  type PendingReturnControl,
  type ReplyResult,
} from './bedrock-emulator-replies';
import type { BedrockScriptEvent, ScriptInvocationInput, ScriptValue } from './bedrock-emulator-script';
import { eventFrame, exceptionFrame } from './bedrock-event-stream';

/** A request the emulator received, as a script step sees it. */
export interface BedrockEmulatorRequest {
  operation: 'InvokeAgent' | 'InvokeInlineAgent';
  /** `2.0` (the AWS SDK's default, cleartext) or `1.1` (e.g. with `NodeHttpHandler`). */
  httpVersion: string;
  sessionId: string;
  /** InvokeAgent: from the path. */
  agentId?: string;
  agentAliasId?: string;
  inputText?: string;
  /** The results the client answered the last return of control with (checked already). */
  results: ReplyResult[];
  /** The JSON body as received (for an inline agent: its whole configuration). */
  body: Record<string, unknown>;
}

/** What the emulated agent answers one request with: events, or a function of the request. */
export type BedrockScriptStep =
  | BedrockScriptEvent[]
  | ((request: BedrockEmulatorRequest) => BedrockScriptEvent[] | Promise<BedrockScriptEvent[]>);

export interface BedrockEmulatorOptions {
  /** One step per request, in order: a turn with two returns of control takes three steps. */
  script: BedrockScriptStep[];
  /** The region in ARNs and `clientConfig` (default `us-east-1`). */
  region?: string;
  /**
   * The agent's idle session timeout (`idleSessionTTLInSeconds`, default 600 as on a classic
   * agent): a session that has seen no request for longer is gone, and with it the return of
   * control it waited on, so results sent to it are refused.
   */
  idleSessionTTLInSeconds?: number;
  /** The emulator's clock (milliseconds; default `Date.now`), to let sessions idle out in tests. */
  clock?: () => number;
}

export interface BedrockEmulator {
  /** The endpoint for `new BedrockAgentRuntimeClient({ endpoint })` (`http://127.0.0.1:<port>`). */
  readonly url: string;
  /** Client settings pointing here: endpoint, region, fake static credentials, one attempt (no retries). */
  readonly clientConfig: {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
    maxAttempts: number;
  };
  /** Every request received that reached the agent (not the HTTP 400s), in order. */
  readonly requests: BedrockEmulatorRequest[];
  /**
   * What the emulator refused or found wrong: the client's mistakes (each also answered as the
   * service would) and the script's (a hand-off to a collaborator the request does not have, a
   * script that ran out). A well-behaved test ends with none.
   */
  readonly problems: string[];
  /** How many script steps are left. */
  readonly remaining: number;
  close(): Promise<void>;
}

const ACCOUNT = '123456789012';
const SESSION_ID = /^[0-9a-zA-Z._:-]{2,100}$/;
const AGENT_ID = /^[0-9a-zA-Z]{1,10}$/;
const INVOKE_AGENT = /^\/agents\/([^/]+)\/agentAliases\/([^/]+)\/sessions\/([^/]+)\/text$/;
const INVOKE_INLINE_AGENT = /^\/agents\/([^/]+)$/;

/**
 * A local Bedrock Agents runtime speaking the wire protocol the AWS SDK uses: HTTP/2 cleartext
 * (and HTTP/1.1) on 127.0.0.1, `InvokeAgent` and `InvokeInlineAgent` answered with AWS
 * event-stream frames (chunk, trace, returnControl, files, exceptions) from a script. It checks
 * the client's replies the way the service does: an unknown invocationId, a result missing its
 * echoed fields, or a result for an input never asked is a `validationException`; a malformed
 * request an HTTP 400.
 *
 * @example
 * const emulator = await startBedrockEmulator({ script: [
 *   [bedrockReturnControl([bedrockFunctionInput('Orders', 'get_order', { order_id: 'ORD-1' })])],
 *   (request) => [bedrockChunk(`Your order: ${request.results[0]?.body}`)],
 * ] });
 * const client = new BedrockAgentRuntimeClient(emulator.clientConfig);
 */
export async function startBedrockEmulator(options: BedrockEmulatorOptions): Promise<BedrockEmulator> {
  const region = options.region ?? 'us-east-1';
  const record = createEmulatorRecord<BedrockScriptStep, BedrockEmulatorRequest>(options.script);
  const { requests, problems } = record;
  const pending = new Map<string, PendingReturnControl>();
  const clock = options.clock ?? Date.now;
  const idleMs = (options.idleSessionTTLInSeconds ?? 600) * 1000;
  // When each session last heard from the client (a request, or the end of its response).
  const lastActive = new Map<string, number>();

  const arn = (agentId: string, aliasId: string) =>
    `arn:aws:bedrock:${region}:${ACCOUNT}:agent-alias/${agentId}/${aliasId}`;
  const collaboratorArn = (name: string) => arn(fakeId(name), fakeId(`${name}/alias`));

  const handle = async (req: EmulatorHttpRequest, res: EmulatorHttpResponse) => {
    const read = await readJsonBody(req);
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const agentMatch = INVOKE_AGENT.exec(path);
    const inlineMatch = agentMatch ? null : INVOKE_INLINE_AGENT.exec(path);
    if (req.method !== 'POST' || (!agentMatch && !inlineMatch)) {
      return httpError(res, 404, 'UnknownOperationException', `No operation at ${req.method} ${path}`);
    }
    if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 ')) {
      return httpError(res, 403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
    }
    // An empty body is an empty object, as the service reads it.
    const parsed = read.ok ? read.json : read.raw.length === 0 ? {} : undefined;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return httpError(res, 400, 'SerializationException', 'The request body is not a JSON object');
    }
    const body = parsed as Record<string, unknown>;
    const operation = agentMatch ? 'InvokeAgent' : 'InvokeInlineAgent';
    const sessionId = decodeURIComponent((agentMatch ? agentMatch[3] : inlineMatch![1]) ?? '');
    const agentId = agentMatch ? decodeURIComponent(agentMatch[1]!) : undefined;
    const agentAliasId = agentMatch ? decodeURIComponent(agentMatch[2]!) : undefined;
    const invalid = requestShapeError(operation, sessionId, agentId, agentAliasId, body);
    if (invalid) return refuse(res, problems, 400, invalid);

    const field = operation === 'InvokeAgent' ? 'sessionState' : 'inlineSessionState';
    const idle = clock() - (lastActive.get(sessionId) ?? Number.POSITIVE_INFINITY);
    const expired = idle > idleMs;
    if (expired && lastActive.has(sessionId)) {
      // Idle past the timeout: Bedrock has deleted the session, and what it waited on with it.
      pending.delete(sessionId);
      lastActive.delete(sessionId);
    }
    lastActive.set(sessionId, clock());
    const waiting = pending.get(sessionId);
    let reply = checkReply(waiting, body[field], field);
    if (reply.kind === 'http') return refuse(res, problems, 400, reply.message);
    if (reply.kind === 'stream' && !waiting && expired && Number.isFinite(idle)) {
      reply = {
        kind: 'stream',
        message: `${reply.message} (session ${sessionId} expired: idle for ${Math.round(idle / 1000)} s, over its idleSessionTTLInSeconds of ${idleMs / 1000} s)`,
      };
    }

    res.writeHead(200, {
      'content-type': 'application/vnd.amazon.eventstream',
      'x-amzn-bedrock-agent-content-type': 'application/json',
      'x-amz-bedrock-agent-session-id': sessionId,
      'x-amzn-requestid': randomUUID(),
    });
    const out = res as ServerResponse;
    const send = (frame: Uint8Array) => out.write(frame);
    const end = () =>
      new Promise<void>((resolve) => {
        lastActive.set(sessionId, clock());
        out.end(resolve);
      });

    if (reply.kind === 'stream') {
      problems.push(reply.message);
      send(exceptionFrame('validationException', reply.message));
      return end();
    }
    if (reply.kind === 'none' && waiting) {
      problems.push(
        `session ${sessionId}: a new request came while invocationId ${waiting.invocationId} still waited for results (they were never sent)`,
      );
      pending.delete(sessionId); // a new turn: the unanswered invocation is abandoned
    }
    if (reply.kind === 'ok' && operation === 'InvokeInlineAgent' && waiting) {
      const lost = missingActionGroup(waiting, body);
      if (lost) {
        problems.push(lost);
        send(exceptionFrame('validationException', lost));
        return end();
      }
    }
    if (reply.kind === 'ok') pending.delete(sessionId);
    if (reply.kind === 'ok' && reply.failed) {
      const message = `The action group ${reply.failed.actionGroup} failed to complete (responseState FAILURE)`;
      send(exceptionFrame('dependencyFailedException', message));
      return end();
    }

    const request: BedrockEmulatorRequest = {
      operation,
      httpVersion: req.httpVersion,
      sessionId,
      ...(agentId ? { agentId } : {}),
      ...(agentAliasId ? { agentAliasId } : {}),
      ...(typeof body.inputText === 'string' ? { inputText: body.inputText } : {}),
      results: reply.kind === 'ok' ? reply.results : [],
      body,
    };
    requests.push(request);
    const step = record.next();
    if (!step) {
      const message = `emulator: no scripted response left for ${operation} in session ${sessionId}`;
      problems.push(message);
      send(exceptionFrame('internalServerException', message));
      return end();
    }
    let events: BedrockScriptEvent[];
    try {
      events = typeof step === 'function' ? await step(request) : step;
    } catch (error) {
      const message = `emulator: the script step threw: ${error instanceof Error ? error.message : String(error)}`;
      problems.push(message);
      send(exceptionFrame('internalServerException', message));
      return end();
    }

    const root = agentId ? arn(agentId, agentAliasId!) : arn('INLINE_AGENT', 'TSTALIASID');
    const tracePart = (trace: Record<string, unknown>, by: string | undefined) => ({
      sessionId,
      trace,
      callerChain: by
        ? [{ agentAliasArn: root }, { agentAliasArn: collaboratorArn(by) }]
        : [{ agentAliasArn: root }],
      eventTime: new Date().toISOString(),
      ...(by ? { collaboratorName: by } : {}),
      ...(operation === 'InvokeAgent'
        ? {
            agentId: by ? fakeId(by) : agentId,
            agentAliasId: by ? fakeId(`${by}/alias`) : agentAliasId,
            agentVersion: '1',
          }
        : {}),
    });
    const invocationInput = (input: Record<string, unknown>) => ({
      orchestrationTrace: { invocationInput: { traceId: `${randomUUID()}-0`, ...input } },
    });

    for (const event of events) {
      // Frames go out one by one, as the service streams them.
      await new Promise((resolve) => setImmediate(resolve));
      switch (event.type) {
        case 'chunk':
          send(eventFrame('chunk', { bytes: Buffer.from(event.text, 'utf8').toString('base64') }));
          break;
        case 'trace':
          send(eventFrame('trace', tracePart(event.trace, event.by)));
          break;
        case 'collaboratorInvocation': {
          if (operation === 'InvokeInlineAgent' && !hasCollaborator(body, event.collaboratorName)) {
            problems.push(
              `script: a hand-off to collaborator ${event.collaboratorName}, which this request's configuration does not have`,
            );
          }
          const input = invocationInput({
            invocationType: 'AGENT_COLLABORATOR',
            agentCollaboratorInvocationInput: {
              agentCollaboratorName: event.collaboratorName,
              agentCollaboratorAliasArn: collaboratorArn(event.collaboratorName),
              input: { type: 'TEXT', text: event.text },
            },
          });
          send(eventFrame('trace', tracePart(input, event.by)));
          break;
        }
        case 'knowledgeBaseLookup': {
          const input = invocationInput({
            invocationType: 'KNOWLEDGE_BASE',
            knowledgeBaseLookupInput: { knowledgeBaseId: event.knowledgeBaseId, text: event.text },
          });
          send(eventFrame('trace', tracePart(input, event.by)));
          break;
        }
        case 'files':
          send(
            eventFrame('files', {
              files: event.files.map((f) => ({
                name: f.name,
                type: f.type,
                bytes: Buffer.from(f.content).toString('base64'),
              })),
            }),
          );
          break;
        case 'returnControl': {
          const invocationId = event.invocationId ?? randomUUID();
          const inputs = event.inputs.map((input) =>
            pendingInput(input, operation === 'InvokeAgent' ? agentId : undefined),
          );
          if (operation === 'InvokeInlineAgent') {
            const unknown = inputs.find((i) => !hasActionGroup(body, i));
            if (unknown) {
              problems.push(
                `script: a return of control for action group ${unknown.actionGroup}, which this request's configuration does not have`,
              );
            }
          }
          pending.set(sessionId, { invocationId, inputs });
          send(
            eventFrame('returnControl', {
              invocationId,
              invocationInputs: event.inputs.map((input, i) => wireInput(input, inputs[i]!)),
            }),
          );
          break;
        }
        case 'exception':
          send(exceptionFrame(event.exception, event.message));
          return end();
      }
    }
    return end();
  };

  const server = await startEmulatorServer({
    h2c: true,
    handle,
    problems,
    fail: (res) => void httpError(res, 500, 'InternalServerException', 'emulator error'),
  });
  return {
    url: server.url,
    clientConfig: {
      endpoint: server.url,
      region,
      credentials: { accessKeyId: 'AKIDMESHGUARDTEST', secretAccessKey: 'meshguard-emulator-secret' },
      maxAttempts: 1,
    },
    requests,
    problems,
    get remaining() {
      return record.remaining;
    },
    close: server.close,
  };
}

function httpError(res: EmulatorHttpResponse, status: number, type: string, message: string): Promise<void> {
  return sendJson(res, status, { message }, { 'x-amzn-errortype': type });
}

function refuse(res: EmulatorHttpResponse, problems: string[], status: number, message: string) {
  problems.push(message);
  return httpError(res, status, 'ValidationException', message);
}

/** The request-model checks (an HTTP 400 before any stream, worded as AWS words them). */
function requestShapeError(
  operation: BedrockEmulatorRequest['operation'],
  sessionId: string,
  agentId: string | undefined,
  agentAliasId: string | undefined,
  body: Record<string, unknown>,
): string | undefined {
  const pattern = (value: string, at: string, regex: string) =>
    `1 validation error detected: Value '${value}' at '${at}' failed to satisfy constraint: Member must satisfy regular expression pattern: ${regex}`;
  if (!SESSION_ID.test(sessionId))
    return pattern(sessionId, 'sessionId', '[0-9a-zA-Z._:-]+ (2 to 100 characters)');
  if (agentId !== undefined && !AGENT_ID.test(agentId))
    return pattern(agentId, 'agentId', '[0-9a-zA-Z]+ (at most 10)');
  if (agentAliasId !== undefined && !AGENT_ID.test(agentAliasId))
    return pattern(agentAliasId, 'agentAliasId', '[0-9a-zA-Z]+ (at most 10)');
  if (operation === 'InvokeInlineAgent') {
    for (const required of ['foundationModel', 'instruction']) {
      if (typeof body[required] !== 'string' || body[required] === '') {
        return `1 validation error detected: Value null at '${required}' failed to satisfy constraint: Member must not be null`;
      }
    }
  }
  return undefined;
}

function collaboratorsOf(body: Record<string, unknown>): Array<Record<string, unknown>> {
  return Array.isArray(body.collaborators) ? (body.collaborators as Array<Record<string, unknown>>) : [];
}

function hasCollaborator(body: Record<string, unknown>, name: string): boolean {
  return collaboratorsOf(body).some((c) => c.agentName === name);
}

function hasActionGroup(body: Record<string, unknown>, input: PendingInput): boolean {
  const owner = input.collaboratorName
    ? collaboratorsOf(body).find((c) => c.agentName === input.collaboratorName)
    : body;
  const groups =
    owner && Array.isArray(owner.actionGroups) ? (owner.actionGroups as Array<Record<string, unknown>>) : [];
  return groups.some((g) => g.actionGroupName === input.actionGroup);
}

/** InvokeInlineAgent keeps no configuration: one that drops an action group it is answering for is refused. */
function missingActionGroup(
  waiting: PendingReturnControl,
  body: Record<string, unknown>,
): string | undefined {
  const input = waiting.inputs.find((i) => !hasActionGroup(body, i));
  if (!input) return undefined;
  return `Validation failed: action group ${input.actionGroup}${input.collaboratorName ? ` of collaborator ${input.collaboratorName}` : ''} is not in the request's configuration (InvokeInlineAgent must resend the whole configuration on every call)`;
}

function pendingInput(input: ScriptInvocationInput, invokedAgentId: string | undefined): PendingInput {
  const agentId = input.agentId ?? (input.collaboratorName ? fakeId(input.collaboratorName) : invokedAgentId);
  return {
    type: input.type,
    actionGroup: input.actionGroup,
    invocationType: input.invocationType ?? 'RESULT',
    ...(input.type === 'function'
      ? { function: input.function }
      : { apiPath: input.apiPath, httpMethod: input.httpMethod.toUpperCase() }),
    ...(agentId ? { agentId } : {}),
    ...(input.collaboratorName ? { collaboratorName: input.collaboratorName } : {}),
  };
}

/** An invocation input in its wire shape: parameters as Bedrock's typed strings. */
function wireInput(input: ScriptInvocationInput, pendingOne: PendingInput): Record<string, unknown> {
  const common = {
    actionGroup: input.actionGroup,
    actionInvocationType: pendingOne.invocationType,
    ...(pendingOne.agentId ? { agentId: pendingOne.agentId } : {}),
    ...(input.collaboratorName ? { collaboratorName: input.collaboratorName } : {}),
  };
  if (input.type === 'function') {
    return {
      functionInvocationInput: {
        ...common,
        function: input.function,
        parameters: typedParameters(input.parameters),
      },
    };
  }
  return {
    apiInvocationInput: {
      ...common,
      httpMethod: pendingOne.httpMethod,
      apiPath: input.apiPath,
      parameters: typedParameters(input.parameters),
      ...(input.body
        ? { requestBody: { content: { 'application/json': { properties: typedParameters(input.body) } } } }
        : {}),
    },
  };
}

function typedParameters(values: Record<string, ScriptValue>) {
  return Object.entries(values).map(([name, value]) => ({
    name,
    type: Array.isArray(value)
      ? 'array'
      : typeof value === 'object'
        ? 'object'
        : typeof value === 'number'
          ? Number.isInteger(value)
            ? 'integer'
            : 'number'
          : typeof value,
    value:
      typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value),
  }));
}

/** A stable made-up Bedrock id (10 upper-case letters and digits) for a name. */
function fakeId(name: string): string {
  return createHash('sha256').update(name).digest('hex').slice(0, 10).toUpperCase();
}
