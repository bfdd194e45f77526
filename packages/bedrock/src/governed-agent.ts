import {
  type BedrockAgentRuntimeClient,
  InvokeAgentCommand,
  type InvokeAgentRequest,
} from '@aws-sdk/client-bedrock-agent-runtime';
import type { ActionGroupsHandlers } from './action-group-handlers';
import { type Governance, type GovernanceOptions, resolveIdentity } from './bedrock-governance';
import { type GovernedTurnResult, runTurn } from './bedrock-invocation-loop';
import { newTurnState } from './bedrock-turn';

export interface GovernedAgentOptions extends GovernanceOptions {
  client: BedrockAgentRuntimeClient;
  agentId: string;
  agentAliasId: string;
  /** The action groups whose calls return control to this application, with their handlers. */
  actionGroups: ActionGroupsHandlers;
}

/** One turn: the user's text, plus any other `InvokeAgent` field (`sessionState` attributes, `memoryId`...). */
export interface InvokeTurnInput extends Omit<InvokeAgentRequest, 'agentId' | 'agentAliasId' | 'inputText'> {
  sessionId: string;
  inputText: string;
  /** The MeshGuard trace to record the turn under (default: a new one per turn). */
  traceId?: string;
}

export interface GovernedAgent {
  readonly agentId: string;
  readonly agentAliasId: string;
  /** Runs one turn to the end (every return of control answered) and resolves to the agent's answer. */
  invoke(input: InvokeTurnInput): Promise<GovernedTurnResult>;
}

/**
 * A Bedrock agent whose return-of-control calls are governed: each one is checked before its
 * handler runs, denied ones are answered with the policy's reason, and collaborator and
 * knowledge-base activity seen in the trace is recorded.
 *
 * @example
 * const agent = createGovernedAgent({
 *   client: new BedrockAgentRuntimeClient({}), agentId: 'AGENT123', agentAliasId: 'ALIAS123',
 *   guard, identity: { name: 'Support Agent', tags: ['support'] },
 *   actionGroups: { Orders: { functions: { process_refund: { action: 'write:refund', handler: refund } } } },
 * });
 * const { text, decisions } = await agent.invoke({ sessionId: 's-1', inputText: 'Refund $150 on ORD-2' });
 */
export function createGovernedAgent(options: GovernedAgentOptions): GovernedAgent {
  const { client, agentId, agentAliasId, actionGroups, ...rest } = options;
  const governance: Governance = {
    ...rest,
    handlers: actionGroups,
    self: resolveIdentity(options.identity, { id: agentId }, `agent ${agentId}`),
  };
  return {
    agentId,
    agentAliasId,
    async invoke(input) {
      const { traceId, inputText, sessionState, ...request } = input;
      const turn = newTurnState(input.sessionId, traceId);
      // Session-wide settings go with every request of the turn; one-shot inputs only with the first.
      const lasting = {
        ...(sessionState?.sessionAttributes ? { sessionAttributes: sessionState.sessionAttributes } : {}),
        ...(sessionState?.promptSessionAttributes
          ? { promptSessionAttributes: sessionState.promptSessionAttributes }
          : {}),
        ...(sessionState?.knowledgeBaseConfigurations
          ? { knowledgeBaseConfigurations: sessionState.knowledgeBaseConfigurations }
          : {}),
      };
      return runTurn(governance, turn, 'InvokeAgent', async (results) => {
        const response = await client.send(
          new InvokeAgentCommand({
            enableTrace: true,
            ...request,
            agentId,
            agentAliasId,
            ...(results
              ? { sessionState: { ...lasting, ...results } }
              : { inputText, ...(sessionState ? { sessionState } : {}) }),
          }),
        );
        return response.completion;
      });
    },
  };
}
