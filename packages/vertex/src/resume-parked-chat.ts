import { type ApprovalState, ConfigError, MeshGuardError, type RunParking } from '@meshguard/core';
import type { FunctionResponsePart, GeminiContent } from './gemini-parts';
import { functionsInternals } from './govern-functions';
import {
  chatLoop,
  checkLoopOptions,
  driver,
  type GenAIChatLike,
  type GovernedChatResult,
  type HistoryChat,
  type LegacyChatLike,
  type RunGovernedChatOptions,
} from './governed-chat';
import { approvalStateOf } from './vertex-approvals';
import { claimParkedChat, parkChat, parkingOf } from './vertex-parking';

/** What `resumeParkedChat` takes: `runGovernedChat`'s options, with a way to rebuild the chat. */
export interface ResumeParkedChatOptions<C extends GeminiContent = GeminiContent>
  extends Omit<RunGovernedChatOptions<C>, 'chat' | 'message' | 'parking'> {
  /**
   * Rebuilds the chat from the parked history (the model's function-call turn last): e.g.
   * `(history) => ai.chats.create({ model, config: { tools: [functions.tool] }, history })`,
   * `model.startChat({ history })`, or `{ history, generateContent }`.
   */
  chat(history: C[]): GenAIChatLike | LegacyChatLike | HistoryChat<C>;
  /**
   * Where the chat is parked, and where it is parked again if it stops on another approval
   * (default `true`: `createFileParking()`, `.meshguard/parked`).
   */
  parking?: RunParking | true;
}

/**
 * Resumes a chat parked on an approval, in any process, once a person has answered
 * (`guard.approvals.answer`, `meshguard approvals approve <id>`, `POST /v1/approvals/{id}/approve`).
 * It claims the parked chat atomically (of two resumers one gets it; the other gets a
 * `run_not_parked` error, as does an id nothing is parked under), reads each approval it waits
 * on, and sends the function responses: an approved call is checked again with its approval id
 * right before its handler runs, so it runs once whoever resumes, and changed arguments or a
 * policy that now denies still stop it; a rejected or expired one is answered with
 * `{ error: "Not approved: ..." }` so the model hears why. The chat then goes on as
 * `runGovernedChat` would, to the model's answer (or to its next approvals, parked again).
 *
 * While any call of the turn is still pending, nothing runs: the chat stays parked and this throws
 * `approval_pending`.
 *
 * @example
 * const resumed = await resumeParkedChat(approvalId, {
 *   functions, parking,
 *   chat: (history) => ai.chats.create({ model: 'gemini-2.5-flash', config: { tools: [functions.tool] }, history }),
 * });
 */
export async function resumeParkedChat<C extends GeminiContent = GeminiContent>(
  approvalId: string,
  options: ResumeParkedChatOptions<C>,
): Promise<GovernedChatResult> {
  const maxRounds = checkLoopOptions('resumeParkedChat', options);
  const inner = functionsInternals(options.functions);
  if (!inner || typeof options.chat !== 'function') {
    throw new ConfigError(
      'resumeParkedChat: needs `functions` from governFunctions(...) and `chat`, a function rebuilding the chat from its history',
      { code: 'functions_invalid' },
    );
  }
  const parking = parkingOf(options.parking ?? true);
  const claimed = await claimParkedChat(parking, approvalId);
  if (!claimed) {
    throw new MeshGuardError(
      `no chat is parked under approval ${approvalId}: it was resumed already, another process is resuming it, or it was never parked here`,
      { code: 'run_not_parked' },
    );
  }
  const { state, claims } = claimed;
  const putBack = () => Promise.all(claims.map((c) => c.putBack()));
  const finish = () => Promise.all(claims.map((c) => c.done()));
  if (state.agentId !== inner.agent.id) {
    await putBack();
    throw new ConfigError(
      `approval ${approvalId} parked a chat of agent "${state.agentId}", not of "${inner.agent.id}"`,
      { code: 'parked_run_foreign' },
    );
  }

  const waiting = state.calls.filter((c) => c.response === undefined && c.approval !== undefined);
  const answers = new Map<string, ApprovalState | undefined>();
  try {
    for (const { approval } of waiting)
      answers.set(approval!.id, await approvalStateOf(inner.guard, approval!.id));
  } catch (error) {
    await putBack();
    throw error;
  }
  const open = waiting.filter(({ approval }) => answers.get(approval!.id)?.status === 'pending');
  if (open.length > 0) {
    // Nothing runs until every call of the turn is answered: the model gets the responses together.
    await putBack();
    const ids = open.map(({ approval }) => `${approval!.id} (until ${approval!.expiresAt})`);
    throw new MeshGuardError(
      `approval ${ids.join(', ')} ${open.length === 1 ? 'is' : 'are'} still pending: the chat stays parked; resume it once a person has answered`,
      { code: 'approval_pending' },
    );
  }

  const parts: FunctionResponsePart[] = [];
  for (const [index, parked] of state.calls.entries()) {
    if (parked.response !== undefined) {
      parts.push(parked.response);
      continue;
    }
    const id = parked.approval!.id;
    const answer = answers.get(id);
    const notApproved =
      answer?.status === 'approved'
        ? undefined
        : { reason: answer?.reason ?? `Denied: there is no approval request ${id}` };
    parts.push(await inner.answerApproved(parked.call, index, state.traceId, id, notApproved));
  }

  const chat = options.chat(structuredClone(state.history) as C[]);
  return chatLoop({
    driven: driver({ ...options, chat }),
    options,
    maxRounds,
    traceId: state.traceId,
    first: parts,
    resumed: parts,
    parking,
    async settled(sent) {
      if (!sent) {
        // The calls ran (or were refused): their responses are kept, so a retry sends them
        // again without running anything twice.
        await parkChat(parking, {
          ...state,
          calls: state.calls.map((c, i) => ({ ...c, response: parts[i]! })),
        });
      }
      await finish();
    },
  });
}
