import type { InvocationResultMember } from '@aws-sdk/client-bedrock-agent-runtime';
import type { AdapterCheckRequest, AgentIdentity, CheckedAction, Decision } from '@meshguard/core';
import {
  type ActionSpec,
  type BedrockActionCall,
  isApiResponse,
  resolveAction,
} from './action-group-handlers';
import { collaboratorIdentity, type Governance, kit } from './bedrock-governance';
import { type InvocationInputMember, parameterObject } from './bedrock-payloads';
import { delegationOf } from './bedrock-trace-activity';
import type { GovernedCall, TurnState } from './bedrock-turn';

// A return of control's input in the adapter's hands: the call it describes, its check request,
// and the ways it ends (run by its handler, confirmed, or refused), each recorded in the turn.

/** One input as the adapter handles it: the call, what runs it, and how its check is asked. */
export interface CallInHand {
  governance: Governance;
  turn: TurnState;
  call: BedrockActionCall;
  spec: ActionSpec | undefined;
  /** What the handler gets (an API call's body merged into its parameters). */
  input: Record<string, unknown>;
  /** The check request (with the context checked, once it could be built). */
  request: AdapterCheckRequest;
  /** The human's answer, once given. */
  approval?: GovernedCall['approval'];
}

/** The call in hand: described, with its check request (context added once built). */
export function inHand(
  governance: Governance,
  turn: TurnState,
  call: BedrockActionCall,
  spec: ActionSpec | undefined,
  index: number,
): CallInHand {
  return {
    governance,
    turn,
    call,
    spec,
    input: call.type === 'api' ? { ...call.args, ...call.body } : call.args,
    request: {
      guard: governance.guard,
      action: call.action,
      agent: call.agent,
      kind: 'tool',
      traceId: turn.traceId,
      delegation: call.delegation,
      spanId: `bedrock:${call.invocationId}:${index}`,
    },
  };
}

/** Records what became of a call in the turn's decisions. */
export function done(
  hand: CallInHand,
  decision: Decision,
  entry: Pick<GovernedCall, 'outcome' | 'response' | 'durationMs'>,
) {
  hand.turn.decisions.push({
    call: hand.call,
    decision,
    ...entry,
    ...(hand.approval ? { approval: hand.approval } : {}),
  });
}

export async function refuse(
  hand: CallInHand,
  checked: CheckedAction,
  text: string,
  record?: { outcome: 'blocked' | 'error'; reason?: string; error?: string },
): Promise<InvocationResultMember> {
  if (record) {
    await kit.recordOutcome(checked, {
      outcome: record.outcome,
      ...(record.outcome === 'error' ? { error: text } : record.reason ? { reason: record.reason } : {}),
      ...(record.error ? { error: record.error } : {}),
    });
  }
  done(hand, checked.decision, { outcome: 'blocked', response: text });
  return resultFor(hand.call, { refused: text });
}

/** A call policy (or a person) allowed: confirmed, or run by its handler. */
export async function runAllowed(hand: CallInHand, checked: CheckedAction): Promise<InvocationResultMember> {
  const { call, spec } = hand;
  if (call.invocationType === 'USER_CONFIRMATION') {
    // AWS runs the action itself once confirmed (its trace shows it); MeshGuard only confirms.
    done(hand, checked.decision, { outcome: 'confirmed', response: 'CONFIRM' });
    return resultFor(call, { confirmed: true });
  }
  if (!spec)
    return refuse(hand, checked, `No handler for ${call.action} in this application`, { outcome: 'error' });
  const started = performance.now();
  try {
    const value = await spec.handler(hand.input, call);
    const durationMs = Math.round(performance.now() - started);
    const status = isApiResponse(value) ? value.httpStatusCode : 200;
    const body = bodyText(isApiResponse(value) ? value.body : value);
    await kit.recordOutcome(checked, { outcome: 'success', durationMs });
    done(hand, checked.decision, { outcome: 'success', response: body, durationMs });
    return resultFor(call, { body, httpStatusCode: status });
  } catch (error) {
    const durationMs = Math.round(performance.now() - started);
    const message = error instanceof Error ? error.message : String(error);
    await kit.recordOutcome(checked, { outcome: 'error', durationMs, error: message });
    const text = `The action failed: ${message}`;
    done(hand, checked.decision, { outcome: 'error', response: text, durationMs });
    return resultFor(call, { refused: text, httpStatusCode: 500 });
  }
}

/**
 * The call an invocation input describes, who asks for it, and what would run it. `delegation`
 * is the one a parked call was checked under (default: from the turn's trace).
 */
export function describeCall(
  governance: Governance,
  turn: TurnState,
  invocationId: string,
  member: InvocationInputMember,
  delegation?: AgentIdentity[],
): { call: BedrockActionCall; spec?: ActionSpec } {
  const input =
    'functionInvocationInput' in member ? member.functionInvocationInput : member.apiInvocationInput;
  const collaboratorName = input.collaboratorName;
  const agent = collaboratorName ? collaboratorIdentity(governance, collaboratorName) : governance.self;
  delegation ??= collaboratorName ? delegationOf(governance, turn, collaboratorName) : [];
  const common = {
    actionGroup: input.actionGroup,
    agent,
    delegation,
    invocationId,
    invocationType: input.actionInvocationType ?? 'RESULT',
    sessionId: turn.sessionId,
    traceId: turn.traceId,
    args: parameterObject(input.parameters),
    ...(collaboratorName ? { collaboratorName } : {}),
    ...(input.agentId ? { agentId: input.agentId } : {}),
  };
  if ('functionInvocationInput' in member) {
    const fn = member.functionInvocationInput.function;
    const { action, spec } = resolveAction(governance.handlers, input.actionGroup, { function: fn });
    return { call: { type: 'function', function: fn, action, ...common }, ...(spec ? { spec } : {}) };
  }
  const api = member.apiInvocationInput;
  const { action, spec } = resolveAction(governance.handlers, api.actionGroup, api);
  const content = Object.values(api.requestBody?.content ?? {})[0];
  return {
    call: {
      type: 'api',
      apiPath: api.apiPath,
      httpMethod: api.httpMethod,
      action,
      ...common,
      ...(content ? { body: parameterObject(content.properties) } : {}),
    },
    ...(spec ? { spec } : {}),
  };
}

/** A handler's value as the text Bedrock takes: strings as they are, anything else as JSON. */
function bodyText(value: unknown): string {
  if (typeof value === 'string') return value;
  return JSON.stringify(value ?? null);
}

/**
 * The result for one input, echoing the fields the service matches it on. A refusal carries the
 * reason and `REPROMPT` (the model reads it and answers the user; `FAILURE` would end the turn
 * with a dependencyFailedException); a confirmation input gets `CONFIRM` or `DENY`.
 */
function resultFor(
  call: BedrockActionCall,
  answer: { body?: string; refused?: string; confirmed?: boolean; httpStatusCode?: number },
): InvocationResultMember {
  const confirmation = call.invocationType !== 'RESULT';
  const confirmationState = confirmation
    ? answer.refused === undefined
      ? ('CONFIRM' as const)
      : ('DENY' as const)
    : undefined;
  const text = answer.refused ?? answer.body;
  const common = {
    actionGroup: call.actionGroup,
    ...(call.agentId ? { agentId: call.agentId } : {}),
    ...(confirmationState ? { confirmationState } : {}),
    ...(answer.refused !== undefined ? { responseState: 'REPROMPT' as const } : {}),
  };
  if (call.type === 'function') {
    return {
      functionResult: {
        ...common,
        function: call.function,
        ...(text !== undefined ? { responseBody: { TEXT: { body: text } } } : {}),
      },
    };
  }
  return {
    apiResult: {
      ...common,
      apiPath: call.apiPath,
      httpMethod: call.httpMethod,
      ...(answer.confirmed
        ? {}
        : { httpStatusCode: answer.httpStatusCode ?? (answer.refused !== undefined ? 403 : 200) }),
      ...(text !== undefined
        ? {
            responseBody: {
              'application/json': {
                body: answer.refused !== undefined ? JSON.stringify({ error: answer.refused }) : text,
              },
            },
          }
        : {}),
    },
  };
}
