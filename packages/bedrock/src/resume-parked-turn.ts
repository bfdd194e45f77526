import type { InvocationResultMember, InvokeAgentRequest } from '@aws-sdk/client-bedrock-agent-runtime';
import { type ApprovalState, ConfigError, MeshGuardError, type RunParking } from '@meshguard/core';
import { approvalStateOf, withdrawApproval } from './bedrock-approvals';
import { type GovernedTurnResult, runTurn } from './bedrock-invocation-loop';
import { claimParkedTurn, type ParkedTurn, parkedResult, parkTurn } from './bedrock-parking';
import { answerApprovedInput, refuseParkedInput } from './bedrock-return-control';
import { newTurnState, type TurnState } from './bedrock-turn';
import {
  agentGovernance,
  agentSender,
  type GovernedAgentOptions,
  type LastingState,
  turnParking,
} from './governed-agent';

/** What `resumeParkedTurn` takes: the agent's options (`createGovernedAgent`'s). */
export interface ResumeParkedTurnOptions extends GovernedAgentOptions {
  /**
   * Where the turn is parked, and where it is parked again if it stops on another approval
   * (default `true`: `createFileParking()`, `.meshguard/parked`).
   */
  parking?: RunParking | true;
}

/**
 * Resumes a turn parked on an approval, in any process, once a person has answered
 * (`guard.approvals.answer`, `meshguard approvals approve <id>`, `POST /v1/approvals/{id}/approve`).
 * It claims the parked turn atomically (of two resumers one gets it; the other gets a
 * `run_not_parked` error, as does an id nothing is parked under), reads each approval the turn
 * waits on, and answers the agent through `InvokeAgent`: an approved call is checked again with
 * its approval id right before it runs its handler (a confirmation input gets `CONFIRM`), so it
 * runs once whoever resumes, and changed arguments or a policy that now denies still stop it; a
 * rejected or expired one is answered with the refusal (`DENY` for a confirmation) so the agent
 * hears why. The turn then goes on as `invoke` would, and may park again.
 *
 * While any approval of the round is still pending, nothing runs: the turn stays parked and this
 * throws `approval_pending`. After the Bedrock session idled out (`idleSessionTTLInSeconds`,
 * counted from the request that paused), nothing is sent to the dead session and no call runs: it
 * resolves `session_ended` with the reason, recorded as a `blocked` outcome of each waiting call.
 *
 * @example
 * const parking = createFileParking('.meshguard/parked');
 * const first = await createGovernedAgent({ ...options, parking }).invoke({ sessionId, inputText });
 * // first.status === 'awaiting_approval'; later, elsewhere, once approved:
 * const resumed = await resumeParkedTurn(first.pendingApprovals[0]!.approvalId, { ...options, parking });
 */
export async function resumeParkedTurn(
  approvalId: string,
  options: ResumeParkedTurnOptions,
): Promise<GovernedTurnResult> {
  const governance = agentGovernance({ ...options, parking: options.parking ?? true });
  const parking = governance.parking!;
  const claimed = await claimParkedTurn(parking, approvalId);
  if (!claimed) {
    throw new MeshGuardError(
      `no turn is parked under approval ${approvalId}: it was resumed already, another process is resuming it, or it was never parked here`,
      { code: 'run_not_parked' },
    );
  }
  const { state, claims } = claimed;
  const putBack = () => Promise.all(claims.map((c) => c.putBack()));
  const finish = () => Promise.all(claims.map((c) => c.done()));
  if (state.agentId !== options.agentId || state.agentAliasId !== options.agentAliasId) {
    await putBack();
    throw new ConfigError(
      `approval ${approvalId} parked a turn of agent ${state.agentId} (alias ${state.agentAliasId}), not of ${options.agentId} (alias ${options.agentAliasId})`,
      { code: 'parked_run_foreign' },
    );
  }
  const turn = newTurnState(state.sessionId, state.traceId);
  const waiting = state.inputs
    .map((input, index) => ({ ...input, index, invocationId: state.invocationId }))
    .filter((input) => input.result === undefined && input.approval !== undefined);

  if (Date.now() >= Date.parse(state.resumeBy)) {
    const reason = `the Bedrock session ${state.sessionId} has ended: it had been idle since ${state.pausedAt}, past the agent's idle session timeout (resume by ${state.resumeBy}), so the call was not answered and did not run`;
    for (const input of waiting) {
      await refuseParkedInput(governance, turn, input, input.approval!.decisionId, reason);
      await withdrawApproval(governance.guard, input.approval!.id, reason);
    }
    await finish();
    return ended(turn, state, reason);
  }

  const answers = new Map<string, ApprovalState | undefined>();
  try {
    for (const input of waiting) {
      answers.set(input.approval!.id, await approvalStateOf(governance.guard, input.approval!.id));
    }
  } catch (error) {
    await putBack();
    throw error;
  }
  const open = waiting.filter((input) => answers.get(input.approval!.id)?.status === 'pending');
  if (open.length > 0) {
    // Nothing runs until every call of the round is answered: Bedrock takes the results together.
    await putBack();
    const ids = open.map((input) => `${input.approval!.id} (until ${input.approval!.expiresAt})`);
    throw new MeshGuardError(
      `approval ${ids.join(', ')} ${open.length === 1 ? 'is' : 'are'} still pending: the turn stays parked; resume it once a person has answered`,
      { code: 'approval_pending' },
    );
  }

  const results: InvocationResultMember[] = [];
  for (const [index, input] of state.inputs.entries()) {
    if (input.result !== undefined) {
      results.push(parkedResult(input.result));
      continue;
    }
    const id = input.approval!.id;
    const answer = answers.get(id);
    results.push(
      await answerApprovedInput(
        governance,
        turn,
        { invocationId: state.invocationId, member: input.member, delegation: input.delegation, index },
        id,
        {
          approval: answer?.answeredBy
            ? {
                approved: answer.status === 'approved',
                by: answer.answeredBy,
                ...(answer.comment !== undefined ? { message: answer.comment } : {}),
              }
            : undefined,
          notApproved:
            answer?.status === 'approved'
              ? undefined
              : { reason: answer?.reason ?? `Denied: there is no approval request ${id}` },
        },
      ),
    );
  }

  // The parked turn's own fields, as `invoke` sent them (it wrote them; they are JSON).
  const request = state.request as Omit<InvokeAgentRequest, 'agentId' | 'agentAliasId' | 'inputText'>;
  const lasting = state.lasting as LastingState;
  const send = agentSender(options, request, lasting, {});
  return runTurn(governance, turn, 'InvokeAgent', send, {
    ...turnParking(options, governance, turn, request, lasting),
    resume: {
      invocationId: state.invocationId,
      results,
      rounds: state.rounds,
      async settled(sent) {
        if (!sent) {
          // The calls ran (or were refused): their results are kept, so a retry sends them again
          // without running anything twice.
          await parkTurn(parking, {
            ...state,
            inputs: state.inputs.map((input, i) => ({
              ...input,
              result: JSON.parse(JSON.stringify(results[i])),
            })),
          });
        }
        await finish();
      },
    },
  });
}

/** A resume refused without sending anything: the session is gone. */
function ended(turn: TurnState, state: ParkedTurn, reason: string): GovernedTurnResult {
  return {
    status: 'session_ended',
    pendingApprovals: [],
    reason,
    text: '',
    sessionId: state.sessionId,
    traceId: state.traceId,
    decisions: turn.decisions,
    observed: [],
    trace: [],
    files: [],
    rounds: state.rounds,
  };
}
