import { z } from 'zod';

// The wire schemas live in core, where clients parse the gateway's replies with them; the gateway
// validates its requests and documents its replies with the same ones.
export {
  AgentApprovalQuerySchema,
  AgentApprovalReplySchema,
  AgentListReplySchema,
  AgentParamsSchema,
  AnswerApprovalBodySchema,
  ApprovalListQuerySchema,
  ApprovalPageReplySchema,
  ApprovalParamsSchema,
  ApprovalReplySchema,
  ApproverListReplySchema,
  ApproverParamsSchema,
  AuditPageSchema,
  AuditQuerySchema,
  BatchCheckBodySchema,
  BatchCheckReplySchema,
  CreateAgentBodySchema,
  CreateAgentReplySchema,
  CreateApproverBodySchema,
  CreateApproverReplySchema,
  ErrorReplySchema,
  HealthReplySchema,
  JudgeBodySchema,
  JudgeReplySchema,
  JwksReplySchema,
  OutcomeBodySchema,
  OutcomeEventBodySchema,
  OutcomeReplySchema,
  PolicySetReplySchema,
  PutPoliciesBodySchema,
  ReachableBodySchema,
  ReachableReplySchema,
  StatsQuerySchema,
  StatsReplySchema,
  TailQuerySchema,
  TailReplySchema,
  TokenParamsSchema,
  VerifyReplySchema,
} from '@meshguard/core/internal';

/** What the outcome route itself holds the body to: the events are checked one by one afterwards. */
export const OutcomeEnvelopeSchema = z.object({ events: z.array(z.unknown()).min(1).max(1000) });

export const OpenApiReplySchema = z
  .object({
    openapi: z.string().describe('The OpenAPI version (`3.1.0`).'),
    info: z
      .object({ title: z.string(), version: z.string(), description: z.string().optional() })
      .describe('The API and the gateway version.'),
    components: z
      .object({ securitySchemes: z.record(z.string(), z.unknown()).optional() })
      .optional()
      .describe('The security schemes (`agentToken`, `adminToken`).'),
    paths: z.record(z.string(), z.unknown()).describe('Every route, its parameters, body and answers.'),
  })
  .describe('The OpenAPI document.');
