import {
  type BedrockAgentRuntimeClient,
  InvokeAgentCommand,
  type InvokeAgentRequest,
} from '@aws-sdk/client-bedrock-agent-runtime';
import { ConfigError, createFileParking, MeshGuardError, type RunParking } from '@meshguard/core';
import type { ActionGroupsHandlers } from './action-group-handlers';
import { withdrawApproval } from './bedrock-approvals';
import { type Governance, type GovernanceOptions, resolveIdentity } from './bedrock-governance';
import {
  DEFAULT_IDLE_SESSION_TTL_SECONDS,
  type GovernedTurnResult,
  type PausedRound,
  type PendingApproval,
  runTurn,
  type SendRound,
  type TurnLoopOptions,
} from './bedrock-invocation-loop';
import { type ParkedTurn, parkTurn } from './bedrock-parking';
import { newTurnState, type TurnState } from './bedrock-turn';

export interface GovernedAgentOptions extends GovernanceOptions {
  client: BedrockAgentRuntimeClient;
  agentId: string;
  agentAliasId: string;
  /** The action groups whose calls return control to this application, with their handlers. */
  actionGroups: ActionGroupsHandlers;
  /**
   * Where a turn waits for a person's approval (`true`: `createFileParking()` from
   * `@meshguard/core`, `.meshguard/parked`). With it, and no `onApprovalRequired`, a call whose
   * approval request is open parks the turn under the request's id: `invoke` resolves
   * `awaiting_approval` (`pendingApprovals` names them), and `resumeParkedTurn` answers the agent
   * from any process once a person has answered.
   */
  parking?: RunParking | true;
  /**
   * The agent's idle session timeout, as configured in Bedrock (`idleSessionTTLInSeconds`,
   * default 600). Bedrock drops an idle session and its pending return of control after it: a
   * parked turn resumed later is refused (`session_ended`), never sent into a dead session.
   */
  idleSessionTTLInSeconds?: number;
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
  /**
   * Runs one turn to the end (every return of control answered) and resolves to the agent's
   * answer; with `parking`, to `awaiting_approval` when a call waits for a person.
   */
  invoke(input: InvokeTurnInput): Promise<GovernedTurnResult>;
}

/** The session-wide settings of a turn: sent with every request of it, results included. */
export type LastingState = Pick<
  NonNullable<InvokeAgentRequest['sessionState']>,
  'sessionAttributes' | 'promptSessionAttributes' | 'knowledgeBaseConfigurations'
>;

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
  const { agentId, agentAliasId } = options;
  const governance = agentGovernance(options);
  return {
    agentId,
    agentAliasId,
    async invoke(input) {
      const { traceId, inputText, sessionState, ...request } = input;
      const turn = newTurnState(input.sessionId, traceId);
      // Session-wide settings go with every request of the turn; one-shot inputs only with the first.
      const lasting: LastingState = {
        ...(sessionState?.sessionAttributes ? { sessionAttributes: sessionState.sessionAttributes } : {}),
        ...(sessionState?.promptSessionAttributes
          ? { promptSessionAttributes: sessionState.promptSessionAttributes }
          : {}),
        ...(sessionState?.knowledgeBaseConfigurations
          ? { knowledgeBaseConfigurations: sessionState.knowledgeBaseConfigurations }
          : {}),
      };
      const send = agentSender(options, request, lasting, {
        inputText,
        ...(sessionState ? { sessionState } : {}),
      });
      return runTurn(
        governance,
        turn,
        'InvokeAgent',
        send,
        turnParking(options, governance, turn, request, lasting),
      );
    },
  };
}

/** The governance of a classic agent's turns (the same for a turn and its resumption). */
export function agentGovernance(options: GovernedAgentOptions): Governance {
  const { client: _client, agentId, agentAliasId: _alias, actionGroups, ...rest } = options;
  const ttl = options.idleSessionTTLInSeconds;
  if (ttl !== undefined && !(Number.isFinite(ttl) && ttl > 0)) {
    throw new ConfigError(
      `idleSessionTTLInSeconds must be a positive number of seconds, got ${String(ttl)}`,
      {
        code: 'idle_session_ttl_invalid',
      },
    );
  }
  const { parking, ...governance } = rest;
  return {
    ...governance,
    handlers: actionGroups,
    self: resolveIdentity(options.identity, { id: agentId }, `agent ${agentId}`),
    ...(parking ? { parking: parkingOf(parking) } : {}),
  };
}

/** Where turns are parked: the one given, or `true` for `createFileParking()` (`.meshguard/parked`). */
function parkingOf(parking: RunParking | true): RunParking {
  return parking === true ? createFileParking() : parking;
}

/** Sends the rounds of a turn: `first` with the first request, the results (and lasting settings) after. */
export function agentSender(
  options: Pick<GovernedAgentOptions, 'client' | 'agentId' | 'agentAliasId'>,
  request: Omit<InvokeAgentRequest, 'agentId' | 'agentAliasId' | 'inputText' | 'sessionState'>,
  lasting: LastingState,
  first: Pick<InvokeAgentRequest, 'inputText' | 'sessionState'>,
): SendRound {
  return async (results) => {
    const response = await options.client.send(
      new InvokeAgentCommand({
        enableTrace: true,
        ...request,
        agentId: options.agentId,
        agentAliasId: options.agentAliasId,
        ...(results ? { sessionState: { ...lasting, ...results } } : first),
      }),
    );
    return response.completion;
  };
}

/** How a turn parks when a call waits for approval (with `parking`), else nothing. */
export function turnParking(
  options: GovernedAgentOptions,
  governance: Governance,
  turn: TurnState,
  request: Record<string, unknown>,
  lasting: LastingState,
): TurnLoopOptions {
  const { parking } = governance;
  const ttlMs = (options.idleSessionTTLInSeconds ?? DEFAULT_IDLE_SESSION_TTL_SECONDS) * 1000;
  if (!parking) return { idleSessionTTLMs: ttlMs };
  return {
    idleSessionTTLMs: ttlMs,
    async park(paused: PausedRound): Promise<PendingApproval[]> {
      const { payload, answered, sentAt, rounds } = paused;
      const resumeBy = new Date(sentAt + ttlMs).toISOString();
      const waiting = new Map(answered.waiting.map((w) => [w.index, w]));
      const state: ParkedTurn = {
        v: 1,
        agentId: options.agentId,
        agentAliasId: options.agentAliasId,
        sessionId: turn.sessionId,
        traceId: turn.traceId,
        request: { ...request },
        lasting: { ...lasting },
        invocationId: payload.invocationId,
        pausedAt: new Date(sentAt).toISOString(),
        resumeBy,
        rounds,
        inputs: payload.invocationInputs.map((member, index) => {
          const w = waiting.get(index);
          const result = answered.results[index];
          return {
            member,
            delegation: w?.call.delegation ?? [],
            ...(result ? { result: JSON.parse(JSON.stringify(result)) } : {}),
            ...(w
              ? { approval: { id: w.approval.id, expiresAt: w.approval.expiresAt, decisionId: w.decisionId } }
              : {}),
          };
        }),
        approvalIds: answered.waiting.map((w) => w.approval.id),
      };
      try {
        await parkTurn(parking, state);
      } catch (error) {
        // Nothing can resume the turn: its requests leave the approvers' inbox.
        for (const w of answered.waiting) {
          await withdrawApproval(governance.guard, w.approval.id, 'the turn could not be parked');
        }
        throw new MeshGuardError(
          `Bedrock InvokeAgent: the turn waits for approval ${state.approvalIds.join(', ')} but could not be parked: ${error instanceof Error ? error.message : String(error)} (session ${turn.sessionId}, trace ${turn.traceId})`,
          { code: 'bedrock_park_failed', cause: error },
        );
      }
      return answered.waiting.map((w) => ({
        approvalId: w.approval.id,
        expiresAt: w.approval.expiresAt,
        resumeBy,
        call: w.call,
      }));
    },
  };
}
