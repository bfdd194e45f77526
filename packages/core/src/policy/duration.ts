import { z } from 'zod';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(?:\d+[smhd])+$/;
const PART = /(\d+)([smhd])/g;

/**
 * Milliseconds of a policy duration: whole numbers of `s`, `m`, `h` and `d`, largest first or
 * not (`90s`, `30m`, `1h30m`, `7d`); undefined when the text is not one.
 *
 * @example
 * parseDuration('1h30m'); // 5_400_000
 */
export function parseDuration(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const [, count, unit] of text.matchAll(PART))
    total += Number(count) * UNIT_MS[unit as keyof typeof UNIT_MS];
  return total;
}

/** A duration as a policy writes it, between `min` and `max` milliseconds (see `parseDuration`). */
export function durationSchema(min: number, max: number) {
  return z.string().superRefine((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `"${text}" is not a duration: write it as "90s", "30m", "1h30m" or "7d" (whole numbers of s, m, h, d)`,
      });
    } else if (ms < min || ms > max) {
      ctx.addIssue({
        code: 'custom',
        message: `must be between ${formatDuration(min)} and ${formatDuration(max)} (got "${text}")`,
      });
    }
  });
}

/** A duration in the largest whole unit that fits it exactly (`1h`, `90s`). */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
