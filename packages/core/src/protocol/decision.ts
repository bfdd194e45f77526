import { z } from 'zod';

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
export const ShadowOutcomeSchema = z.object({
  effect: EffectSchema,
  reason: z.string(),
  policy: PolicyRefSchema.optional(),
  rule: RuleRefSchema.optional(),
});
export type ShadowOutcome = z.infer<typeof ShadowOutcomeSchema>;

/**
 * The answer to a check. `allowed` is true only for `allow`. A deny always carries a reason that
 * names the deciding rule or says that nothing allowed the action.
 */
export const DecisionSchema = z.object({
  decisionId: z.string(),
  allowed: z.boolean(),
  effect: EffectSchema,
  reason: z.string(),
  policy: PolicyRefSchema.optional(),
  rule: RuleRefSchema.optional(),
  mode: PolicyModeSchema,
  evaluatedAt: z.string(),
  shadow: ShadowOutcomeSchema.optional(),
});
export type Decision = z.infer<typeof DecisionSchema>;
