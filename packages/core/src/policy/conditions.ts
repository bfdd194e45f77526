import { containsSecretText, isSensitiveKey } from '../audit/redaction';
import type { AgentIdentity } from '../protocol/agent-identity';
import { type TrustTier, tierRank } from '../protocol/trust-tier';
import { compileLinearRegExp } from './linear-regexp';
import { type Conditions, type ContextOperator, DAY_NAMES, type Day } from './policy-schema';

/** What a condition sees: the acting agent, the request context, and the time of the check. */
export interface ConditionInput {
  agent: AgentIdentity;
  context: Record<string, unknown> | undefined;
  now: number;
}

/** One compiled condition of a rule. */
export interface CompiledCondition {
  /** The key as written in the policy (`amount_max`, `time_range`, `context.user.role`...). */
  readonly key: string;
  /** What must hold, for people: `amount <= 100`, `time within 09:00-18:00 UTC`. */
  readonly requirement: string;
  /** True when the condition reads only the agent (not the context or the clock). */
  readonly agentOnly?: boolean;
  test(input: ConditionInput): boolean;
  /** The value the condition looked at, for explanations: `amount is 150`, `amount is missing`. */
  observed(input: ConditionInput): string;
  /**
   * Whether the observed value may appear in a decision's reason, which is stored unredacted in
   * the audit trail and shown to the model: true for amounts, time and tiers; false for general
   * context conditions, whose paths may hold secrets or personal data (explanations still show it).
   */
  readonly observedInReason: boolean;
}

/** Compiles a rule's conditions, cheapest first (time zones cost most and come last). */
export function compileConditions(conditions: Conditions | undefined): CompiledCondition[] {
  if (!conditions) return [];
  const out: CompiledCondition[] = [];
  if (conditions.amount_max !== undefined)
    out.push(amountCondition('amount_max', '<=', conditions.amount_max));
  if (conditions.amount_min !== undefined)
    out.push(amountCondition('amount_min', '>=', conditions.amount_min));
  if (conditions.trust_tier_min !== undefined) out.push(tierCondition(conditions.trust_tier_min));
  for (const [path, ops] of Object.entries(conditions.context ?? {})) out.push(contextCondition(path, ops));
  const zone = conditions.timezone ?? 'UTC';
  if (conditions.time_range !== undefined) out.push(timeRangeCondition(conditions.time_range, zone));
  if (conditions.days !== undefined) out.push(daysCondition(conditions.days, zone));
  return out;
}

function amountCondition(key: string, op: '<=' | '>=', bound: number): CompiledCondition {
  const test =
    op === '<='
      ? (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v <= bound
      : (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= bound;
  return {
    key,
    requirement: `amount ${op} ${bound}`,
    test: (input) => test(input.context?.amount),
    observed: (input) => describeValue('amount', input.context?.amount, 'number'),
    observedInReason: true,
  };
}

function tierCondition(min: TrustTier): CompiledCondition {
  const rank = tierRank(min);
  return {
    key: 'trust_tier_min',
    requirement: `agent tier is ${min} or higher`,
    test: (input) => tierRank(input.agent.tier) >= rank,
    observed: (input) => `agent tier is ${input.agent.tier}`,
    observedInReason: true,
    agentOnly: true,
  };
}

type Scalar = string | number | boolean | null;

function contextCondition(path: string, ops: ContextOperator): CompiledCondition {
  const segments = path.split('.');
  const get = (context: Record<string, unknown> | undefined): unknown => {
    let value: unknown = context;
    for (const segment of segments) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
      if (!Object.hasOwn(value, segment)) return undefined;
      value = (value as Record<string, unknown>)[segment];
    }
    return value;
  };
  const checks: Array<(v: unknown) => boolean> = [];
  const parts: string[] = [];
  if (ops.exists !== undefined) {
    const want = ops.exists;
    checks.push((v) => (v !== undefined) === want);
    parts.push(want ? `${path} is present` : `${path} is absent`);
  }
  if (ops.eq !== undefined) {
    const want = ops.eq;
    checks.push((v) => v === want);
    parts.push(`${path} == ${JSON.stringify(want)}`);
  }
  if (ops.ne !== undefined) {
    const want = ops.ne;
    checks.push((v) => isScalar(v) && v !== want);
    parts.push(`${path} != ${JSON.stringify(want)}`);
  }
  if (ops.in !== undefined) {
    const set = new Set<Scalar>(ops.in);
    checks.push((v) => isScalar(v) && set.has(v));
    parts.push(`${path} in ${JSON.stringify(ops.in)}`);
  }
  if (ops.not_in !== undefined) {
    const set = new Set<Scalar>(ops.not_in);
    checks.push((v) => isScalar(v) && !set.has(v));
    parts.push(`${path} not in ${JSON.stringify(ops.not_in)}`);
  }
  for (const [op, symbol] of [
    ['lt', '<'],
    ['lte', '<='],
    ['gt', '>'],
    ['gte', '>='],
  ] as const) {
    const bound = ops[op];
    if (bound === undefined) continue;
    checks.push((v) => compare(v, bound, op));
    parts.push(`${path} ${symbol} ${JSON.stringify(bound)}`);
  }
  if (ops.matches !== undefined) {
    const re = compileLinearRegExp(ops.matches);
    checks.push((v) => typeof v === 'string' && re.test(v));
    parts.push(`${path} matches /${ops.matches}/`);
  }
  return {
    key: `context.${path}`,
    requirement: parts.join(' and '),
    test: (input) => {
      const v = get(input.context);
      for (const check of checks) if (!check(v)) return false;
      return true;
    },
    // Explanations only (observedInReason is false): shown to the person asking, never stored.
    observed: (input) => describeForExplanation(path, get(input.context)),
    observedInReason: false,
  };
}

function compare(v: unknown, bound: number | string, op: 'lt' | 'lte' | 'gt' | 'gte'): boolean {
  // Only like with like: a string is never compared with a number (no silent coercion).
  if (typeof bound === 'number' ? typeof v !== 'number' || !Number.isFinite(v) : typeof v !== 'string')
    return false;
  const a = v as number | string;
  switch (op) {
    case 'lt':
      return a < bound;
    case 'lte':
      return a <= bound;
    case 'gt':
      return a > bound;
    case 'gte':
      return a >= bound;
  }
}

function isScalar(v: unknown): v is Scalar {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

/**
 * The value a condition saw, as a reason may quote it. Only scalars are quoted, and never one
 * that redaction would hide (under a key such as `password`, or a string holding a card number or
 * a token): those are named by type, so a reason stored in the audit trail cannot carry what the
 * trail's redaction removes. Redaction and this share one rule (core's `audit/redaction`).
 */
function describeValue(name: string, value: unknown, expected?: 'number'): string {
  if (value === undefined) return `${name} is missing`;
  const notNumber = expected === 'number' && (typeof value !== 'number' || !Number.isFinite(value));
  let shown: string;
  if (name.split('.').some(isSensitiveKey)) shown = `${typeName(value)} (not shown)`;
  else if (value === null || typeof value === 'number' || typeof value === 'boolean') shown = String(value);
  else if (typeof value === 'string' && !containsSecretText(value)) {
    const text = JSON.stringify(value);
    shown = text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } else if (typeof value === 'string') shown = 'a string that redaction hides';
  else shown = typeName(value);
  return `${name} is ${shown}${notNumber ? ', not a number' : ''}`;
}

function describeForExplanation(name: string, value: unknown): string {
  if (value === undefined) return `${name} is missing`;
  const text = JSON.stringify(value);
  const shown = text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
  return `${name} is ${shown}`;
}

function typeName(value: unknown): string {
  if (Array.isArray(value)) return `an array of ${value.length} item${value.length === 1 ? '' : 's'}`;
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'object':
      return 'an object';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    default:
      return `a ${typeof value}`;
  }
}

// --- time -------------------------------------------------------------------------------------

interface LocalTime {
  minutes: number;
  day: Day;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall-clock minute of the day and weekday at `now` in an IANA zone. */
function localTime(now: number, zone: string): LocalTime {
  if (zone === 'UTC' || zone === 'Etc/UTC') {
    const d = new Date(now);
    return { minutes: d.getUTCHours() * 60 + d.getUTCMinutes(), day: DAY_NAMES[d.getUTCDay()]! };
  }
  let format = formatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      hour: '2-digit',
      minute: '2-digit',
      weekday: 'short',
    });
    formatters.set(zone, format);
  }
  let hour = 0;
  let minute = 0;
  let day: Day = 'sun';
  for (const part of format.formatToParts(now)) {
    if (part.type === 'hour') hour = Number(part.value) % 24;
    else if (part.type === 'minute') minute = Number(part.value);
    else if (part.type === 'weekday') day = part.value.toLowerCase().slice(0, 3) as Day;
  }
  return { minutes: hour * 60 + minute, day };
}

function parseClock(text: string): number {
  return Number(text.slice(0, 2)) * 60 + Number(text.slice(3, 5));
}

function formatClock(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

function timeRangeCondition(range: string, zone: string): CompiledCondition {
  const start = parseClock(range.slice(0, 5));
  const end = parseClock(range.slice(6, 11));
  // A range whose end is before its start wraps midnight (22:00-06:00).
  const inside = start < end ? (m: number) => m >= start && m < end : (m: number) => m >= start || m < end;
  return {
    key: 'time_range',
    requirement: `time is within ${range} ${zone}`,
    test: (input) => inside(localTime(input.now, zone).minutes),
    observed: (input) => `time is ${formatClock(localTime(input.now, zone).minutes)} ${zone}`,
    observedInReason: true,
  };
}

function daysCondition(days: readonly Day[], zone: string): CompiledCondition {
  const set = new Set(days);
  return {
    key: 'days',
    requirement: `day is ${days.join(', ')} (${zone})`,
    test: (input) => set.has(localTime(input.now, zone).day),
    observed: (input) => `day is ${localTime(input.now, zone).day} (${zone})`,
    observedInReason: true,
  };
}
