import { z } from 'zod';
import { AuditEventTypeSchema } from './audit-event';
import { ActionKindSchema } from './check-request';
import { EffectSchema } from './decision';

/** How to ask the audit trail. `action` is a glob (`write:*`); times are ISO strings. */
export const AuditFilterSchema = z.object({
  agent: z.string().optional(),
  action: z.string().optional(),
  effect: EffectSchema.optional(),
  framework: z.string().optional(),
  kind: ActionKindSchema.optional(),
  type: AuditEventTypeSchema.optional(),
  traceId: z.string().optional(),
  decisionId: z.string().optional(),
  since: z.string().optional(),
  until: z.string().optional(),
  order: z.enum(['asc', 'desc']).default('desc'),
  limit: z.number().int().positive().max(10_000).default(100),
  cursor: z.string().optional(),
});
export type AuditFilter = z.input<typeof AuditFilterSchema>;
export type ParsedAuditFilter = z.output<typeof AuditFilterSchema>;
