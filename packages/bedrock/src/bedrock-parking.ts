import type { InvocationResultMember } from '@aws-sdk/client-bedrock-agent-runtime';
import {
  AgentIdentitySchema,
  type ClaimedRun,
  ConfigError,
  type ParkedRun,
  type RunParking,
} from '@meshguard/core';
import { claimParkedGroup, parseWithSchema } from '@meshguard/core/internal';
import { z } from 'zod';
import { FRAMEWORK } from './bedrock-governance';
import { InvocationInputMemberSchema } from './bedrock-payloads';

// A Bedrock turn paused on approvals, as it is parked: what `InvokeAgent` needs to answer the
// return of control later, from any process. It holds the call's inputs as the agent wrote them,
// so it lives in the private parking (0600), never in the trail.

const IsoTime = z.iso.datetime({ offset: true });

/** A result already worked out (an allowed input answered before the turn paused, or after). */
const ParkedResultSchema = z.union([
  z.object({ functionResult: z.object({ actionGroup: z.string() }).loose() }),
  z.object({ apiResult: z.object({ actionGroup: z.string() }).loose() }),
]);

const ParkedInputSchema = z.object({
  /** The input as the agent sent it. */
  member: InvocationInputMemberSchema,
  /** The agents the call came through (root first), as it was checked. */
  delegation: z.array(AgentIdentitySchema),
  /** Its result, once worked out. */
  result: ParkedResultSchema.optional(),
  /** The approval request it waits on. */
  approval: z.object({ id: z.string().min(1), expiresAt: IsoTime, decisionId: z.string().min(1) }).optional(),
});

const ParkedTurnSchema = z.object({
  v: z.literal(1),
  agentId: z.string().min(1),
  agentAliasId: z.string().min(1),
  sessionId: z.string().min(1),
  traceId: z.string().min(1),
  /** The turn's other `InvokeAgent` fields (memoryId, enableTrace...), sent with every request. */
  request: z.record(z.string(), z.unknown()),
  /** Session-wide settings sent with the results (session and prompt attributes...). */
  lasting: z.record(z.string(), z.unknown()),
  invocationId: z.string().min(1),
  /** When the round that paused was sent. */
  pausedAt: IsoTime,
  /** When the session idles out: a resume after it is refused. */
  resumeBy: IsoTime,
  rounds: z.number().int().nonnegative(),
  inputs: z.array(ParkedInputSchema).min(1).max(5),
  /** Every approval the turn waits on: it is parked under each, and resumes once all are answered. */
  approvalIds: z.array(z.string().min(1)).min(1),
});
export type ParkedTurn = z.infer<typeof ParkedTurnSchema>;

/** A parked result, in the SDK's type (it was one when it was parked). */
export function parkedResult(result: z.infer<typeof ParkedResultSchema>): InvocationResultMember {
  return result as InvocationResultMember;
}

/** Parks a turn under every approval it waits on. */
export async function parkTurn(parking: RunParking, state: ParkedTurn): Promise<void> {
  for (const approvalId of state.approvalIds) await parking.park({ approvalId, framework: FRAMEWORK, state });
}

function readParked(run: ParkedRun): ParkedTurn {
  if (run.framework !== FRAMEWORK) {
    throw new ConfigError(
      `approval ${run.approvalId} parked a ${run.framework} run, not a Bedrock turn: resume it with that adapter`,
      { code: 'parked_run_foreign' },
    );
  }
  return parseWithSchema(ParkedTurnSchema, run.state, {
    under: 'parked turn',
    hint: 'the parked Bedrock turn cannot be read (written by another version, or edited)',
  });
}

/**
 * Claims every parked copy of the turn `approvalId` belongs to, in id order so that of two
 * resumers (of the same approval or of two of one turn's) one gets them all. Undefined when
 * nothing is parked under the id, or another resumer holds the turn.
 */
export function claimParkedTurn(
  parking: RunParking,
  approvalId: string,
): Promise<{ state: ParkedTurn; claims: ClaimedRun[] } | undefined> {
  return claimParkedGroup(parking, approvalId, readParked);
}
