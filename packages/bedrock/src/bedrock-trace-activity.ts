import type { AgentIdentity } from '@meshguard/core';
import { BUILTIN_TOOL_ACTIONS, safeParseWithSchema } from '@meshguard/core/internal';
import { resolveAction } from './action-group-handlers';
import { collaboratorIdentity, debug, type Governance, handoffAction, kit } from './bedrock-governance';
import { type InvocationInputTrace, type TracePart, TracePartSchema } from './bedrock-payloads';
import type { ObservedActivity, TurnState } from './bedrock-turn';

const NOT_GATED = 'observed in the Bedrock trace: it ran inside AWS, where MeshGuard cannot stop it';

/**
 * Records what a trace event shows the agents doing inside AWS: collaborator hand-offs
 * (`handoff:<collaborator>`), knowledge-base lookups (`read:file_search`), code interpreter runs
 * and Lambda action groups. These are `observed` outcomes, not decisions: nothing gated them.
 * Each is recorded once, under the caller chain as its delegation, with the effect policy would
 * have given it as it ran (`deny` for a lookup whose query policy refuses).
 */
export async function observeTrace(governance: Governance, turn: TurnState, raw: unknown): Promise<void> {
  const parsed = safeParseWithSchema(TracePartSchema, raw, 'trace part');
  if (!parsed.success) {
    debug('unreadable trace part: %s', parsed.error.message);
    return;
  }
  const part = parsed.data;
  learnChain(turn, part);
  const input =
    part.trace?.orchestrationTrace?.invocationInput ?? part.trace?.routingClassifierTrace?.invocationInput;
  if (!input) return;
  const activity = describe(governance, turn, input);
  if (!activity) return;
  const key = `${input.traceId ?? ''}\u0000${activity.action}\u0000${part.collaboratorName ?? ''}`;
  if (input.traceId && turn.seen.has(key)) return;
  if (input.traceId) turn.seen.add(key);

  const agent = part.collaboratorName
    ? collaboratorIdentity(governance, part.collaboratorName)
    : governance.self;
  const delegation = part.collaboratorName ? delegationOf(governance, turn, part.collaboratorName) : [];
  // Judged as it ran (a knowledge-base query condition holds or not), and recorded as observed:
  // one policy would have denied is an observed deny, never an allow.
  const call = {
    guard: governance.guard,
    agent,
    action: activity.action,
    kind: activity.kind,
    traceId: turn.traceId,
    context: activity.context,
    notGated: NOT_GATED,
    ...(delegation.length > 0 ? { delegation } : {}),
  };
  const verdict = await kit.judgeObserved(call);
  turn.observed.push({
    ...activity,
    agent,
    delegation,
    policyAllows: verdict.policyAllows,
    reason: verdict.reason,
  });
  await kit.observe(call, verdict);
}

type Activity = Pick<ObservedActivity, 'action' | 'kind' | 'context'>;

function describe(
  governance: Governance,
  turn: TurnState,
  input: InvocationInputTrace,
): Activity | undefined {
  switch (input.invocationType) {
    case 'AGENT_COLLABORATOR': {
      const call = input.agentCollaboratorInvocationInput;
      const name = call?.agentCollaboratorName;
      if (!name) return undefined;
      if (call.agentCollaboratorAliasArn) turn.collaboratorsByArn.set(call.agentCollaboratorAliasArn, name);
      return { action: handoffAction(governance, name), kind: 'handoff', context: { collaborator: name } };
    }
    case 'KNOWLEDGE_BASE': {
      const lookup = input.knowledgeBaseLookupInput;
      return {
        action: BUILTIN_TOOL_ACTIONS.fileSearch,
        kind: 'builtin_tool',
        context: {
          ...(lookup?.knowledgeBaseId ? { knowledgeBaseId: lookup.knowledgeBaseId } : {}),
          ...(lookup?.text ? { query: lookup.text.slice(0, 1000) } : {}),
        },
      };
    }
    case 'ACTION_GROUP_CODE_INTERPRETER': {
      // The code it ran, so a condition on `context.code` judges it (never whole files).
      const run = input.codeInterpreterInvocationInput;
      return {
        action: BUILTIN_TOOL_ACTIONS.codeInterpreter,
        kind: 'builtin_tool',
        context: {
          ...(run?.code ? { code: run.code.slice(0, 4000) } : {}),
          ...(run?.files && run.files.length > 0 ? { files: run.files.slice(0, 20) } : {}),
        },
      };
    }
    case 'ACTION_GROUP': {
      const call = input.actionGroupInvocationInput;
      // Return-of-control calls are decided when they come back; only Lambda ones run unseen.
      if (!call?.actionGroupName || call.executionType !== 'LAMBDA') return undefined;
      const operation = call.function
        ? { function: call.function }
        : call.apiPath && call.verb
          ? { httpMethod: call.verb, apiPath: call.apiPath }
          : undefined;
      if (!operation) return undefined;
      const { action } = resolveAction(governance.handlers, call.actionGroupName, operation);
      return { action, kind: 'tool', context: { actionGroup: call.actionGroupName, ...operation } };
    }
    default:
      return undefined;
  }
}

/** Remembers which collaborator each alias ARN is and the caller chain it acts under. */
function learnChain(turn: TurnState, part: TracePart): void {
  const chain = (part.callerChain ?? []).map((c) => c.agentAliasArn).filter((a): a is string => Boolean(a));
  if (!part.collaboratorName || chain.length === 0) return;
  turn.collaboratorsByArn.set(chain.at(-1)!, part.collaboratorName);
  turn.chains.set(part.collaboratorName, chain);
}

/**
 * The delegation a collaborator acts under, root first: its caller chain from the trace (the
 * invoked agent, then any collaborators between), or just the invoked agent when the trace did
 * not show it (tracing off).
 */
export function delegationOf(
  governance: Governance,
  turn: TurnState,
  collaboratorName: string,
): AgentIdentity[] {
  const chain = turn.chains.get(collaboratorName);
  if (!chain || chain.length < 2) return [governance.self];
  return chain.slice(0, -1).map((arn, index) => {
    if (index === 0) return governance.self;
    const name = turn.collaboratorsByArn.get(arn);
    return name
      ? collaboratorIdentity(governance, name)
      : { id: arn, name: arn, tags: [], tier: 'untrusted' };
  });
}
