import { z } from 'zod';
import { ActionSchema } from './action';
import { AgentIdentitySchema } from './agent-identity';

export const ACTION_KINDS = ['tool', 'handoff', 'builtin_tool', 'guardrail', 'session', 'custom'] as const;
export const ActionKindSchema = z.enum(ACTION_KINDS);
export type ActionKind = z.infer<typeof ActionKindSchema>;

/** A plain JSON object: tool arguments plus metadata. */
export const ContextSchema = z.record(z.string(), z.unknown());
export type CheckContext = Record<string, unknown>;

/** The question every adapter asks before an action runs. */
export const CheckRequestSchema = z.object({
  action: ActionSchema,
  agent: AgentIdentitySchema,
  context: ContextSchema.optional(),
  traceId: z.string().min(1).max(256).optional(),
  spanId: z.string().min(1).max(256).optional(),
  /** The agents this request came through, root first (the acting agent is not in it). */
  delegation: z.array(AgentIdentitySchema).max(64).optional(),
  framework: z.string().min(1).max(64).optional(),
  kind: ActionKindSchema.optional(),
  /** The package asking (an adapter and its version), stamped on the recorded decision. */
  source: z.object({ name: z.string().min(1).max(214), version: z.string().min(1).max(64) }).optional(),
  /**
   * The decision id, minted by the client (a UUIDv7) so that an outcome it records after giving
   * up on the answer (a timeout) joins the decision the gateway may still have made. The gateway
   * refuses an id it has seen.
   */
  decisionId: z.uuid({ version: 'v7', message: 'decisionId must be a UUIDv7' }).optional(),
  /**
   * The approval request a `require_approval` decision opened, once a person has answered it: the
   * same call (same agent, action and context) checked again is allowed once if it was approved and
   * the policy in force still asks for approval; a policy that now denies wins.
   */
  approvalId: z.string().min(1).max(256).optional(),
  /** When the client stops waiting (ISO date-time): the gateway does not evaluate a check after it. */
  deadline: z.iso
    .datetime({ offset: true, message: 'deadline must be an ISO date-time, e.g. 2026-01-05T10:00:00Z' })
    .optional(),
});
export type CheckRequest = z.input<typeof CheckRequestSchema>;
export type ParsedCheckRequest = z.output<typeof CheckRequestSchema>;
