import {
  type ApprovalState,
  type CheckedAction,
  ConfigError,
  MeshGuardError,
  type RunParking,
} from '@meshguard/core';
import { type RunResult, RunState, type RunToolApprovalItem } from '@openai/agents';
import { approvalDenialText } from './answer-call';
import { approvalChannel } from './approval-requests';
import { governedToolInfo } from './govern-tool';
import {
  callApprovals,
  callIdOf,
  closeGovernance,
  debug,
  guardFor,
  identityOf,
  pendingApprovals,
  resumeRunGovernance,
} from './governance-context';
import { type RunGovernedOptions, runToEnd } from './governed-run';
import {
  type ClaimedAgentsRun,
  claimParkedRun,
  type ParkedCall,
  parkedApprovals,
  parkingOf,
} from './parked-runs';
import type { AnyAgent } from './sdk-aliases';

/** `resumeParkedRun`'s options: `runGoverned`'s, plus the agent graph the run was parked with. */
export interface ResumeParkedRunOptions<TContext = undefined, TAgent extends AnyAgent = AnyAgent>
  extends Omit<RunGovernedOptions<TContext, TAgent>, 'parking'> {
  /**
   * The governed agent graph the run was parked with (`governAgent(agent, options)`): the SDK's
   * `RunState.fromString` needs the same agents and tools.
   */
  agent: TAgent;
  /**
   * Where the run is parked, and where it is parked again if it stops on another approval
   * (default `true`: `createFileParking()`, `.meshguard/parked`).
   */
  parking?: RunParking | true;
}

/**
 * Resumes, in any process, a run `runGoverned` parked on an approval request, once a person has
 * answered it (`guard.approvals.answer`, `meshguard approvals approve`). The run is claimed
 * atomically (of two resumers one gets it; the other a `run_not_parked` error). Each call it
 * waits on gets its request's answer: approved, the call is checked again with its `approvalId`
 * right before it runs, so it runs once whoever resumes, and a policy that now denies (or changed
 * arguments) still stops it; rejected, expired or cancelled, the model reads why. Still pending:
 * the run stays parked and this throws `approval_pending`. The run then goes on to its end, or to
 * its next approvals, where it is parked again (`parkedApprovals(result)`); if resuming fails, the
 * run is put back.
 *
 * @example
 * // In any process, after `meshguard approvals approve apr_0193...`:
 * const result = await resumeParkedRun('apr_0193...', { ...options, agent: governAgent(support, options) });
 * console.log(result.finalOutput);
 */
export async function resumeParkedRun<TAgent extends AnyAgent, TContext = undefined>(
  approvalId: string,
  options: ResumeParkedRunOptions<TContext, TAgent>,
): Promise<RunResult<TContext, TAgent>> {
  const parking = parkingOf(options.parking ?? true);
  const claimed = await claimParkedRun(parking, approvalId);
  let result: RunResult<TContext, TAgent>;
  try {
    result = await resumeClaimed(approvalId, claimed, { ...options, parking });
  } catch (error) {
    await claimed.putBack().catch((putBack: unknown) => {
      debug('could not put back the run parked under %s: %O', claimed.parkedUnder, putBack);
    });
    throw error;
  } finally {
    await closeGovernance(options);
  }
  await claimed.done();
  // The entries of the run's other requests point to a run that is gone, unless parked again.
  const again = new Set(parkedApprovals(result));
  for (const call of claimed.run.calls) {
    if (call.approvalId === approvalId || call.approvalId === claimed.parkedUnder) continue;
    if (!again.has(call.approvalId)) await parking.drop(call.approvalId);
  }
  return result;
}

interface Answered {
  call: ParkedCall;
  item: RunToolApprovalItem;
  checked: CheckedAction;
  /** The request as the side that asked sees it; undefined when the guard has no such request. */
  status: ApprovalState | undefined;
}

async function resumeClaimed<TAgent extends AnyAgent, TContext>(
  approvalId: string,
  claimed: ClaimedAgentsRun,
  options: ResumeParkedRunOptions<TContext, TAgent> & { parking: RunParking },
): Promise<RunResult<TContext, TAgent>> {
  const { run } = claimed;
  const state = await RunState.fromString<TContext, TAgent>(options.agent, run.runState);
  const interruptions = state.getInterruptions();
  const answered: Answered[] = [];
  for (const call of run.calls) {
    const item = interruptions.find((i) => callIdOf(i) === call.callId);
    if (!item) {
      throw new MeshGuardError(
        `the run parked for approval ${call.approvalId} does not wait on call ${call.callId}`,
        { code: 'parked_run_invalid' },
      );
    }
    if (call.kind === 'tool') {
      // Only a governed tool checks the call again with its approval before it runs.
      const tool = item.agent.tools.find((t: { name: string }) => t.name === item.toolName);
      if (!governedToolInfo(tool)) {
        throw new ConfigError(
          `resumeParkedRun: tool "${item.toolName ?? call.callId}" of agent "${item.agent.name}" is not governed: pass the governed agent graph (governAgent(agent, options)) as \`agent\``,
          { code: 'not_governed' },
        );
      }
    }
    const guard = guardFor(options, call.agentName);
    const channel = approvalChannel(guard);
    if (!channel) {
      throw new ConfigError(
        `resumeParkedRun needs a guard that keeps approval requests (an embedded guard whose store keeps them) for agent "${call.agentName}"`,
        { code: 'approval_unsupported' },
      );
    }
    const checked: CheckedAction = {
      guard,
      decision: call.decision,
      agent: identityOf(options, call.agentName),
      action: call.action,
      kind: call.kind,
      traceId: run.traceId,
      delegation: run.delegation[call.agentName] ?? [],
    };
    answered.push({ call, item, checked, status: await channel.status(call.approvalId) });
  }
  const asked = answered.find((a) => a.call.approvalId === approvalId)?.status;
  if (asked?.status === 'pending') {
    throw new MeshGuardError(
      `approval ${approvalId} is still pending (until ${asked.expiresAt}): the run stays parked; resume it once a person has answered`,
      { code: 'approval_pending' },
    );
  }
  // The resumed run's decisions join the trace it was parked under, with its delegation chains.
  resumeRunGovernance(state._context, run);
  for (const { call, item, checked, status } of answered) {
    pendingApprovals(state._context).set(call.callId, {
      checked,
      options,
      answered: status?.status !== 'pending',
    });
    // Checked naming its request: once approved, right before it runs; still pending, it is
    // asked again under the same request, and parked again.
    callApprovals(state._context).set(call.callId, call.approvalId);
    if (status?.status === 'pending') continue;
    if (status?.status === 'approved') {
      state.approve(item);
      continue;
    }
    const reason = status?.reason ?? `Denied: there is no approval request ${call.approvalId}`;
    state.reject(item, { message: approvalDenialText(checked, reason, options.denialMessage) });
  }
  return runToEnd(options.agent, state, options);
}
