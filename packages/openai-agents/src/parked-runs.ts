import {
  AgentIdentitySchema,
  type ClaimedRun,
  createFileParking,
  DecisionSchema,
  MeshGuardError,
  type RunParking,
} from '@meshguard/core';
import { parseWithSchema } from '@meshguard/core/internal';
import type { RunState, RunToolApprovalItem } from '@openai/agents';
import { z } from 'zod';
import {
  callApprovals,
  callIdOf,
  FRAMEWORK,
  type GovernanceOptions,
  pendingApprovals,
  runGovernance,
} from './governance-context';
import type { AnyAgent } from './sdk-aliases';

/** A call of a parked run that waits on a MeshGuard approval request. */
const ParkedCallSchema = z.object({
  approvalId: z.string().min(1),
  /** The SDK's call id: the interruption it answers. */
  callId: z.string().min(1),
  agentName: z.string().min(1),
  action: z.string().min(1),
  kind: z.enum(['tool', 'builtin_tool']),
  /** The `require_approval` decision (no arguments: those are in the run state). */
  decision: DecisionSchema,
});
export type ParkedCall = z.infer<typeof ParkedCallSchema>;

/**
 * A run parked by this adapter, as `RunParking` keeps it (`ParkedRun.state`): the SDK's serialized
 * `RunState`, which holds the calls' arguments, the trace and delegation chains its decisions carry,
 * and every call of it that waits on an approval request.
 */
const ParkedAgentsRunSchema = z.object({
  v: z.literal(1),
  runState: z.string().min(1),
  traceId: z.string().min(1),
  delegation: z.record(z.string(), z.array(AgentIdentitySchema)),
  calls: z.array(ParkedCallSchema).min(1),
});
type ParkedAgentsRun = z.infer<typeof ParkedAgentsRunSchema>;

/** The entry of a run's other approval requests: the run is parked once, under `parkedWith`. */
const ParkedReferenceSchema = z.object({ v: z.literal(1), parkedWith: z.string().min(1) });

const ParkedEntrySchema = z.union([ParkedAgentsRunSchema, ParkedReferenceSchema]);

/** Where runs are parked: the one given, or `true` for `createFileParking()` (`.meshguard/parked`). */
export function parkingOf(parking: RunParking | true): RunParking {
  return parking === true ? createFileParking() : parking;
}

const parkedByState = new WeakMap<object, string[]>();

/**
 * The approval ids a run was parked under by `runGoverned` or `resumeParkedRun` (empty when it
 * was not parked): give any of them to `resumeParkedRun` once a person has answered.
 *
 * @example
 * const result = await runGoverned(governed, 'Refund $150 for ORD-7', { ...options, parking: true });
 * for (const id of parkedApprovals(result)) await notifyApprovers(id); // the process may exit now
 */
export function parkedApprovals<TContext, TAgent extends AnyAgent>(result: {
  readonly state: RunState<TContext, TAgent>;
}): string[] {
  return [...(parkedByState.get(result.state) ?? [])];
}

/**
 * Parks an interrupted run under the approval requests of its interruptions (function tools MeshGuard
 * asked a person about): the whole run under the first, an entry pointing to it under each other.
 * Returns the approval ids (none when no interruption has a request).
 */
export async function parkRun<TContext, TAgent extends AnyAgent>(
  state: RunState<TContext, TAgent>,
  items: readonly RunToolApprovalItem[],
  options: GovernanceOptions,
  parking: RunParking,
): Promise<string[]> {
  const runContext = state._context;
  const calls: ParkedCall[] = [];
  for (const item of items) {
    const callId = callIdOf(item);
    if (callId === undefined) continue;
    const approvalId = callApprovals(runContext).get(callId);
    const pending = pendingApprovals(runContext).get(callId);
    if (approvalId === undefined || !pending) continue;
    const { checked } = pending;
    calls.push({
      approvalId,
      callId,
      agentName: item.agent.name,
      action: checked.action,
      kind: checked.kind === 'tool' ? 'tool' : 'builtin_tool',
      decision: checked.decision,
    });
  }
  const [first, ...others] = calls;
  if (!first) return [];
  const run = runGovernance(runContext, options);
  const parked: ParkedAgentsRun = {
    v: 1,
    runState: state.toString(),
    traceId: run.traceId,
    delegation: Object.fromEntries(run.delegation),
    calls,
  };
  await parking.park({ approvalId: first.approvalId, framework: FRAMEWORK, state: parked });
  for (const other of others) {
    await parking.park({
      approvalId: other.approvalId,
      framework: FRAMEWORK,
      state: { v: 1, parkedWith: first.approvalId },
    });
  }
  const ids = calls.map((c) => c.approvalId);
  parkedByState.set(state, ids);
  return ids;
}

/** A parked run taken for resuming: the run, and what to do with the entries claimed for it. */
export interface ClaimedAgentsRun {
  run: ParkedAgentsRun;
  /** The approval id the run itself is parked under. */
  parkedUnder: string;
  /** Drops what was claimed (the run resumed). */
  done(): Promise<void>;
  /** Puts back what was claimed (resuming failed, or must wait). */
  putBack(): Promise<void>;
}

/**
 * Claims the run parked under `approvalId` (or the run it points to), atomically: of two
 * resumers, one gets it; the other gets a `run_not_parked` error.
 */
export async function claimParkedRun(parking: RunParking, approvalId: string): Promise<ClaimedAgentsRun> {
  const claims: ClaimedRun[] = [];
  const putBack = async () => {
    // Newest first: a reference goes back only after the run it points to.
    for (const claim of claims.reverse()) await claim.putBack();
  };
  try {
    let claimed = await parking.claim(approvalId);
    if (!claimed) throw notParked(approvalId);
    claims.push(claimed);
    let entry = parseEntry(claimed);
    if ('parkedWith' in entry) {
      const under = entry.parkedWith;
      claimed = await parking.claim(under);
      if (!claimed) throw notParked(under, approvalId);
      claims.push(claimed);
      entry = parseEntry(claimed);
      if ('parkedWith' in entry) {
        throw new MeshGuardError(`the run parked under approval ${under} is a reference, not a run`, {
          code: 'parked_run_invalid',
        });
      }
    }
    if (!entry.calls.some((c) => c.approvalId === approvalId)) {
      throw new MeshGuardError(`the run parked for approval ${approvalId} does not wait on it`, {
        code: 'parked_run_invalid',
      });
    }
    const run = entry;
    const parkedUnder = claimed.approvalId;
    return {
      run,
      parkedUnder,
      done: async () => {
        for (const claim of claims) await claim.done();
      },
      putBack,
    };
  } catch (error) {
    await putBack();
    throw error;
  }
}

function parseEntry(claimed: ClaimedRun): z.infer<typeof ParkedEntrySchema> {
  if (claimed.framework !== FRAMEWORK) {
    throw new MeshGuardError(
      `the run parked under approval ${claimed.approvalId} was parked by ${claimed.framework}, not ${FRAMEWORK}`,
      { code: 'parked_run_invalid' },
    );
  }
  return parseWithSchema(ParkedEntrySchema, claimed.state, { under: 'parked run' });
}

function notParked(approvalId: string, asked?: string): MeshGuardError {
  const which =
    asked === undefined ? `approval ${approvalId}` : `approval ${asked} (parked with ${approvalId})`;
  return new MeshGuardError(
    `no run is parked under ${which}: it was resumed already, another process is resuming it, or it was never parked here`,
    { code: 'run_not_parked' },
  );
}
