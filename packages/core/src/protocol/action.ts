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
  .regex(/^[^:\s]+:.+$/s, 'an action is "verb:resource" (e.g. "read:customer_data")')
  .refine((s) => !hasControlCharacters(s), { message: 'an action cannot contain control characters' });
export type Action = z.infer<typeof ActionSchema>;

/**
 * A pattern over actions: `*` stands for any run of characters (`read:*`, `*:email`, `*`).
 */
export const ActionPatternSchema = z
  .string()
  .min(1, 'an action pattern cannot be empty')
  .max(MAX_ACTION_LENGTH, `an action pattern is at most ${MAX_ACTION_LENGTH} characters`)
  .refine((s) => !hasControlCharacters(s), {
    message: 'an action pattern cannot contain control characters',
  });

/** True when the text holds a C0 control character or DEL (refused in actions: they forge log lines). */
export function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
