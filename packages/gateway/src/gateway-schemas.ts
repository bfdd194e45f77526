import {
  AgentIdentitySchema,
  AuditEventSchema,
  AuditFilterSchema,
  CheckRequestSchema,
  DecisionShapeSchema,
  JudgementShapeSchema,
  OutcomeEventSchema,
  TrustTierSchema,
} from '@meshguard/core';
import { z } from 'zod';

// Descriptions are for the OpenAPI document (`GET /v1/openapi.json`) and the reference generated
// from it: `.describe()` adds metadata only, so a described field validates exactly as before.

/** The same object schema with descriptions on some of its fields (order and validation kept). */
function described<Shape extends z.ZodRawShape>(
  schema: z.ZodObject<Shape>,
  descriptions: { [K in keyof Shape]?: string },
): z.ZodObject<Shape> {
  const fields: Record<string, z.ZodType> = {};
  for (const [key, text] of Object.entries(descriptions)) {
    const field = schema.shape[key];
    if (field && text !== undefined) fields[key] = (field as z.ZodType).describe(text);
  }
  return schema.extend(fields) as z.ZodObject<Shape>;
}

/** A check as an agent sends it: who the agent is comes from its token, never from the body. */
export const CheckBodySchema = described(CheckRequestSchema.omit({ agent: true }), {
  action: 'What the agent wants to do, as `verb:resource` (`read:orders`, `write:refund`).',
  context:
    'The tool arguments and metadata conditions look at (`amount` for `amount_max`); redacted before it is stored.',
  traceId: 'Joins the decision to the rest of a run in the audit trail.',
  spanId: 'The span within the trace.',
  delegation:
    'The agents this request came through, root first (the acting agent is not in it). Ignored when the token is a delegated token: its own chain counts.',
  framework: 'The agent framework asking (`openai-agents`, `bedrock`, `vertex`...).',
  kind: 'What sort of action it is.',
  source: 'The package asking (an adapter and its version), stamped on the recorded decision.',
  decisionId:
    'The id the decision is to have, minted by the client (a UUIDv7), so that an outcome it records after giving up on the answer joins the decision. Refused (409) when the gateway has seen it or it was minted more than 5 minutes ago; the gateway mints one when absent.',
  deadline:
    'When the client stops waiting (ISO date-time). A check that reaches the gateway after it is not evaluated: the answer, and the recorded decision, is a deny saying so.',
});

/** A decision as the gateway answers it (core's schema, described). */
export const DecisionReplySchema = described(DecisionShapeSchema, {
  decisionId: 'Identifies the decision; outcome events name it in `decisionId`.',
  allowed: 'True exactly when `effect` is `allow`: clients refuse a decision where the two disagree.',
  effect: 'What the policies decided.',
  reason: 'Why: the deciding rule, or that nothing allowed the action.',
  policy: 'The policy of the deciding rule.',
  rule: 'The deciding rule (its id and its index in the policy).',
  mode: 'Always `enforce` here: what shadow policies would have decided is in `shadow`.',
  evaluatedAt: 'When the decision was made (ISO date-time).',
  shadow: 'What shadow policies would have decided: recorded, never enforced.',
}).describe('The decision (a deny is a 200 with `allowed: false`).');

export const BatchCheckBodySchema = z.object({
  requests: z
    .array(CheckBodySchema)
    .min(1)
    .max(1000)
    .describe('The checks, each as `POST /v1/check` takes it.'),
});
export const BatchCheckReplySchema = z
  .object({
    decisions: z.array(DecisionReplySchema).describe('One decision per request, in request order.'),
  })
  .describe('The decisions.');

export const ReachableBodySchema = CheckBodySchema.omit({ context: true, decisionId: true, deadline: true });
export const ReachableReplySchema = z
  .object({
    reachable: z
      .boolean()
      .describe('Whether some context and time could let the action through (allow or approval).'),
    reason: z.string().describe('The reason of the deciding rule, or that nothing allows the action.'),
    approvalPossible: z.boolean().describe('Whether some request could come out as `require_approval`.'),
  })
  .describe('Whether the action can be allowed.');

/** A request to judge: a check as `POST /v1/check` takes it, less what only a recorded decision has. */
export const JudgeBodySchema = CheckBodySchema.omit({ decisionId: true, deadline: true });
export const JudgeReplySchema = described(JudgementShapeSchema, {
  allowed: 'True exactly when `effect` is `allow`.',
  effect: 'What the policies decide for the request as given, context included.',
  reason: 'Why: the deciding rule (and the condition that failed), or that nothing allows the action.',
  policy: 'The policy of the deciding rule.',
  rule: 'The deciding rule (its id and its index in the policy).',
  mode: 'Always `enforce` here: what shadow policies would decide is in `shadow`.',
  evaluatedAt: 'When it was judged (ISO date-time).',
  shadow: 'What shadow policies would decide.',
}).describe('The judgement: a decision with no id, recorded nowhere.');

/** One outcome event as an agent sends it: the agent is the token's, the delivery time the gateway's. */
export const OutcomeEventBodySchema = described(OutcomeEventSchema.omit({ agent: true, deliveredAt: true }), {
  id: 'Makes a retry harmless: an event whose id the gateway holds is ignored (and named as recorded).',
  decisionId: 'The decision this outcome follows (from `POST /v1/check`).',
  outcome:
    'What happened. `approved` and `rejected` (an approval answered) are refused with an agent token: the approver records them.',
  ts: 'When it happened (ISO date-time; default: when it arrives). An event that arrives over a second later gets `deliveredAt` in the trail.',
});

/** Outcome events; each is judged on its own, and each event's `id` makes a retry harmless. */
export const OutcomeBodySchema = z.object({
  events: z
    .array(OutcomeEventBodySchema)
    .min(1)
    .max(1000)
    .describe(
      'The outcome events to record (each checked on its own: one that breaks the schema is rejected in the answer, the others are recorded).',
    ),
});
/** What the route itself holds the body to: the events are checked one by one afterwards. */
export const OutcomeEnvelopeSchema = z.object({ events: z.array(z.unknown()).min(1).max(1000) });
export const OutcomeReplySchema = z
  .object({
    accepted: z.number().int().describe('How many events are recorded (ids already held included).'),
    recorded: z
      .array(z.string())
      .describe(
        'The id of every event recorded (ids already held included; the gateway mints one for an event without). Only these count as delivered.',
      ),
    rejected: z
      .array(
        z.object({
          index: z.number().int().describe('Where the event is in `events` (from 0).'),
          id: z.string().optional().describe('Its id, if it had one.'),
          error: z
            .enum(['bad_request', 'forbidden'])
            .describe(
              '`bad_request`: it breaks the schema, or names a decision of another agent; `forbidden`: an agent token cannot record it (`approved`, `rejected`).',
            ),
          message: z.string().describe('Why, in words.'),
          field: z.string().optional().describe('The field at fault (`events.3.outcome`).'),
        }),
      )
      .describe('Every event not recorded, and why: it will never be, as it is.'),
  })
  .describe('What was recorded and what was rejected, event by event.');

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

export const CreateAgentBodySchema = z.object({
  id: z.string().min(1).max(256).optional().describe('The agent id (generated when absent).'),
  name: z.string().min(1).max(256).describe('A readable name, recorded with every event of the agent.'),
  tags: z
    .array(z.string().min(1).max(128))
    .max(64)
    .default([])
    .describe('What policies select agents by (`appliesTo.tags`).'),
  tier: TrustTierSchema.default('basic').describe(
    'How far the agent is trusted (policies can require a tier).',
  ),
  /** Token lifetime in seconds (default 30 days). */
  ttl: z
    .number()
    .int()
    .positive()
    .max(366 * 86_400)
    .default(30 * 86_400)
    .describe('The token lifetime in seconds.'),
});
const AgentRecordSchema = described(AgentIdentitySchema, {
  id: 'The agent id (the `sub` of its tokens).',
  name: 'Its readable name.',
  tags: 'Its tags.',
  tier: 'Its trust tier.',
}).extend({
  createdAt: z.string().describe('When it was registered (ISO date-time).'),
  revokedAt: z.string().optional().describe('When it was revoked, if it was.'),
});
export const CreateAgentReplySchema = z
  .object({
    agent: AgentRecordSchema.describe('The registered agent.'),
    token: z.string().describe('Its token (an EdDSA JWT): shown this once.'),
    expiresAt: z.string().describe('When the token expires (ISO date-time).'),
  })
  .describe('The agent is registered and its token issued.');
export const AgentListReplySchema = z
  .object({ agents: z.array(AgentRecordSchema).describe('Every registered agent, revoked ones included.') })
  .describe('The agents.');
export const AgentParamsSchema = z.object({ id: z.string().min(1).max(256).describe('The agent id.') });
export const TokenParamsSchema = z.object({
  jti: z.string().min(1).max(256).describe('The `jti` claim of the token.'),
});

const PolicyFileSchema = z.object({
  name: z.string().min(1).max(256).describe('The file name, used in error locations (`file:line:column`).'),
  text: z.string().max(1_000_000).describe('The policy, in YAML.'),
});
export const PutPoliciesBodySchema = z.object({
  files: z.array(PolicyFileSchema).min(1).max(500).describe('The whole new policy set.'),
});
export const PolicySetReplySchema = z
  .object({
    version: z.number().int().describe('The version of the set (0 before the first push).'),
    files: z.array(PolicyFileSchema).describe('Its files.'),
    updatedAt: z.string().optional().describe('When it was pushed (ISO date-time).'),
  })
  .describe('The policy set in force.');

export const JwksReplySchema = z
  .object({
    keys: z
      .array(
        z.object({
          kty: z.string().describe('`OKP`.'),
          crv: z.string().describe('`Ed25519`.'),
          x: z.string().describe('The public key (base64url).'),
          kid: z.string().describe('The key id, the `kid` header of the tokens it signs.'),
          alg: z.string().describe('`EdDSA`.'),
          use: z.string().describe('`sig`.'),
        }),
      )
      .describe('The public keys (JWK).'),
  })
  .describe('The key set.');
export const HealthReplySchema = z
  .object({
    status: z.literal('ok').describe('The gateway is serving.'),
    policyVersion: z.number().int().describe('The version of the policy set in force.'),
  })
  .describe('The gateway is up.');
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

export const ErrorReplySchema = z.object({
  error: z
    .string()
    .describe(
      'A short code: `bad_request`, `policy_invalid`, `unauthorized`, `forbidden`, `not_found`, `conflict`, `too_large`, `unsupported_media_type`, `too_many_requests`, `not_implemented`.',
    ),
  message: z.string().describe('What went wrong, in words.'),
  field: z.string().optional().describe('The request field at fault (400).'),
  issues: z
    .array(
      z.object({
        file: z.string().describe('The policy file.'),
        line: z.number().describe('1-based line.'),
        column: z.number().describe('1-based column.'),
        message: z.string().describe('The problem.'),
      }),
    )
    .optional()
    .describe('Every problem of a refused policy push (400).'),
});
