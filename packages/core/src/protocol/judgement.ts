import type { z } from 'zod';
import { DecisionShapeSchema, INCONSISTENT_DECISION, isConsistentDecision } from './decision';

/** The fields of a judgement, without the rule that ties `allowed` to `effect` (for extending). */
export const JudgementShapeSchema = DecisionShapeSchema.omit({ decisionId: true });

/**
 * What policy decides for a request, recorded nowhere, so it has no decision id: how a call that
 * already ran (a hosted tool on the provider's side) is judged with its context. `allowed` is
 * true exactly when `effect` is `allow`.
 */
const JudgementSchema = JudgementShapeSchema.refine(isConsistentDecision, {
  message: INCONSISTENT_DECISION,
  path: ['allowed'],
});
export type Judgement = z.infer<typeof JudgementSchema>;
