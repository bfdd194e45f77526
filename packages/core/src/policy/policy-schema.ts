import { z } from 'zod';
import { ActionPatternSchema } from '../protocol/action';
import { EffectSchema, PolicyModeSchema } from '../protocol/decision';
import { TrustTierSchema } from '../protocol/trust-tier';
import { durationSchema } from './duration';
import { linearRegExpProblem } from './linear-regexp';
import { FORBIDDEN_KEYS } from './policy-lint';

export const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const DaySchema = z.enum(DAY_NAMES);
export type Day = z.infer<typeof DaySchema>;

const TIME_RANGE = /^([01]\d|2[0-3]):([0-5]\d)-(([01]\d|2[0-3]):([0-5]\d)|24:00)$/;

const Scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const Comparable = z.union([z.number(), z.string()]);

/** A path into the request context: keys joined by dots (`customer.tier`), none of them empty. */
const ContextPathSchema = z
  .string()
  .min(1, 'a context path cannot be empty')
  .refine((path) => path.split('.').every((segment) => segment.length > 0), {
    message:
      'a context path is keys joined by single dots (e.g. "customer.tier"): no empty key, no leading or trailing dot',
  })
  .refine((path) => !path.split('.').some((segment) => FORBIDDEN_KEYS.has(segment)), {
    message: 'a context path cannot use "__proto__", "constructor" or "prototype" as a key',
  });

/** Operators of the general `context` condition; at least one per path, all must hold. */
export const ContextOperatorSchema = z
  .strictObject({
    eq: Scalar.optional(),
    ne: Scalar.optional(),
    in: z.array(Scalar).min(1, '`in` needs at least one value').optional(),
    not_in: z.array(Scalar).min(1, '`not_in` needs at least one value').optional(),
    lt: Comparable.optional(),
    lte: Comparable.optional(),
    gt: Comparable.optional(),
    gte: Comparable.optional(),
    matches: z
      .string()
      .superRefine((source, ctx) => {
        const problem = linearRegExpProblem(source);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    exists: z.boolean().optional(),
  })
  .refine((ops) => Object.keys(ops).length > 0, {
    message: 'a context condition needs an operator (eq, ne, in, not_in, lt, lte, gt, gte, matches, exists)',
  });
export type ContextOperator = z.infer<typeof ContextOperatorSchema>;

export const ConditionsSchema = z.strictObject({
  amount_max: z.number().finite().optional(),
  amount_min: z.number().finite().optional(),
  time_range: z
    .string()
    .regex(TIME_RANGE, 'time_range must be "HH:MM-HH:MM" (24-hour clock, e.g. "09:00-18:00")')
    .refine((r) => r.slice(0, 5) !== r.slice(6), { message: 'time_range start and end are the same' })
    .optional(),
  timezone: z
    .string()
    .refine(isValidTimeZone, { message: 'not an IANA time zone (e.g. "Europe/Paris")' })
    .optional(),
  days: z.array(DaySchema).min(1, 'days needs at least one day').optional(),
  trust_tier_min: TrustTierSchema.optional(),
  context: z.record(ContextPathSchema, ContextOperatorSchema).optional(),
});
export type Conditions = z.infer<typeof ConditionsSchema>;

/** How long an approval request waits when its rule does not say (`approval.expiresIn`). */
export const DEFAULT_APPROVAL_EXPIRY = '1h';

/**
 * What a `require_approval` rule says of its approvals: how long a request waits for an answer
 * (default 1h, at most 30d), who may answer (approver tags or roles; default any approver, and
 * always the admin), and which notification channels hear of it (default every channel the
 * gateway has).
 */
export const ApprovalSettingsSchema = z.strictObject({
  expiresIn: durationSchema(1_000, 30 * 86_400_000).optional(),
  approvers: z
    .array(z.string().min(1).max(256))
    .min(1, 'needs at least one tag or role (leave approvers out to let any approver answer)')
    .optional(),
  notify: z
    .array(z.string().min(1).max(256))
    .min(1, 'needs at least one channel name (leave notify out for every channel)')
    .optional(),
});
export type ApprovalSettings = z.infer<typeof ApprovalSettingsSchema>;

export const RuleSchema = z.strictObject({
  id: z.string().min(1).max(256).optional(),
  description: z.string().optional(),
  effect: EffectSchema,
  actions: z.array(ActionPatternSchema).min(1, 'a rule needs at least one action'),
  conditions: ConditionsSchema.optional(),
  reason: z.string().min(1).max(4096).optional(),
  /** Only on `require_approval` rules: see `ApprovalSettingsSchema`. */
  approval: ApprovalSettingsSchema.optional(),
});
export type Rule = z.infer<typeof RuleSchema>;

export const AppliesToSchema = z.strictObject({
  tags: z.array(z.string().min(1)).min(1, 'appliesTo.tags needs at least one tag').optional(),
  agents: z.array(z.string().min(1)).min(1, 'appliesTo.agents needs at least one agent').optional(),
  tiers: z.array(TrustTierSchema).min(1, 'appliesTo.tiers needs at least one tier').optional(),
});
export type AppliesTo = z.infer<typeof AppliesToSchema>;

export const DelegationLimitsSchema = z.strictObject({
  maxDepth: z.number().int().nonnegative().optional(),
  permissionCeiling: z.array(ActionPatternSchema).optional(),
});
export type DelegationLimits = z.infer<typeof DelegationLimitsSchema>;

/** A policy document, as written in YAML or JSON. Unknown keys are errors, never ignored. */
export const PolicyDocumentSchema = z
  .strictObject({
    name: z.string().min(1).max(256),
    version: z.string({ error: 'version must be a string: quote it, e.g. version: "1.0"' }).min(1),
    description: z.string().optional(),
    appliesTo: AppliesToSchema.optional(),
    mode: PolicyModeSchema.default('enforce'),
    rules: z.array(RuleSchema),
    defaultEffect: z.enum(['allow', 'deny']).default('deny'),
    delegation: DelegationLimitsSchema.optional(),
  })
  .superRefine((doc, ctx) => {
    const seen = new Map<string, number>();
    // An explicit id may not take the id another rule gets by default ("<policy>#<index>").
    doc.rules.forEach((rule, index) => {
      if (rule.id === undefined) seen.set(`${doc.name}#${index}`, index);
    });
    doc.rules.forEach((rule, index) => {
      if (rule.id !== undefined) {
        const before = seen.get(rule.id);
        if (before !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['rules', index, 'id'],
            message: `duplicate rule id "${rule.id}" (also rule ${before})`,
          });
        }
        seen.set(rule.id, index);
      }
      rule.actions.forEach((pattern, i) => {
        const problem = neverMatchingPattern(pattern);
        if (problem) ctx.addIssue({ code: 'custom', path: ['rules', index, 'actions', i], message: problem });
      });
      if (rule.approval !== undefined && rule.effect !== 'require_approval') {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', index, 'approval'],
          message: `approval settings only apply to a require_approval rule, and this rule is "${rule.effect}"`,
        });
      }
      const c = rule.conditions;
      if (c?.timezone !== undefined && c.time_range === undefined && c.days === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', index, 'conditions', 'timezone'],
          message: 'timezone only applies to time_range or days, and this rule has neither',
        });
      }
      if (c?.amount_max !== undefined && c.amount_min !== undefined && c.amount_min > c.amount_max) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', index, 'conditions', 'amount_min'],
          message: `amount_min (${c.amount_min}) is greater than amount_max (${c.amount_max}): the rule can never match`,
        });
      }
    });
    doc.delegation?.permissionCeiling?.forEach((pattern, i) => {
      const problem = neverMatchingPattern(pattern);
      if (problem) {
        ctx.addIssue({ code: 'custom', path: ['delegation', 'permissionCeiling', i], message: problem });
      }
    });
  });
export type PolicyDocument = z.output<typeof PolicyDocumentSchema>;
export type PolicyDocumentInput = z.input<typeof PolicyDocumentSchema>;

/**
 * Every action is `verb:resource`, so a pattern with neither `:` nor `*` can never match: a deny
 * rule written so would silently deny nothing.
 */
function neverMatchingPattern(pattern: string): string | undefined {
  if (pattern.includes(':') || pattern.includes('*')) return undefined;
  return `action pattern "${pattern}" has no ":" and can never match (actions are "verb:resource", e.g. "write:refund")`;
}

function isValidTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
