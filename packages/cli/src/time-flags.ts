import { asUtc, UsageError } from './cli-error';

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Reads a time flag: an ISO time (`2026-01-05T10:00:00Z`, `2026-01-05`) or a relative one meaning
 * "that long ago" (`90s`, `15m`, `1h`, `7d`, `2w`). Returns an ISO string.
 */
export function parseTimeFlag(flag: string, text: string, now: number = Date.now()): string {
  const relative = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (relative) return new Date(now - Number(relative[1]) * UNITS[relative[2]!]!).toISOString();
  const ms = isoTimeMs(text);
  if (typeof ms === 'string') {
    throw new UsageError(
      `${flag}: "${text}" is neither an ISO time (2026-01-05T10:00:00Z) nor a relative one (15m, 1h, 7d)${/^\d{4}-\d{2}-\d{2}/.test(text) ? `: ${ms}` : ''}`,
    );
  }
  return new Date(ms).toISOString();
}

/**
 * Reads an ISO time flag (`--at 2026-01-05T10:00:00Z`; no zone means UTC) to milliseconds. An
 * impossible date or clock time is an error: `Date.parse` reads 2026-02-30 as March 2nd.
 */
export function parseIsoTimeFlag(flag: string, text: string): number {
  const ms = isoTimeMs(text);
  if (typeof ms === 'string') {
    throw new UsageError(
      /^\d{4}-\d{2}-\d{2}/.test(text)
        ? `${flag}: "${text}" is not a valid time: ${ms}`
        : `${flag}: "${text}" is not an ISO time (e.g. 2026-01-05T10:00:00Z)`,
    );
  }
  return ms;
}

const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):?(\d{2}))?)?$/;

/** An ISO time (no zone means UTC) as milliseconds since the epoch, or what is wrong with the text. */
export function isoTimeMs(text: string): number | string {
  const m = ISO_TIME.exec(text.trim());
  if (!m) return 'not an ISO time';
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12) return `there is no month ${m[2]}`;
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > days) return `${m[1]}-${m[2]} has no day ${m[3]}`;
  if (m[4] !== undefined && (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6] ?? 0) > 59)) {
    return `there is no time of day ${m[4]}:${m[5]}${m[6] ? `:${m[6]}` : ''}`;
  }
  if (m[7] !== undefined && (Number(m[7]) > 23 || Number(m[8]) > 59))
    return 'the zone offset is out of range';
  const ms = Date.parse(asUtc(text.trim()));
  return Number.isNaN(ms) ? 'not an ISO time' : ms;
}

export function parsePositiveInt(flag: string, text: string, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new UsageError(`${flag}: "${text}" is not a whole number from 1 to ${max}`);
  return n;
}
