import { z } from 'zod';
import { ActionSchema } from './action';
import { AgentIdentitySchema } from './agent-identity';
import { OutcomeSchema, SourceSchema } from './audit-event';
import { ActionKindSchema, ContextSchema } from './check-request';
import { EffectSchema } from './decision';

/**
 * The `error` of the `blocked` outcome a remote guard records when it gave up waiting for the
 * gateway's answer: the gateway may still have decided (and allowed) the check, but the action
 * did not run.
 */
export const CLIENT_GAVE_UP = 'client_gave_up';

/**
 * An outcome reported after an action ran (or failed, or was answered by a human). Joined to its
 * decision by `decisionId`; the guard fills agent, action and trace from the decision it made.
 * Observed activity that no decision preceded carries `action` and `agent` itself.
 */
export const OutcomeEventSchema = z.object({
  id: z.string().min(1).max(128).optional(),
  decisionId: z.string().min(1).max(128).optional(),
  outcome: OutcomeSchema,
  /** The decision's effect, when the guard no longer holds the decision (a late approval). */
  effect: EffectSchema.optional(),
  durationMs: z.number().nonnegative().optional(),
  error: z.string().max(4096).optional(),
  actor: z.string().max(256).optional(),
  action: ActionSchema.optional(),
  agent: AgentIdentitySchema.optional(),
  delegation: z.array(AgentIdentitySchema).max(64).optional(),
  traceId: z.string().min(1).max(256).optional(),
  spanId: z.string().min(1).max(256).optional(),
  framework: z.string().min(1).max(64).optional(),
  kind: ActionKindSchema.optional(),
  reason: z.string().max(4096).optional(),
  source: SourceSchema.optional(),
  context: ContextSchema.optional(),
  ts: z.iso
    .datetime({ offset: true, message: 'ts must be an ISO date-time, e.g. 2026-01-05T10:00:00Z' })
    .optional(),
  type: z.enum(['outcome', 'session']).optional(),
  /**
   * When the event reached the recorder, if later than `ts` (a spooled outcome replayed): set by
   * the gateway from its own clock, never taken from an agent.
   */
  deliveredAt: z.iso.datetime({ offset: true, message: 'deliveredAt must be an ISO date-time' }).optional(),
});
export type OutcomeEvent = z.input<typeof OutcomeEventSchema>;
export type ParsedOutcomeEvent = z.output<typeof OutcomeEventSchema>;
