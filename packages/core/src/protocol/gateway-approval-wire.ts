import { z } from 'zod';
import { ApprovalRequestSchema, ApprovalStatusSchema } from './approval';

// The approval routes' wire: the gateway validates and documents with these, clients (the CLI,
// the remote guard, the console) parse replies with them.

export const ApprovalParamsSchema = z.object({
  id: z.string().min(1).max(256).describe('The approval request id (`apr_...`).'),
});

export const ApprovalReplySchema = ApprovalRequestSchema.describe(
  'An approval request, with the arguments the approver judges.',
);

export const ApprovalPageReplySchema = z
  .object({
    approvals: z.array(ApprovalRequestSchema),
    nextCursor: z.string().optional().describe('Pass back as `cursor` for the next page.'),
  })
  .describe('Approval requests, newest first.');

export const AnswerApprovalBodySchema = z
  .object({
    comment: z
      .string()
      .max(4096)
      .optional()
      .describe('Why: kept with the request; on a rejection, what the agent or model is told.'),
  })
  .describe('An answer to a pending approval request.');

/** What the agent that asked may read of its own request: never the arguments (it sent them). */
export const AgentApprovalReplySchema = z
  .object({
    id: z.string(),
    status: ApprovalStatusSchema,
    expiresAt: z.string(),
    answeredBy: z.string().optional(),
    answeredAt: z.string().optional(),
    comment: z.string().optional(),
    reason: z.string().describe('The rule that asked for approval, or the answer, in words.'),
  })
  .describe("An agent's own approval request, as it waits on it.");

export const AgentApprovalQuerySchema = z.object({
  waitMs: z.coerce
    .number()
    .int()
    .min(0)
    .max(60_000)
    .default(0)
    .describe('Wait up to this long (ms, at most 60000) for an answer while the request is pending.'),
});

const ApproverTagSchema = z.string().min(1).max(128);

export const CreateApproverBodySchema = z
  .object({
    name: z.string().min(1).max(256).describe('Who the approver is (recorded as the actor of each answer).'),
    tags: z
      .array(ApproverTagSchema)
      .max(64)
      .default([])
      .describe('Tags or roles a rule names in `approval.approvers`.'),
  })
  .describe('A person who answers approval requests.');

const ApproverRecordSchema = z.object({
  id: z.string(),
  name: z.string(),
  tags: z.array(z.string()),
  createdAt: z.string(),
  revokedAt: z.string().optional(),
});

export const CreateApproverReplySchema = z
  .object({
    approver: ApproverRecordSchema,
    token: z.string().describe('The approver token, shown once (`mga_<id>.<secret>`).'),
  })
  .describe('The approver and its token.');

export const ApproverListReplySchema = z
  .object({ approvers: z.array(ApproverRecordSchema) })
  .describe('The approvers, revoked ones with `revokedAt`.');

export const ApproverParamsSchema = z.object({ id: z.string().min(1).max(256).describe('The approver id.') });
