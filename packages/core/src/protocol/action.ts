import { z } from 'zod';

/** Longest action string accepted anywhere (a hostile 100 KB action is refused, not evaluated). */
export const MAX_ACTION_LENGTH = 1024;

/**
 * An action is `verb:resource`, e.g. `read:customer_data`, `handoff:Billing Specialist`,
 * `mcp:github:create_issue`. Case-sensitive. Control characters are refused.
 */
export const ActionSchema = z
  .string()
  .min(3, 'an action is "verb:resource"')
  .max(MAX_ACTION_LENGTH, `an action is at most ${MAX_ACTION_LENGTH} characters`)
  .regex(/^[^:\s]+:[^\u0000-\u001f\u007f]+$/, 'an action is "verb:resource" (e.g. "read:customer_data")');
export type Action = z.infer<typeof ActionSchema>;

/**
 * A pattern over actions: `*` stands for any run of characters (`read:*`, `*:email`, `*`).
 */
export const ActionPatternSchema = z
  .string()
  .min(1, 'an action pattern cannot be empty')
  .max(MAX_ACTION_LENGTH, `an action pattern is at most ${MAX_ACTION_LENGTH} characters`)
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'an action pattern cannot contain control characters');
