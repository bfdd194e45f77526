import type { InvocationResultMember } from '@aws-sdk/client-bedrock-agent-runtime';
import type { ApprovalAnswer, CheckContext, CheckedAction } from '@meshguard/core';
import {
  approvalFailedDecision,
  checkApprovalAnswer,
  failedCheckReason,
  NO_APPROVER,
  parseWithSchema,
} from '@meshguard/core/internal';
import {
  type ActionSpec,
  type BedrockActionCall,
  isApiResponse,
  resolveAction,
} from './action-group-handlers';
import { collaboratorIdentity, debug, type Governance, kit } from './bedrock-governance';
import {
  INVOCATION_TYPES,
  type InvocationInputMember,
  parameterObject,
  type ReturnControlPayload,
  ReturnControlPayloadSchema,
} from './bedrock-payloads';
import { delegationOf } from './bedrock-trace-activity';
import type { GovernedCall, TurnState } from './bedrock-turn';

/** Parses a `returnControl` event; one MeshGuard cannot read is an error, never guessed at. */
export function parseReturnControl(raw: unknown): ReturnControlPayload {
  return parseWithSchema(ReturnControlPayloadSchema, raw, {
    under: 'returnControl',
    hint: 'MeshGuard cannot answer a return of control it cannot read',
  });
}

/**
 * Answers one return of control: each input is checked for the agent that asked (a
 * collaborator's under the delegation supervisor -> collaborator), allowed ones run their
 * handler, refused ones get the reason with `responseState: 'REPROMPT'` so the agent can tell
 * the user. Results echo what the service matches them on: action group, function or API path
 * and method, and agent id.
 */
export async function answerReturnControl(
  governance: Governance,
  turn: TurnState,
  payload: ReturnControlPayload,
): Promise<InvocationResultMember[]> {
  const results: InvocationResultMember[] = [];
  // One at a time: handlers may depend on each other's effects, and the trail keeps their order.
  for (const [index, member] of payload.invocationInputs.entries()) {
    results.push(await answerInput(governance, turn, payload.invocationId, member, index));
  }
  return results;
}

async function answerInput(
  governance: Governance,
  turn: TurnState,
  invocationId: string,
  member: InvocationInputMember,
  index: number,
): Promise<InvocationResultMember> {
  const { call, spec } = describeCall(governance, turn, invocationId, member);
  const input = call.type === 'api' ? { ...call.args, ...call.body } : call.args;
  const request = {
    guard: governance.guard,
    action: call.action,
    agent: call.agent,
    kind: 'tool' as const,
    traceId: turn.traceId,
    delegation: call.delegation,
    spanId: `bedrock:${invocationId}:${index}`,
  };
  let checked: CheckedAction;
  try {
    const context: CheckContext = spec?.context ? spec.context(input, call) : input;
    checked = await kit.check({ ...request, context });
  } catch (error) {
    // The host's context mapping threw: nothing can be decided, so the call is refused.
    checked = kit.failed(request, failedCheckReason("the check's context could not be built", error));
  }
  const { decision } = checked;
  let approval: GovernedCall['approval'];
  const done = (entry: Pick<GovernedCall, 'outcome' | 'response' | 'durationMs'>) => {
    turn.decisions.push({ call, decision, ...entry, ...(approval ? { approval } : {}) });
  };
  const refuse = async (
    text: string,
    record?: { outcome: 'blocked' | 'error'; reason?: string; error?: string },
  ) => {
    if (record) {
      await kit.recordOutcome(checked, {
        outcome: record.outcome,
        ...(record.outcome === 'error' ? { error: text } : record.reason ? { reason: record.reason } : {}),
        ...(record.error ? { error: record.error } : {}),
      });
    }
    done({ outcome: 'blocked', response: text });
    return resultFor(call, { refused: text });
  };

  if (!(INVOCATION_TYPES as readonly string[]).includes(call.invocationType)) {
    // Unknown to this version: refused whatever policy says (there is no telling what answering it would do).
    debug('unsupported actionInvocationType %s for %s', call.invocationType, call.action);
    const text = `MeshGuard cannot answer an action of invocation type ${call.invocationType}`;
    return refuse(text, { outcome: 'blocked', reason: text });
  }
  if (decision.effect === 'deny') {
    return refuse(kit.denialText(decision, call, governance.denialMessage), { outcome: 'blocked' });
  }
  if (decision.effect === 'require_approval') {
    if (!governance.onApprovalRequired) {
      // Nothing runs unapproved: with no one to ask, the call is refused.
      const text = `${kit.denialText(decision, call, governance.denialMessage)} (${NO_APPROVER})`;
      return refuse(text, { outcome: 'blocked', reason: text });
    }
    const answer = await askApproval(governance, checked, call);
    if ('failed' in answer) {
      const text = kit.denialText(
        approvalFailedDecision(decision, answer.failed),
        call,
        governance.denialMessage,
      );
      return refuse(text, { outcome: 'blocked', error: answer.failed });
    }
    approval = answer;
    if (!approval.approved) return refuse(approval.message ?? `Not approved: ${decision.reason}`);
  }
  if (call.invocationType === 'USER_CONFIRMATION') {
    // AWS runs the action itself once confirmed (its trace shows it); MeshGuard only confirms.
    done({ outcome: 'confirmed', response: 'CONFIRM' });
    return resultFor(call, { confirmed: true });
  }
  if (!spec) return refuse(`No handler for ${call.action} in this application`, { outcome: 'error' });
  return runHandler(checked, call, spec, input, done);
}

async function runHandler(
  checked: CheckedAction,
  call: BedrockActionCall,
  spec: ActionSpec,
  input: Record<string, unknown>,
  done: (entry: Pick<GovernedCall, 'outcome' | 'response' | 'durationMs'>) => void,
): Promise<InvocationResultMember> {
  const started = performance.now();
  try {
    const value = await spec.handler(input, call);
    const durationMs = Math.round(performance.now() - started);
    const status = isApiResponse(value) ? value.httpStatusCode : 200;
    const body = bodyText(isApiResponse(value) ? value.body : value);
    await kit.recordOutcome(checked, { outcome: 'success', durationMs });
    done({ outcome: 'success', response: body, durationMs });
    return resultFor(call, { body, httpStatusCode: status });
  } catch (error) {
    const durationMs = Math.round(performance.now() - started);
    const message = error instanceof Error ? error.message : String(error);
    await kit.recordOutcome(checked, { outcome: 'error', durationMs, error: message });
    const text = `The action failed: ${message}`;
    done({ outcome: 'error', response: text, durationMs });
    return resultFor(call, { refused: text, httpStatusCode: 500 });
  }
}

/**
 * Asks the host's `onApprovalRequired` and records who answered what. An approver that throws
 * or answers anything but `{ approve: boolean, by: string }` approved nothing (`failed` says why).
 */
async function askApproval(
  governance: Governance,
  checked: CheckedAction,
  call: BedrockActionCall,
): Promise<NonNullable<GovernedCall['approval']> | { failed: string }> {
  let answer: ApprovalAnswer;
  try {
    answer = checkApprovalAnswer(await governance.onApprovalRequired!(call, checked.decision));
  } catch (error) {
    debug('approval of %s failed: %O', call.action, error);
    return { failed: errorText(error) };
  }
  await kit.recordOutcome(checked, {
    outcome: answer.approve ? 'approved' : 'rejected',
    actor: answer.by,
    ...(answer.message ? { reason: answer.message } : {}),
  });
  return {
    approved: answer.approve,
    by: answer.by,
    ...(answer.message !== undefined ? { message: answer.message } : {}),
  };
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The call an invocation input describes, who asks for it, and what would run it. */
function describeCall(
  governance: Governance,
  turn: TurnState,
  invocationId: string,
  member: InvocationInputMember,
): { call: BedrockActionCall; spec?: ActionSpec } {
  const input =
    'functionInvocationInput' in member ? member.functionInvocationInput : member.apiInvocationInput;
  const collaboratorName = input.collaboratorName;
  const agent = collaboratorName ? collaboratorIdentity(governance, collaboratorName) : governance.self;
  const delegation = collaboratorName ? delegationOf(governance, turn, collaboratorName) : [];
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
