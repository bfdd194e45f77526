import { z } from 'zod';
import { AgentIdentitySchema } from './agent-identity';
import { CheckRequestSchema } from './check-request';
import { DecisionShapeSchema } from './decision';
import { described } from './described-schema';
import { JudgementShapeSchema } from './judgement';
import { OutcomeEventSchema } from './outcome-event';

// The bodies and replies of the gateway's agent routes (check, batch, reachable, judge, outcomes):
// the gateway validates requests and documents replies with them, clients parse replies with them.

/** A check as an agent sends it: who the agent is comes from its token, never from the body. */
const CheckBodySchema = described(CheckRequestSchema.omit({ agent: true }), {
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
  approvalId:
    "The approval request a `require_approval` decision opened (its `approval.id`), once answered: the same call (same action and context) is then allowed once if a person approved it and the policy in force still asks for approval; a rejected, expired, used or other call's approval is a deny.",
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
  approval:
    'For `require_approval`: the approval request opened (wait on it at `GET /v1/agent/approvals/{id}`, then check again with `approvalId`). For a call an approval let through: that approval.',
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

// Delegation: an allowed `handoff:<target>` check is answered with a short-lived token for the
// target agent, and a check may name the target by id when several agents have its name.

export const HandoffTokenSchema = z
  .object({
    token: z.string().describe('The delegated agent token: the target sends it as its bearer token.'),
    agent: AgentIdentitySchema.describe('The target agent the token is bound to.'),
    delegation: z
      .array(AgentIdentitySchema)
      .describe('The chain the token carries, root first; checks made with it are decided with it.'),
    expiresAt: z.string().describe('When the token expires (ISO date-time).'),
  })
  .describe(
    'Only on an allowed `handoff:<target>` check whose target is an agent of this gateway: a delegated token for the target.',
  );
export type HandoffToken = z.infer<typeof HandoffTokenSchema>;

export const DelegatingCheckBodySchema = CheckBodySchema.extend({
  handoffTarget: z
    .string()
    .min(1)
    .max(256)
    .optional()
    .describe(
      'For a `handoff:<target>` check: the id of the target agent, when several agents have its name. The agent must have the name (or id) the action names.',
    ),
});

export const DelegatingDecisionReplySchema = DecisionReplySchema.extend({
  handoffToken: HandoffTokenSchema.optional(),
});

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
