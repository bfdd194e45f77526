import { z } from 'zod';
import { AuditEventSchema } from './audit-event';
import { AuditFilterSchema } from './audit-filter';
import { described } from './described-schema';

// The queries and replies of the gateway's audit routes (query, tail, stats, verify).

export const AuditQuerySchema = described(AuditFilterSchema, {
  agent: 'Only events of this agent id.',
  action: 'Only events whose action matches this glob (`write:*`).',
  effect: 'Only decisions with this effect.',
  framework: 'Only events from this framework.',
  kind: 'Only events of this action kind.',
  type: 'Only events of this type.',
  traceId: 'Only events of this trace.',
  decisionId: 'Only the decision with this id and its outcomes.',
  since: 'Only events at or after this ISO date-time.',
  until: 'Only events before this ISO date-time.',
  order: 'Newest first (`desc`) or oldest first (`asc`).',
  cursor: 'The `nextCursor` of the previous page.',
}).extend({
  limit: z.coerce
    .number()
    .int()
    .positive()
    .max(10_000)
    .default(100)
    .describe('The largest number of events to return.'),
});
export const AuditPageSchema = z
  .object({
    events: z.array(AuditEventSchema).describe('The matching events.'),
    nextCursor: z
      .string()
      .optional()
      .describe('Pass as `cursor` for the next page; absent on the last page.'),
  })
  .describe('A page of events.');

export const TailQuerySchema = z.object({
  lines: z.coerce
    .number()
    .int()
    .positive()
    .max(10_000)
    .optional()
    .describe('How many of the latest events (default 20); ignored with `after`.'),
  after: z
    .string()
    .max(256)
    .optional()
    .describe('A `cursor` of a previous answer: the events recorded since.'),
});
export const TailReplySchema = z
  .object({
    events: z.array(AuditEventSchema).describe('The events, oldest first.'),
    cursor: z.string().describe('Pass as `after` to get what is recorded next.'),
  })
  .describe('The events and the cursor to follow from.');

export const StatsQuerySchema = described(AuditFilterSchema.pick({ since: true, until: true }), {
  since: 'Count events at or after this ISO date-time.',
  until: 'Count events before this ISO date-time.',
});
const CountsSchema = z.array(
  z.object({
    key: z.string().describe('The value counted.'),
    count: z.number().int().describe('How many events.'),
  }),
);
export const StatsReplySchema = z
  .object({
    total: z.number().int().describe('How many events.'),
    byEffect: CountsSchema.describe('Enforced decisions by effect.'),
    byAction: CountsSchema.describe('Events by action (the 20 most frequent).'),
    byAgent: CountsSchema.describe('Events by agent name (the 20 most frequent).'),
    byType: CountsSchema.describe('Events by type.'),
  })
  .describe('The counts.');

export const VerifyReplySchema = z
  .object({
    ok: z.boolean().describe('True when every stream is intact.'),
    checked: z.number().int().describe('How many events were verified.'),
    threads: z.number().int().optional().describe('How many threads hashed the events.'),
    streams: z
      .array(
        z.object({
          stream: z.string().describe('The stream name.'),
          events: z.number().int().describe('How many events it holds.'),
          lastSeq: z.number().int().describe('The sequence number of its last event.'),
          lastHash: z.string().describe('The hash of its last event.'),
        }),
      )
      .describe('Every stream verified.'),
    problem: z
      .object({
        stream: z.string().describe('The stream.'),
        seq: z.number().int().describe('Where in the stream.'),
        id: z.string().describe('The event id.'),
        kind: z
          .enum(['edited', 'missing', 'reordered', 'duplicate', 'truncated'])
          .describe('What is wrong with the chain there.'),
        message: z.string().describe('The problem in words.'),
      })
      .optional()
      .describe('The first broken event, when `ok` is false.'),
  })
  .describe('The verification report.');
