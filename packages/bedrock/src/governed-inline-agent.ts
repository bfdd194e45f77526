import {
  type BedrockAgentRuntimeClient,
  InvokeInlineAgentCommand,
  type InvokeInlineAgentRequest,
} from '@aws-sdk/client-bedrock-agent-runtime';
import type { ActionGroupsHandlers } from './action-group-handlers';
import { type Governance, type GovernanceOptions, resolveIdentity } from './bedrock-governance';
import { type GovernedTurnResult, runTurn } from './bedrock-invocation-loop';
import { newTurnState } from './bedrock-turn';
import { applyPermissionCeiling, type RemovedCapability } from './inline-agent-ceiling';

export interface GovernedInlineAgentInput extends GovernanceOptions, InvokeInlineAgentRequest {
  client: BedrockAgentRuntimeClient;
  sessionId: string;
  /**
   * Handlers of the action groups that return control (`customControl: 'RETURN_CONTROL'`), the
   * inline agent's and its collaborators', by action group name. Their `action`s are also what
   * the permission ceiling checks.
   */
  handlers?: ActionGroupsHandlers;
  /** The MeshGuard trace to record the turn under (default: a new one). */
  traceId?: string;
}

export interface GovernedInlineTurnResult extends GovernedTurnResult {
  /** What policy took out of the configuration before the agent was invoked, and why. */
  removed: RemovedCapability[];
}

/**
 * Runs one turn of an inline agent under policy. Before invoking, the configuration is trimmed
 * to what policy could allow (the permission ceiling): action groups, functions, collaborators
 * (`handoff:<name>`) and knowledge bases it never allows are removed, each refusal recorded.
 * Then every return of control is checked, run or refused as with `createGovernedAgent`, the
 * trimmed configuration resent on every call (as `InvokeInlineAgent` requires).
 *
 * @example
 * const { text, removed } = await invokeGovernedInlineAgent({
 *   client, guard, identity: { name: 'Support', tags: ['support'] }, handlers,
 *   sessionId: 's-1', inputText: 'Refund ORD-2', foundationModel, instruction, actionGroups, collaborators,
 * });
 */
export async function invokeGovernedInlineAgent(
  input: GovernedInlineAgentInput,
): Promise<GovernedInlineTurnResult> {
  const {
    client,
    guard,
    identity,
    identities,
    onApprovalRequired,
    denialMessage,
    maxRounds,
    handlers,
    traceId,
    sessionId,
    inputText,
    inlineSessionState,
    ...configuration
  } = input;
  const governance: Governance = {
    guard,
    identity,
    handlers: handlers ?? {},
    self: resolveIdentity(identity, { id: configuration.agentName ?? 'inline-agent' }, 'the inline agent'),
    ...(identities ? { identities } : {}),
    ...(onApprovalRequired ? { onApprovalRequired } : {}),
    ...(denialMessage ? { denialMessage } : {}),
    ...(maxRounds !== undefined ? { maxRounds } : {}),
  };
  const turn = newTurnState(sessionId, traceId);
  const { configuration: allowed, removed } = await applyPermissionCeiling(governance, turn, configuration);
  const lasting = {
    ...(inlineSessionState?.sessionAttributes
      ? { sessionAttributes: inlineSessionState.sessionAttributes }
      : {}),
    ...(inlineSessionState?.promptSessionAttributes
      ? { promptSessionAttributes: inlineSessionState.promptSessionAttributes }
      : {}),
  };
  const result = await runTurn(
    governance,
    turn,
    'InvokeInlineAgent',
    async (results) => {
      const response = await client.send(
        new InvokeInlineAgentCommand({
          enableTrace: true,
          ...allowed,
          sessionId,
          ...(results
            ? { inlineSessionState: { ...lasting, ...results } }
            : { inputText, ...(inlineSessionState ? { inlineSessionState } : {}) }),
        }),
      );
      return response.completion;
    },
    idleTTL(allowed.idleSessionTTLInSeconds),
  );
  return { ...result, removed };
}

/** The session's idle timeout the request sets (Bedrock's default otherwise). */
function idleTTL(seconds: number | undefined): { idleSessionTTLMs?: number } {
  return typeof seconds === 'number' && seconds > 0 ? { idleSessionTTLMs: seconds * 1000 } : {};
}
