import type { z } from 'zod';
import { ValidationError } from './meshguard-error';

/**
 * How a failed parse names the field at fault. A string names the input as a whole (`'request'`):
 * a problem inside it is named by its own path (`agent.id`), one with the whole input by the name.
 * `under` names where the input sits in a larger one: every field is named below it
 * (`returnControl.invocationId`, `events.3.outcome`). `hint` is said after the problem.
 */
export type SchemaSubject = string | { under: string; hint?: string };

/** A parse's result: the value, or the `ValidationError` that names the first field at fault. */
export type SchemaParse<T> = { success: true; data: T } | { success: false; error: ValidationError };

/**
 * Parses `input` with a protocol schema, a failure returned as a `ValidationError` (code
 * `validation_failed`) whose `field` is the dotted path of the first problem, for callers that
 * answer a bad input rather than throw (a rejected event in a batch, a log line).
 *
 * @example
 * const parsed = safeParseWithSchema(OutcomeEventSchema, raw, { under: `events.${index}` });
 * if (!parsed.success) rejected.push({ index, field: parsed.error.field, message: parsed.error.message });
 */
export function safeParseWithSchema<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: SchemaSubject,
): SchemaParse<z.output<S>> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return { success: true, data: parsed.data };
  return { success: false, error: validationError(parsed.error, what) };
}

/**
 * Parses `input` with a protocol schema; a failure throws a `ValidationError` naming the first
 * field at fault (`agent.id: ...`), never a raw `ZodError`. Every boundary parses through this.
 *
 * @example
 * const filter = parseWithSchema(AuditFilterSchema, input, 'filter');
 */
export function parseWithSchema<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: SchemaSubject,
): z.output<S> {
  const parsed = safeParseWithSchema(schema, input, what);
  if (!parsed.success) throw parsed.error;
  return parsed.data;
}

function validationError(error: z.ZodError, what: SchemaSubject): ValidationError {
  // A failed parse has at least one issue; the first is the one a person fixes first.
  const issue = error.issues[0]!;
  const path = issue.path.map(String).join('.');
  if (typeof what === 'string') return new ValidationError(path || what, issue.message, { cause: error });
  const field = path ? `${what.under}.${path}` : what.under;
  const message = what.hint ? `${issue.message} (${what.hint})` : issue.message;
  return new ValidationError(field, message, { cause: error });
}
