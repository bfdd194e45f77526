import type {
  InlineAgentTracePart,
  InvocationResultMember,
  OutputFile,
  TracePart,
} from '@aws-sdk/client-bedrock-agent-runtime';
import { MeshGuardError } from '@meshguard/core';
import type { BedrockActionCall } from './action-group-handlers';
import type { Governance } from './bedrock-governance';
import type { ReturnControlPayload } from './bedrock-payloads';
import {
  type AnsweredReturnControl,
  answerReturnControl,
  parseReturnControl,
} from './bedrock-return-control';
import { observeTrace } from './bedrock-trace-activity';
import type { GovernedCall, ObservedActivity, TurnState } from './bedrock-turn';

/** The events of `InvokeAgent` and `InvokeInlineAgent` responses MeshGuard reads (both streams share them). */
interface StreamEvent {
  chunk?: { bytes?: Uint8Array };
  trace?: TracePart | InlineAgentTracePart;
  returnControl?: unknown;
  files?: { files?: OutputFile[] };
}

/** A call the turn waits on: its approval request is open, and the turn is parked under its id. */
export interface PendingApproval {
  /** The approval request's id: what `meshguard approvals approve <id>` and `resumeParkedTurn` take. */
  approvalId: string;
  /** When the request expires unanswered. */
  expiresAt: string;
  /**
   * When the Bedrock session idles out (the round's request time plus the agent's
   * `idleSessionTTLInSeconds`): a resume after it is refused, the session being gone.
   */
  resumeBy: string;
  call: BedrockActionCall;
}

/** What a governed turn resolves to. */
export interface GovernedTurnResult {
  /**
   * `completed`: the agent answered; `awaiting_approval`: the turn is parked until a person
   * answers `pendingApprovals` (resume it with `resumeParkedTurn`); `session_ended`: a resume
   * came after the Bedrock session idled out, so nothing was sent (`reason` says so).
   */
  status: 'completed' | 'awaiting_approval' | 'session_ended';
  /** The approvals a parked turn waits on (empty unless `status` is `awaiting_approval`). */
  pendingApprovals: PendingApproval[];
  /** Why a resumed turn was refused (`session_ended`). */
  reason?: string;
  /** The agent's final answer (its chunks, joined; before a pause, what it said so far). */
  text: string;
  sessionId: string;
  /** The MeshGuard trace every decision and observation of the turn is recorded under. */
  traceId: string;
  /** Every call the agent returned control for, with its decision and what became of it. */
  decisions: GovernedCall[];
  /** Collaborator hand-offs, knowledge-base lookups and other activity seen in the trace (not gated). */
  observed: ObservedActivity[];
  /** The raw trace events, in order (`enableTrace` is on unless turned off). */
  trace: Array<TracePart | InlineAgentTracePart>;
  /** Files the agent produced (code interpreter). */
  files: OutputFile[];
  /** How many times the agent returned control. */
  rounds: number;
}

/** Sends one request of the turn: the first (`results` undefined) or one answering a return of control. */
export type SendRound = (
  results: { invocationId: string; returnControlInvocationResults: InvocationResultMember[] } | undefined,
) => Promise<AsyncIterable<StreamEvent> | undefined>;

/** A round that returned control with inputs left waiting for approvals: what parking needs. */
export interface PausedRound {
  payload: ReturnControlPayload;
  answered: AnsweredReturnControl;
  /** When the round's request was sent (the session's idle time counts from no later than this). */
  sentAt: number;
  /** Rounds the turn has taken, this one included. */
  rounds: number;
}

/** How long Bedrock keeps an idle session by default (a classic agent's `idleSessionTTLInSeconds`). */
export const DEFAULT_IDLE_SESSION_TTL_SECONDS = 600;
/** How long before the session idles out a call waiting for an answer elsewhere stops waiting. */
const ANSWER_MARGIN_MS = 30_000;

/** How a turn starts other than with the user's text, and how it pauses. */
export interface TurnLoopOptions {
  /**
   * The session's idle timeout (default 600 s): a call waiting in process for an approver's answer
   * elsewhere stops waiting 30 s before it, so its result still reaches a live session.
   */
  idleSessionTTLMs?: number;
  /** A resumed turn: the results its first request sends (answering the parked invocation). */
  resume?: {
    invocationId: string;
    results: InvocationResultMember[];
    /** Rounds the turn had taken when it was parked. */
    rounds: number;
    /** Called once the first request was answered (`sent`) or failed. */
    settled(sent: boolean): Promise<void>;
  };
  /** Parks a round whose inputs wait for approvals; the turn then ends `awaiting_approval`. */
  park?(paused: PausedRound): Promise<PendingApproval[]>;
}

/**
 * Runs a turn to its end: streams each response, records what the trace shows, answers every
 * return of control (checked, run or refused) and sends the results back, until the agent
 * answers, or a round waits for a person's approval and is parked. Several rounds per turn and
 * up to five inputs per round.
 */
export async function runTurn(
  governance: Governance,
  turn: TurnState,
  operation: 'InvokeAgent' | 'InvokeInlineAgent',
  send: SendRound,
  options: TurnLoopOptions = {},
): Promise<GovernedTurnResult> {
  const maxRounds = governance.maxRounds ?? 10;
  // One decoder for the turn: a character split across two chunks still comes out whole.
  const decoder = new TextDecoder();
  let text = '';
  const trace: GovernedTurnResult['trace'] = [];
  const files: OutputFile[] = [];
  let rounds = options.resume?.rounds ?? 0;
  let results: Parameters<SendRound>[0] = options.resume
    ? {
        invocationId: options.resume.invocationId,
        returnControlInvocationResults: options.resume.results,
      }
    : undefined;
  let settle = options.resume?.settled;
  let pendingApprovals: PendingApproval[] = [];
  for (;;) {
    let returned: unknown;
    const sentAt = Date.now();
    try {
      const stream = await send(results);
      for await (const event of stream ?? []) {
        if (event.chunk?.bytes) text += decoder.decode(event.chunk.bytes, { stream: true });
        if (event.files?.files) files.push(...event.files.files);
        if (event.trace !== undefined) {
          trace.push(event.trace);
          await observeTrace(governance, turn, event.trace);
        }
        if (event.returnControl !== undefined) returned = event.returnControl;
      }
    } catch (error) {
      await settle?.(false);
      throw bedrockError(error, operation, turn);
    }
    await settle?.(true);
    settle = undefined;
    if (returned === undefined) break;
    rounds++;
    if (rounds > maxRounds) {
      throw new MeshGuardError(
        `Bedrock ${operation}: the agent returned control more than ${maxRounds} times in one turn (maxRounds); trace ${turn.traceId}`,
        { code: 'bedrock_too_many_rounds' },
      );
    }
    const payload = parseReturnControl(returned);
    const ttlMs = options.idleSessionTTLMs ?? DEFAULT_IDLE_SESSION_TTL_SECONDS * 1000;
    turn.answerBy = sentAt + ttlMs - ANSWER_MARGIN_MS;
    const answered = await answerReturnControl(governance, turn, payload);
    if (answered.waiting.length > 0) {
      if (!options.park) {
        throw new MeshGuardError(`Bedrock ${operation}: inputs wait for approval, but nothing parks them`, {
          code: 'bedrock_park_failed',
        });
      }
      pendingApprovals = await options.park({ payload, answered, sentAt, rounds });
      break;
    }
    results = {
      invocationId: payload.invocationId,
      returnControlInvocationResults: answered.results.filter((r) => r !== undefined),
    };
  }
  return {
    status: pendingApprovals.length > 0 ? 'awaiting_approval' : 'completed',
    pendingApprovals,
    text: text + decoder.decode(),
    sessionId: turn.sessionId,
    traceId: turn.traceId,
    decisions: turn.decisions,
    observed: turn.observed,
    trace,
    files,
    rounds,
  };
}

/**
 * An AWS failure (an HTTP error, or an exception frame in the stream: throttling, validation,
 * access denied, a dependency failure...) as a MeshGuardError that says what failed and where
 * the turn's decisions are; the AWS error is its `cause` (`cause.name` is e.g. `ThrottlingException`).
 */
function bedrockError(error: unknown, operation: string, turn: TurnState): Error {
  if (MeshGuardError.isInstance(error)) return error as MeshGuardError;
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const made = turn.decisions.length;
  return new MeshGuardError(
    `Bedrock ${operation} failed: ${name}: ${message} (session ${turn.sessionId}; ${made} decision${made === 1 ? '' : 's'} made this turn, recorded under trace ${turn.traceId})`,
    { code: 'bedrock_request_failed', cause: error },
  );
}
