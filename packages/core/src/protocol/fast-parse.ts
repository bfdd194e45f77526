import { z } from 'zod';
import { hasControlCharacters, MAX_ACTION_LENGTH } from './action';
import type { AgentIdentity } from './agent-identity';
import { OUTCOMES } from './audit-event';
import { ACTION_KINDS, type ParsedCheckRequest } from './check-request';
import { EFFECTS } from './decision';
import type { ParsedOutcomeEvent } from './outcome-event';
import { TRUST_TIERS } from './trust-tier';

// The zod schemas are the protocol's definition, and every request and event is held to them. In
// an agent's run, though, zod costs about 8 us a parse (its many small functions run cold between
// two tool calls), about 17 us of each tool-calling turn. These functions accept the ordinary,
// well-formed request or event and return exactly what its schema's parse would (unknown keys
// dropped, defaults filled in, fresh objects); for anything else they return undefined, and the
// caller parses with zod, which decides and explains. A property test holds them to the schemas.

const TIERS: ReadonlySet<unknown> = new Set(TRUST_TIERS);
const KINDS: ReadonlySet<unknown> = new Set(ACTION_KINDS);
const EFFECT_SET: ReadonlySet<unknown> = new Set(EFFECTS);
const OUTCOME_SET: ReadonlySet<unknown> = new Set(OUTCOMES);
const OUTCOME_TYPES: ReadonlySet<unknown> = new Set(['outcome', 'session']);
const ACTION_FORM = /^[^:\s]+:.+$/s;
// zod's own patterns, the ones `z.uuid({ version: 'v7' })` and `z.iso.datetime({ offset: true })`
// test (a format check is that test and nothing more), so the two paths cannot drift apart.
const UUID_V7 = z.regexes.uuid(7);
const ISO_DATETIME = z.regexes.datetime({ offset: true });

/** Thrown nowhere: returned by a field reader when the value is not for the fast path. */
const NO: unique symbol = Symbol('no');
type Read<T> = T | typeof NO;

function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function text(value: unknown, min: number, max: number): value is string {
  return typeof value === 'string' && value.length >= min && value.length <= max;
}

/** An optional string field: absent, or a string within its bounds. */
function optionalText(value: unknown, min: number, max: number): Read<string | undefined> {
  if (value === undefined) return undefined;
  return text(value, min, max) ? value : NO;
}

/** An optional string field: absent, or a string the pattern accepts whole. */
function optionalMatching(value: unknown, pattern: RegExp): Read<string | undefined> {
  if (value === undefined) return undefined;
  return typeof value === 'string' && pattern.test(value) ? value : NO;
}

function optionalOf(value: unknown, allowed: ReadonlySet<unknown>): Read<string | undefined> {
  if (value === undefined) return undefined;
  return allowed.has(value) ? (value as string) : NO;
}

function action(value: unknown): Read<string> {
  return text(value, 3, MAX_ACTION_LENGTH) && ACTION_FORM.test(value) && !hasControlCharacters(value)
    ? value
    : NO;
}

function identity(value: unknown): Read<AgentIdentity> {
  if (!isRecord(value)) return NO;
  const { id, name, tags, tier } = value;
  if (!text(id, 1, 256) || !text(name, 1, 256)) return NO;
  let outTags: string[] = [];
  if (tags !== undefined) {
    if (!Array.isArray(tags) || Object.getPrototypeOf(tags) !== Array.prototype || tags.length > 64)
      return NO;
    outTags = new Array(tags.length);
    for (let i = 0; i < tags.length; i++) {
      const tag: unknown = tags[i];
      if (!text(tag, 1, 128)) return NO;
      outTags[i] = tag;
    }
  }
  if (tier !== undefined && !TIERS.has(tier)) return NO;
  return { id, name, tags: outTags, tier: (tier ?? 'basic') as AgentIdentity['tier'] };
}

function delegation(value: unknown): Read<AgentIdentity[] | undefined> {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || Object.getPrototypeOf(value) !== Array.prototype || value.length > 64)
    return NO;
  const out: AgentIdentity[] = new Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const one = identity(value[i]);
    if (one === NO) return NO;
    out[i] = one;
  }
  return out;
}

/** A context: a plain object of enumerable string keys (none `__proto__`), copied one level deep. */
function context(value: unknown): Read<Record<string, unknown> | undefined> {
  if (value === undefined) return undefined;
  if (!isRecord(value)) return NO;
  const keys = Object.keys(value);
  if (Reflect.ownKeys(value).length !== keys.length || Object.hasOwn(value, '__proto__')) return NO;
  const out: Record<string, unknown> = {};
  for (const key of keys) out[key] = value[key];
  return out;
}

function source(value: unknown, bounded: boolean): Read<{ name: string; version: string } | undefined> {
  if (value === undefined) return undefined;
  if (!isRecord(value)) return NO;
  const { name, version } = value;
  return text(name, bounded ? 1 : 0, bounded ? 214 : Infinity) &&
    text(version, bounded ? 1 : 0, bounded ? 64 : Infinity)
    ? { name, version }
    : NO;
}

/** Copies the fields that are present (zod's output leaves absent optional fields out too). */
function assign(target: Record<string, unknown>, fields: Record<string, unknown>): void {
  for (const key in fields) if (fields[key] !== undefined) target[key] = fields[key];
}

/** What `CheckRequestSchema.parse(input)` returns, for an ordinary request; else undefined. */
export function fastCheckRequest(input: unknown): ParsedCheckRequest | undefined {
  if (!isRecord(input)) return undefined;
  const fields = {
    action: action(input.action),
    agent: identity(input.agent),
    context: context(input.context),
    traceId: optionalText(input.traceId, 1, 256),
    spanId: optionalText(input.spanId, 1, 256),
    delegation: delegation(input.delegation),
    framework: optionalText(input.framework, 1, 64),
    kind: optionalOf(input.kind, KINDS),
    source: source(input.source, true),
    // What a remote guard sends with every check: its own decision id and when it stops waiting.
    decisionId: optionalMatching(input.decisionId, UUID_V7),
    deadline: optionalMatching(input.deadline, ISO_DATETIME),
    approvalId: optionalText(input.approvalId, 1, 256),
  };
  for (const key in fields) if (fields[key as keyof typeof fields] === NO) return undefined;
  const out = {} as Record<string, unknown>;
  assign(out, fields);
  return out as ParsedCheckRequest;
}

/** What `OutcomeEventSchema.parse(input)` returns, for an ordinary event; else undefined. */
export function fastOutcomeEvent(input: unknown): ParsedOutcomeEvent | undefined {
  if (!isRecord(input)) return undefined;
  const duration = input.durationMs;
  const fields = {
    id: optionalText(input.id, 1, 128),
    decisionId: optionalText(input.decisionId, 1, 128),
    outcome: OUTCOME_SET.has(input.outcome) ? input.outcome : NO,
    effect: optionalOf(input.effect, EFFECT_SET),
    durationMs:
      duration === undefined || (typeof duration === 'number' && Number.isFinite(duration) && duration >= 0)
        ? duration
        : NO,
    error: optionalText(input.error, 0, 4096),
    actor: optionalText(input.actor, 0, 256),
    action: input.action === undefined ? undefined : action(input.action),
    agent: input.agent === undefined ? undefined : identity(input.agent),
    delegation: delegation(input.delegation),
    traceId: optionalText(input.traceId, 1, 256),
    spanId: optionalText(input.spanId, 1, 256),
    framework: optionalText(input.framework, 1, 64),
    kind: optionalOf(input.kind, KINDS),
    reason: optionalText(input.reason, 0, 4096),
    source: source(input.source, false),
    context: context(input.context),
    // A remote guard stamps every outcome with `ts`; the gateway adds `deliveredAt` to late ones.
    ts: optionalMatching(input.ts, ISO_DATETIME),
    type: optionalOf(input.type, OUTCOME_TYPES),
    deliveredAt: optionalMatching(input.deliveredAt, ISO_DATETIME),
  };
  for (const key in fields) if (fields[key as keyof typeof fields] === NO) return undefined;
  const out = {} as Record<string, unknown>;
  assign(out, fields);
  return out as ParsedOutcomeEvent;
}
