import type { AgentIdentity, CheckContext } from '@meshguard/core';

/** One call the agent asked the host to run (an entry of `returnControl.invocationInputs`). */
export interface BedrockActionCall {
  /** `function` for function-schema action groups, `api` for OpenAPI-schema ones. */
  type: 'function' | 'api';
  actionGroup: string;
  /** The function's name (function schemas). */
  function?: string;
  /** The operation's path and method (API schemas). */
  apiPath?: string;
  httpMethod?: string;
  /** The policy action checked for it. */
  action: string;
  /** Who asks: the invoked agent, or the collaborator named by `collaboratorName`. */
  agent: AgentIdentity;
  /** The agents the call came through, root first (the supervisor, for a collaborator's call). */
  delegation: AgentIdentity[];
  /** Set when a collaborator of the invoked agent asked for the call. */
  collaboratorName?: string;
  /** The Bedrock agent id the input carried (echoed back in the result). */
  agentId?: string;
  invocationId: string;
  /** `RESULT`, `USER_CONFIRMATION` (AWS runs it once confirmed) or `USER_CONFIRMATION_AND_RESULT`. */
  invocationType: string;
  sessionId: string;
  traceId: string;
  /** Function parameters, converted from Bedrock's typed strings (`"150"` with type number is `150`). */
  args: Record<string, unknown>;
  /** API calls: the request body's properties (converted), by content type's first entry. */
  body?: Record<string, unknown>;
}

/** What an API operation's handler may return to set the HTTP status (default 200). */
export interface ApiResponse {
  readonly httpStatusCode: number;
  readonly body: unknown;
  readonly [API_RESPONSE]: true;
}
const API_RESPONSE = Symbol.for('meshguard.bedrock.apiResponse');

/**
 * An API operation's result with an HTTP status other than 200.
 *
 * @example
 * handler: ({ order_id }) => orders.has(order_id) ? orders.get(order_id) : apiResponse(404, { error: 'no such order' })
 */
export function apiResponse(httpStatusCode: number, body: unknown): ApiResponse {
  return { httpStatusCode, body, [API_RESPONSE]: true };
}

export function isApiResponse(value: unknown): value is ApiResponse {
  return (
    typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[API_RESPONSE] === true
  );
}

/**
 * Runs one function or API operation. Function handlers get the parameters; API handlers get
 * path, query and header parameters and the body's properties merged (`call.args` and
 * `call.body` keep them apart). A string is returned as is, anything else as JSON.
 */
export type ActionHandler = (args: Record<string, unknown>, call: BedrockActionCall) => unknown;

/** A function or API operation: its handler, and optionally its policy action and check context. */
export interface ActionSpec {
  handler: ActionHandler;
  /** Default `tool:<actionGroup>/<function>`, or `tool:<actionGroup>/<METHOD> <apiPath>`. */
  action?: string;
  /** Reshapes the call into the check's context (default: the arguments, with the body merged in). */
  context?: (args: Record<string, unknown>, call: BedrockActionCall) => CheckContext;
}

/** One action group's functions (by function name) and API operations (by `"METHOD /path"`). */
export interface ActionGroupHandlers {
  functions?: Record<string, ActionSpec | ActionHandler>;
  /** Keyed `"POST /refunds/{orderId}"`: the method (any case) and the path as in the OpenAPI schema. */
  apis?: Record<string, ActionSpec | ActionHandler>;
}

/** The host's action groups, by action group name as configured in Bedrock. */
export type ActionGroupsHandlers = Record<string, ActionGroupHandlers>;

/** What runs a call, and under which action; `spec` is missing when the host has no handler. */
export interface ResolvedAction {
  action: string;
  spec?: ActionSpec;
}

/** The spec and action for a function (`name`) or an API operation (`method` + `path`). */
export function resolveAction(
  groups: ActionGroupsHandlers | undefined,
  actionGroup: string,
  operation: { function: string } | { httpMethod: string; apiPath: string },
): ResolvedAction {
  // Own entries only: a model-chosen name like `toString` must never find an inherited function.
  const group = own(groups, actionGroup);
  if ('function' in operation) {
    const spec = toSpec(own(group?.functions, operation.function));
    return { action: spec?.action ?? `tool:${actionGroup}/${operation.function}`, ...(spec ? { spec } : {}) };
  }
  const method = operation.httpMethod.toUpperCase();
  const spec = toSpec(findApi(group?.apis, method, operation.apiPath));
  return {
    action: spec?.action ?? `tool:${actionGroup}/${method} ${operation.apiPath}`,
    ...(spec ? { spec } : {}),
  };
}

function findApi(
  apis: ActionGroupHandlers['apis'],
  method: string,
  path: string,
): ActionSpec | ActionHandler | undefined {
  if (!apis) return undefined;
  for (const [key, spec] of Object.entries(apis)) {
    const space = key.indexOf(' ');
    if (space > 0 && key.slice(0, space).toUpperCase() === method && key.slice(space + 1).trim() === path)
      return spec;
  }
  return undefined;
}

function own<T>(record: Record<string, T> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}

function toSpec(entry: ActionSpec | ActionHandler | undefined): ActionSpec | undefined {
  if (entry === undefined) return undefined;
  return typeof entry === 'function' ? { handler: entry } : entry;
}
