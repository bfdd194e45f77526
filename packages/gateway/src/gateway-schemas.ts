import {
  AgentIdentitySchema,
  AuditEventSchema,
  AuditFilterSchema,
  CheckRequestSchema,
  DecisionSchema,
  OutcomeEventSchema,
  TrustTierSchema,
} from '@meshguard/core';
import { z } from 'zod';

/** A check as an agent sends it: who the agent is comes from its token, never from the body. */
export const CheckBodySchema = CheckRequestSchema.omit({ agent: true });
export type CheckBody = z.infer<typeof CheckBodySchema>;

export const BatchCheckBodySchema = z.object({ requests: z.array(CheckBodySchema).min(1).max(1000) });
export const BatchCheckReplySchema = z.object({ decisions: z.array(DecisionSchema) });

/** Outcome events; the agent is the token's, and each event's `id` makes a retry harmless. */
export const OutcomeBodySchema = z.object({
  events: z
    .array(OutcomeEventSchema.omit({ agent: true }))
    .min(1)
    .max(1000),
});
export const OutcomeReplySchema = z.object({ accepted: z.number().int() });

export const AuditQuerySchema = AuditFilterSchema.extend({
  limit: z.coerce.number().int().positive().max(10_000).default(100),
});
export const AuditPageSchema = z.object({
  events: z.array(AuditEventSchema),
  nextCursor: z.string().optional(),
});

export const CreateAgentBodySchema = z.object({
  id: z.string().min(1).max(256).optional(),
  name: z.string().min(1).max(256),
  tags: z.array(z.string().min(1).max(128)).max(64).default([]),
  tier: TrustTierSchema.default('basic'),
  /** Token lifetime in seconds (default 30 days). */
  ttl: z
    .number()
    .int()
    .positive()
    .max(366 * 86_400)
    .default(30 * 86_400),
});
export const AgentRecordSchema = AgentIdentitySchema.extend({
  createdAt: z.string(),
  revokedAt: z.string().optional(),
});
export const CreateAgentReplySchema = z.object({
  agent: AgentRecordSchema,
  token: z.string(),
  expiresAt: z.string(),
});

export const PolicyFileSchema = z.object({
  name: z.string().min(1).max(256),
  text: z.string().max(1_000_000),
});
export const PutPoliciesBodySchema = z.object({ files: z.array(PolicyFileSchema).min(1).max(500) });
export const PolicySetReplySchema = z.object({
  version: z.number().int(),
  files: z.array(PolicyFileSchema),
  updatedAt: z.string().optional(),
});

export const ErrorReplySchema = z.object({
  error: z.string(),
  message: z.string(),
  field: z.string().optional(),
  issues: z
    .array(z.object({ file: z.string(), line: z.number(), column: z.number(), message: z.string() }))
    .optional(),
});
