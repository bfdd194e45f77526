import { asUtc, UsageError } from './cli-error';

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Reads a time flag: an ISO time (`2026-01-05T10:00:00Z`, `2026-01-05`) or a relative one meaning
 * "that long ago" (`90s`, `15m`, `1h`, `7d`, `2w`). Returns an ISO string.
 */
export function parseTimeFlag(flag: string, text: string, now: number = Date.now()): string {
  const relative = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (relative) return new Date(now - Number(relative[1]) * UNITS[relative[2]!]!).toISOString();
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(asUtc(text)) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new UsageError(
      `${flag}: "${text}" is neither an ISO time (2026-01-05T10:00:00Z) nor a relative one (15m, 1h, 7d)`,
    );
  }
  return new Date(ms).toISOString();
}

export function parsePositiveInt(flag: string, text: string, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new UsageError(`${flag}: "${text}" is not a whole number from 1 to ${max}`);
  return n;
}
