import type {
  InlineAgentTracePart,
  InvocationResultMember,
  OutputFile,
  TracePart,
} from '@aws-sdk/client-bedrock-agent-runtime';
import { MeshGuardError } from '@meshguard/core';
import type { Governance } from './bedrock-governance';
import { answerReturnControl, parseReturnControl } from './bedrock-return-control';
import { observeTrace } from './bedrock-trace-activity';
import type { GovernedCall, ObservedActivity, TurnState } from './bedrock-turn';

/** The events of `InvokeAgent` and `InvokeInlineAgent` responses MeshGuard reads (both streams share them). */
interface StreamEvent {
  chunk?: { bytes?: Uint8Array };
  trace?: TracePart | InlineAgentTracePart;
  returnControl?: unknown;
  files?: { files?: OutputFile[] };
}

/** What a governed turn resolves to. */
export interface GovernedTurnResult {
  /** The agent's final answer (its chunks, joined). */
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

/**
 * Runs a turn to its end: streams each response, records what the trace shows, answers every
 * return of control (checked, run or refused) and sends the results back, until the agent
 * answers. Several rounds per turn and up to five inputs per round.
 */
export async function runTurn(
  governance: Governance,
  turn: TurnState,
  operation: 'InvokeAgent' | 'InvokeInlineAgent',
  send: SendRound,
): Promise<GovernedTurnResult> {
  const maxRounds = governance.maxRounds ?? 10;
  // One decoder for the turn: a character split across two chunks still comes out whole.
  const decoder = new TextDecoder();
  let text = '';
  const trace: GovernedTurnResult['trace'] = [];
  const files: OutputFile[] = [];
  let rounds = 0;
  let results: Parameters<SendRound>[0];
  for (;;) {
    let returned: unknown;
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
      throw bedrockError(error, operation, turn);
    }
    if (returned === undefined) break;
    rounds++;
    if (rounds > maxRounds) {
      throw new MeshGuardError(
        `Bedrock ${operation}: the agent returned control more than ${maxRounds} times in one turn (maxRounds); trace ${turn.traceId}`,
        { code: 'bedrock_too_many_rounds' },
      );
    }
    const payload = parseReturnControl(returned);
    results = {
      invocationId: payload.invocationId,
      returnControlInvocationResults: await answerReturnControl(governance, turn, payload),
    };
  }
  return {
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
