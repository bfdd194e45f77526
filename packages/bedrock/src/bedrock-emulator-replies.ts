/**
 * How the emulator checks a client's answer to a return of control, the way the service does:
 * shape errors the request model itself rejects are HTTP 400s (before any stream), mismatches
 * with what was asked are a `validationException` frame, and a `FAILURE` result ends the turn
 * with a `dependencyFailedException`.
 */

/** Which action an input or a result is about: what the service matches results to inputs by. */
export interface ActionRef {
  type: 'function' | 'api';
  actionGroup: string;
  function?: string;
  apiPath?: string;
  httpMethod?: string;
  agentId?: string;
}

/** An input the emulated agent is waiting on. */
export interface PendingInput extends ActionRef {
  collaboratorName?: string;
  invocationType: string;
}

export interface PendingReturnControl {
  invocationId: string;
  inputs: PendingInput[];
}

/** One result the client sent, flattened. */
export interface ReplyResult extends ActionRef {
  /** The first response body's text. */
  body?: string;
  responseState?: string;
  confirmationState?: string;
  httpStatusCode?: number;
}

export type ReplyVerdict =
  | { kind: 'none' }
  | { kind: 'ok'; results: ReplyResult[]; failed?: ReplyResult }
  | { kind: 'http'; message: string }
  | { kind: 'stream'; message: string };

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** The shape checks the request model enforces (an HTTP 400 naming the member, as AWS words it). */
function shapeErrors(
  state: Json,
  field: string,
): { message: string } | { message?: undefined; results: ReplyResult[] } {
  const list = state.returnControlInvocationResults;
  const at = `${field}.returnControlInvocationResults`;
  if (!Array.isArray(list))
    return { message: `Value at '${at}' failed to satisfy constraint: Member must be a list` };
  if (list.length < 1 || list.length > 5) {
    return {
      message: `Value at '${at}' failed to satisfy constraint: Member must have length between 1 and 5`,
    };
  }
  const results: ReplyResult[] = [];
  for (const [i, member] of list.entries()) {
    const where = `${at}.${i + 1}.member`;
    const keys = isObject(member) ? Object.keys(member).filter((k) => member[k] !== undefined) : [];
    if (keys.length !== 1 || (keys[0] !== 'functionResult' && keys[0] !== 'apiResult')) {
      return {
        message: `Value at '${where}' failed to satisfy constraint: Member must have exactly one of functionResult, apiResult`,
      };
    }
    const type = keys[0] === 'functionResult' ? 'function' : 'api';
    const result = (member as Json)[keys[0]!] as Json;
    if (!isObject(result))
      return {
        message: `Value at '${where}.${keys[0]}' failed to satisfy constraint: Member must be a structure`,
      };
    const actionGroup = text(result.actionGroup);
    if (!actionGroup) {
      return {
        message: `Value null at '${where}.${keys[0]}.actionGroup' failed to satisfy constraint: Member must not be null`,
      };
    }
    for (const [name, allowed] of [
      ['responseState', ['FAILURE', 'REPROMPT']],
      ['confirmationState', ['CONFIRM', 'DENY']],
    ] as const) {
      const value = result[name];
      if (value !== undefined && !(allowed as readonly unknown[]).includes(value)) {
        return {
          message: `Value '${String(value)}' at '${where}.${keys[0]}.${name}' failed to satisfy constraint: Member must satisfy enum value set: [${allowed.join(', ')}]`,
        };
      }
    }
    const bodies = isObject(result.responseBody) ? result.responseBody : undefined;
    const first = bodies ? Object.values(bodies)[0] : undefined;
    results.push({
      type,
      actionGroup,
      ...(text(result.function) ? { function: text(result.function) } : {}),
      ...(text(result.apiPath) ? { apiPath: text(result.apiPath) } : {}),
      ...(text(result.httpMethod) ? { httpMethod: text(result.httpMethod) } : {}),
      ...(text(result.agentId) ? { agentId: text(result.agentId) } : {}),
      ...(isObject(first) && typeof first.body === 'string' ? { body: first.body } : {}),
      ...(text(result.responseState) ? { responseState: text(result.responseState) } : {}),
      ...(text(result.confirmationState) ? { confirmationState: text(result.confirmationState) } : {}),
      ...(typeof result.httpStatusCode === 'number' ? { httpStatusCode: result.httpStatusCode } : {}),
    });
    if (type === 'function' && bodies && Object.keys(bodies).some((k) => k !== 'TEXT' && k !== 'IMAGES')) {
      return {
        message: `Value at '${where}.functionResult.responseBody' failed to satisfy constraint: Map keys must be TEXT or IMAGES`,
      };
    }
  }
  return { results };
}

const label = (r: ActionRef) =>
  r.type === 'function'
    ? `actionGroup: ${r.actionGroup} or function : ${r.function ?? 'null'}`
    : `actionGroup: ${r.actionGroup} or apiPath : ${r.apiPath ?? 'null'}`;

/**
 * Checks a request's `sessionState` (`inlineSessionState`) against the return of control the
 * session is waiting on. Without results, there is nothing to check (`none`).
 */
export function checkReply(
  pending: PendingReturnControl | undefined,
  state: unknown,
  field: 'sessionState' | 'inlineSessionState',
): ReplyVerdict {
  if (!isObject(state) || state.returnControlInvocationResults === undefined) return { kind: 'none' };
  const shape = shapeErrors(state, field);
  if (shape.message !== undefined)
    return { kind: 'http', message: `1 validation error detected: ${shape.message}` };
  const invocationId = text(state.invocationId);
  if (!pending) {
    return {
      kind: 'stream',
      message: `Validation failed: Unknown invocationId: ${invocationId ?? 'null'}; no action in this session is waiting for results`,
    };
  }
  if (invocationId !== pending.invocationId) {
    return {
      kind: 'stream',
      message: `Validation failed: Unknown invocationId: ${invocationId ?? 'null'}; the session is waiting for results of invocationId: ${pending.invocationId}`,
    };
  }
  const answered = new Set<PendingInput>();
  for (const result of shape.results) {
    const input = pending.inputs.find(
      (i) =>
        !answered.has(i) &&
        i.type === result.type &&
        i.actionGroup === result.actionGroup &&
        (i.type === 'function'
          ? i.function === result.function
          : i.apiPath === result.apiPath &&
            i.httpMethod?.toUpperCase() === result.httpMethod?.toUpperCase()) &&
        // The agent id the input carried must come back (a collaborator's call is told apart by it).
        (i.agentId === undefined || i.agentId === result.agentId),
    );
    if (!input) {
      return {
        kind: 'stream',
        message: `Validation failed: Unexpected ${label(result)}${result.agentId ? ` (agentId: ${result.agentId})` : ''} encountered for invocationId: ${pending.invocationId}`,
      };
    }
    answered.add(input);
    const confirm = input.invocationType !== 'RESULT';
    if (confirm && !result.confirmationState) {
      return {
        kind: 'stream',
        message: `Validation failed: confirmationState (CONFIRM or DENY) is required for ${label(input)} (actionInvocationType ${input.invocationType})`,
      };
    }
    const needsBody =
      input.invocationType === 'RESULT' ||
      (input.invocationType === 'USER_CONFIRMATION_AND_RESULT' && result.confirmationState === 'CONFIRM');
    if (needsBody && result.body === undefined) {
      return { kind: 'stream', message: `Validation failed: responseBody is required for ${label(input)}` };
    }
  }
  const missing = pending.inputs.find((i) => !answered.has(i));
  if (missing) {
    return {
      kind: 'stream',
      message: `Validation failed: No result for ${label(missing)} of invocationId: ${pending.invocationId}`,
    };
  }
  const failed = shape.results.find((r) => r.responseState === 'FAILURE');
  return { kind: 'ok', results: shape.results, ...(failed ? { failed } : {}) };
}
