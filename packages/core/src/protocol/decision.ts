import { z } from 'zod';
import { ApprovalStatusSchema } from './approval-status';

export const EFFECTS = ['allow', 'deny', 'require_approval'] as const;
export const EffectSchema = z.enum(EFFECTS);
export type Effect = z.infer<typeof EffectSchema>;

export const PolicyModeSchema = z.enum(['enforce', 'shadow']);
export type PolicyMode = z.infer<typeof PolicyModeSchema>;

export const PolicyRefSchema = z.object({ name: z.string(), version: z.string() });
export type PolicyRef = z.infer<typeof PolicyRefSchema>;

export const RuleRefSchema = z.object({ id: z.string(), index: z.number().int().nonnegative() });
export type RuleRef = z.infer<typeof RuleRefSchema>;

/** What shadow policies would have decided; recorded, never enforced. */
const ShadowOutcomeSchema = z.object({
  effect: EffectSchema,
  reason: z.string(),
  policy: PolicyRefSchema.optional(),
  rule: RuleRefSchema.optional(),
});
export type ShadowOutcome = z.infer<typeof ShadowOutcomeSchema>;

/** The fields of a decision, without the rule that ties `allowed` to `effect` (for extending). */
export const DecisionShapeSchema = z.object({
  decisionId: z.string(),
  allowed: z.boolean(),
  effect: EffectSchema,
  reason: z.string(),
  policy: PolicyRefSchema.optional(),
  rule: RuleRefSchema.optional(),
  mode: PolicyModeSchema,
  evaluatedAt: z.string(),
  shadow: ShadowOutcomeSchema.optional(),
  /**
   * For `require_approval`: the approval request the guard opened (answer it, then check the same
   * call again with `approvalId`). For a call let through by an approval: the one it used.
   */
  approval: z
    .object({
      id: z.string(),
      expiresAt: z.string(),
      status: ApprovalStatusSchema,
      answeredBy: z.string().optional(),
    })
    .optional(),
});

/** Whether a decision's `allowed` agrees with its `effect` (allowed exactly when effect is allow). */
export function isConsistentDecision(decision: { allowed: boolean; effect: Effect }): boolean {
  return decision.allowed === (decision.effect === 'allow');
}

/** The message a decision whose `allowed` disagrees with its `effect` is refused with. */
export const INCONSISTENT_DECISION = '`allowed` must be true exactly when `effect` is "allow"';

/**
 * The answer to a check. `allowed` is true only for `allow`: a decision that says otherwise
 * (`{allowed: true, effect: "deny"}`) is refused, so a reader of either field cannot be misled.
 * A deny always carries a reason that names the deciding rule or says that nothing allowed the
 * action.
 */
export const DecisionSchema = DecisionShapeSchema.refine(isConsistentDecision, {
  message: INCONSISTENT_DECISION,
  path: ['allowed'],
});
export type Decision = z.infer<typeof DecisionSchema>;
