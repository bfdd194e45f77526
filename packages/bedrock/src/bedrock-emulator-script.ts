/**
 * The vocabulary of `startBedrockEmulator` scripts: what the emulated agent streams back for one
 * request. The emulator fills in what depends on the request (session id, caller chains, alias
 * ARNs, invocation ids) when it sends them.
 */

/** A parameter value as a script gives it; the emulator sends it the way Bedrock does (a typed string). */
export type ScriptValue = string | number | boolean | unknown[] | Record<string, unknown>;

/** One entry of a return of control: a function of a function-schema action group. */
export interface ScriptFunctionInput {
  type: 'function';
  actionGroup: string;
  function: string;
  parameters: Record<string, ScriptValue>;
  /** Default `RESULT`. */
  invocationType?: 'RESULT' | 'USER_CONFIRMATION' | 'USER_CONFIRMATION_AND_RESULT';
  /** Set when a collaborator of the invoked agent asks (its agent id is then the collaborator's). */
  collaboratorName?: string;
  /** Default: the invoked agent's id (InvokeAgent), the collaborator's, or none (inline agent). */
  agentId?: string;
}

/** One entry of a return of control: an operation of an OpenAPI-schema action group. */
export interface ScriptApiInput {
  type: 'api';
  actionGroup: string;
  httpMethod: string;
  apiPath: string;
  /** Path, query and header parameters. */
  parameters: Record<string, ScriptValue>;
  /** The request body's properties (sent as `application/json`). */
  body?: Record<string, ScriptValue>;
  invocationType?: ScriptFunctionInput['invocationType'];
  collaboratorName?: string;
  agentId?: string;
}

export type ScriptInvocationInput = ScriptFunctionInput | ScriptApiInput;

/** What the emulated agent streams: one event frame each (or an exception frame, which ends the stream). */
export type BedrockScriptEvent =
  | { type: 'chunk'; text: string }
  | { type: 'returnControl'; inputs: ScriptInvocationInput[]; invocationId?: string }
  | { type: 'collaboratorInvocation'; collaboratorName: string; text: string; by?: string }
  | { type: 'knowledgeBaseLookup'; knowledgeBaseId: string; text: string; by?: string }
  | { type: 'trace'; trace: Record<string, unknown>; by?: string }
  | { type: 'files'; files: Array<{ name: string; type: string; content: string | Uint8Array }> }
  | { type: 'exception'; exception: BedrockStreamException; message: string };

/** The exception members of the response stream (`:exception-type`), as the AWS model names them. */
export type BedrockStreamException =
  | 'accessDeniedException'
  | 'badGatewayException'
  | 'conflictException'
  | 'dependencyFailedException'
  | 'internalServerException'
  | 'modelNotReadyException'
  | 'resourceNotFoundException'
  | 'serviceQuotaExceededException'
  | 'throttlingException'
  | 'validationException';

/** A text chunk of the agent's answer. */
export function bedrockChunk(text: string): BedrockScriptEvent {
  return { type: 'chunk', text };
}

/**
 * The agent returns control: up to 5 inputs under one invocation id (default: a new UUID). It
 * ends the response; the client must answer every input in its next request.
 */
export function bedrockReturnControl(
  inputs: ScriptInvocationInput[],
  invocationId?: string,
): BedrockScriptEvent {
  return { type: 'returnControl', inputs, ...(invocationId ? { invocationId } : {}) };
}

/** A function call for `bedrockReturnControl`. */
export function bedrockFunctionInput(
  actionGroup: string,
  fn: string,
  parameters: Record<string, ScriptValue> = {},
  options: Pick<ScriptFunctionInput, 'invocationType' | 'collaboratorName' | 'agentId'> = {},
): ScriptFunctionInput {
  return { type: 'function', actionGroup, function: fn, parameters, ...options };
}

/** An API operation call for `bedrockReturnControl`. */
export function bedrockApiInput(
  actionGroup: string,
  httpMethod: string,
  apiPath: string,
  request: { parameters?: Record<string, ScriptValue>; body?: Record<string, ScriptValue> } = {},
  options: Pick<ScriptApiInput, 'invocationType' | 'collaboratorName' | 'agentId'> = {},
): ScriptApiInput {
  return {
    type: 'api',
    actionGroup,
    httpMethod,
    apiPath,
    parameters: request.parameters ?? {},
    ...(request.body ? { body: request.body } : {}),
    ...options,
  };
}

/**
 * A trace event: the invoked agent (or the collaborator `by`) hands the conversation to a
 * collaborator, inside AWS (`orchestrationTrace.invocationInput`, `AGENT_COLLABORATOR`).
 */
export function bedrockCollaboratorTrace(
  collaboratorName: string,
  text: string,
  options: { by?: string } = {},
): BedrockScriptEvent {
  return { type: 'collaboratorInvocation', collaboratorName, text, ...options };
}

/** A trace event: a knowledge-base lookup inside AWS, by the invoked agent or the collaborator `by`. */
export function bedrockKnowledgeBaseTrace(
  knowledgeBaseId: string,
  text: string,
  options: { by?: string } = {},
): BedrockScriptEvent {
  return { type: 'knowledgeBaseLookup', knowledgeBaseId, text, ...options };
}

/** A trace event with any `Trace` member (e.g. `{ orchestrationTrace: { rationale: { text } } }`). */
export function bedrockTrace(
  trace: Record<string, unknown>,
  options: { by?: string } = {},
): BedrockScriptEvent {
  return { type: 'trace', trace, ...options };
}

/** An exception frame (throttling, validation, access denied...): the client's stream throws it. */
export function bedrockException(exception: BedrockStreamException, message: string): BedrockScriptEvent {
  return { type: 'exception', exception, message };
}

/** A `files` event (files the code interpreter produced). */
export function bedrockFiles(
  files: Array<{ name: string; type: string; content: string | Uint8Array }>,
): BedrockScriptEvent {
  return { type: 'files', files };
}
