import { z } from 'zod';
import { AgentIdentitySchema } from './agent-identity';
import { ActionKindSchema, ContextSchema } from './check-request';
import { EffectSchema, PolicyModeSchema, PolicyRefSchema, RuleRefSchema } from './decision';

/**
 * `decision` and `outcome` of an action; `session` for what an SDK reports of a run; `approval_*`
 * for each step of an approval request (`actor` says who answered).
 */
const AUDIT_EVENT_TYPES = [
  'decision',
  'outcome',
  'session',
  'approval_requested',
  'approval_granted',
  'approval_rejected',
  'approval_expired',
  'approval_cancelled',
] as const;
export const AuditEventTypeSchema = z.enum(AUDIT_EVENT_TYPES);
export type AuditEventType = z.infer<typeof AuditEventTypeSchema>;

/**
 * What happened after a decision: the action ran (`success` / `error`), was stopped (`blocked`),
 * a human answered an approval (`approved` / `rejected`), or MeshGuard could only watch it happen
 * inside the framework's own service (`observed`: not gated).
 */
export const OUTCOMES = ['success', 'error', 'blocked', 'approved', 'rejected', 'observed'] as const;
export const OutcomeSchema = z.enum(OUTCOMES);
export type Outcome = z.infer<typeof OutcomeSchema>;

export const SourceSchema = z.object({ name: z.string(), version: z.string() });

/** The fields of an audit event before a store chains it (no `stream`, `seq`, `prevHash`, `hash`). */
const AuditEventBodySchema = z.object({
  v: z.literal(1),
  id: z.string().min(1),
  /** When it happened (for an outcome: when the agent recorded it, however late it arrived). */
  ts: z.string(),
  /** When a late outcome (spooled while the gateway was away) reached the trail; absent when on time. */
  deliveredAt: z
    .string()
    .optional()
    .describe(
      'For an outcome that reached the gateway over a second late (spooled while it was away): when it arrived, an ISO 8601 date-time; `ts` stays when it happened.',
    ),
  type: AuditEventTypeSchema,
  traceId: z.string(),
  spanId: z.string().optional(),
  agent: AgentIdentitySchema,
  delegation: z.array(AgentIdentitySchema).optional(),
  framework: z.string(),
  kind: ActionKindSchema,
  action: z.string(),
  effect: EffectSchema,
  reason: z.string().optional(),
  policy: PolicyRefSchema.optional(),
  rule: RuleRefSchema.optional(),
  mode: PolicyModeSchema,
  decisionId: z.string(),
  outcome: OutcomeSchema.optional(),
  durationMs: z.number().nonnegative().optional(),
  /** Who approved or rejected, for `approved` / `rejected` outcomes and `approval_*` events. */
  actor: z.string().optional(),
  /** The approval request an `approval_*` event (or a call it let through) belongs to. */
  approvalId: z.string().optional(),
  error: z
    .string()
    .optional()
    .describe(
      'For `error` outcomes: what failed. On a `blocked` a remote guard recorded itself: why it denied (`client_gave_up`: it stopped waiting; see [docs/gateway.md](gateway.md)).',
    ),
  /** The package that produced the event (an adapter and its version). */
  source: SourceSchema.optional(),
  /** Tool arguments and metadata, with secret- and personal-looking fields replaced by salted hashes. */
  context: ContextSchema.optional(),
});
export type AuditEventBody = z.infer<typeof AuditEventBodySchema>;

/**
 * AuditEvent v1: one schema for every framework. Each writer stream is a hash chain:
 * `hash = sha256(prevHash + canonicalJson(event without hash))`.
 */
export const AuditEventSchema = AuditEventBodySchema.extend({
  stream: z.string().min(1),
  seq: z.number().int().positive(),
  prevHash: z.string(),
  hash: z.string(),
});
export type AuditEvent = z.infer<typeof AuditEventSchema>;
