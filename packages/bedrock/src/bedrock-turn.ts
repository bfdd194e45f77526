import type { AgentIdentity, Decision } from '@meshguard/core';
import type { BedrockActionCall } from './action-group-handlers';
import { kit } from './bedrock-governance';

/** What became of one call the agent returned control for. */
export interface GovernedCall {
  call: BedrockActionCall;
  decision: Decision;
  /**
   * `success` / `error`: the handler ran (and threw); `blocked`: refused (policy, a human, or no
   * handler), the agent got the reason; `confirmed`: a `USER_CONFIRMATION` input confirmed, so
   * AWS runs the action itself; `awaiting_approval`: parked until a person answers its approval
   * request (`decision.approval.id`).
   */
  outcome: 'success' | 'error' | 'blocked' | 'confirmed' | 'awaiting_approval';
  /** The human's answer, when policy required approval (`message`: the rejection's, or the approver's comment). */
  approval?: { approved: boolean; by: string; message?: string };
  /** What the agent received (the handler's result, or the reason it was refused). */
  response: string;
  durationMs?: number;
}

/** Activity seen in Bedrock's trace that ran inside AWS, where MeshGuard cannot stop it. */
export interface ObservedActivity {
  /** `handoff:<collaborator>`, `read:file_search`, `execute:code_interpreter`, or a Lambda action group's `tool:...`. */
  action: string;
  kind: 'handoff' | 'builtin_tool' | 'tool';
  /** The agent that did it, and the agents it acted for (root first), from the trace's caller chain. */
  agent: AgentIdentity;
  delegation: AgentIdentity[];
  /** Whether policy could have allowed it (recorded as the event's effect: it ran either way). */
  policyAllows: boolean;
  /** Why, as recorded. */
  reason: string;
  /** What it did (collaborator, knowledge base id and query, action group and function). */
  context: Record<string, unknown>;
}

/** The state of one governed turn (one `invoke`), shared by its rounds. */
export interface TurnState {
  sessionId: string;
  traceId: string;
  decisions: GovernedCall[];
  observed: ObservedActivity[];
  /** Trace invocation inputs already recorded (a trace event is recorded once). */
  seen: Set<string>;
  /** Collaborator names by agent alias ARN, learned from the trace. */
  collaboratorsByArn: Map<string, string>;
  /** The caller chain (alias ARNs, root first) last seen for each collaborator. */
  chains: Map<string, string[]>;
  /**
   * Until when (epoch ms) a call of the round in hand may wait for an answer given elsewhere: the
   * session idles out soon after, and a result sent then would find it gone.
   */
  answerBy?: number;
}

export function newTurnState(sessionId: string, traceId: string | undefined): TurnState {
  return {
    sessionId,
    traceId: traceId ?? kit.newTraceId(),
    decisions: [],
    observed: [],
    seen: new Set(),
    collaboratorsByArn: new Map(),
    chains: new Map(),
  };
}
