/**
 * The fast parsers must agree with the zod schemas: whatever they accept, the schema accepts and
 * parses to the same value; whatever the schema rejects, they decline. Inputs are drawn near the
 * schemas' edges (lengths at their bounds, control characters, wrong types, unknown keys, odd
 * objects) so both answers happen often; floors on the counts keep the generators honest.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_ACTION_LENGTH } from './action';
import { OUTCOMES } from './audit-event';
import { ACTION_KINDS, CheckRequestSchema } from './check-request';
import { EFFECTS } from './decision';
import { fastCheckRequest, fastOutcomeEvent } from './fast-parse';
import { OutcomeEventSchema } from './outcome-event';
import { TRUST_TIERS } from './trust-tier';

const RUNS = 3000;

/** A string near the bounds [min, max], or a short one, or one with a control character. */
const textNear = (min: number, max: number) =>
  fc.oneof(
    { weight: 40, arbitrary: fc.string({ minLength: Math.max(min, 1), maxLength: 6 }) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: Math.max(0, min - 1), max: min + 1 }).map((n) => 'a'.repeat(n)),
    },
    { weight: 1, arbitrary: fc.integer({ min: max - 1, max: max + 1 }).map((n) => 'b'.repeat(n)) },
    { weight: 1, arbitrary: fc.constantFrom('x\u0000y', 'tab\there', '') },
  );

/** Mostly a value near what the schema wants; now and then undefined or anything at all. */
const field = <T>(good: fc.Arbitrary<T>) =>
  fc.oneof(
    { weight: 60, arbitrary: good },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.anything() },
  );

/** Mostly one of the allowed values, now and then one that is not. */
const choice = (allowed: readonly string[], not: readonly string[]) =>
  fc.oneof(
    { weight: 15, arbitrary: fc.constantFrom(...allowed) },
    { weight: 1, arbitrary: fc.constantFrom(...not) },
  );

const action = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom('write:refund', 'read:web_search', 'a:b') },
  { weight: 2, arbitrary: fc.constantFrom('ab', ':x', 'x:', 'x :y', 'x:y\u0007', 'x:\ny', 'x:\u007f') },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: MAX_ACTION_LENGTH - 3, max: MAX_ACTION_LENGTH - 1 })
      .map((n) => `w:${'r'.repeat(n)}`),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
);

const identity = fc.record(
  {
    id: field(textNear(1, 256)),
    name: field(textNear(1, 256)),
    tags: field(
      fc.oneof(
        { weight: 10, arbitrary: fc.array(textNear(1, 128), { maxLength: 4 }) },
        {
          weight: 1,
          arbitrary: fc.integer({ min: 63, max: 65 }).map((n) => Array.from({ length: n }, () => 't')),
        },
      ),
    ),
    tier: field(choice(TRUST_TIERS, ['root', ''])),
    extra: fc.anything(),
  },
  { requiredKeys: ['id', 'name'] },
);

/** Contexts, including objects the schema treats specially (no plain prototype, symbol keys...). */
const context = fc.oneof(
  { weight: 16, arbitrary: fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue(), { maxKeys: 4 }) },
  fc.constant(JSON.parse('{"__proto__": {"polluted": true}, "amount": 1}')),
  fc.constant(Object.assign(Object.create(null), { amount: 2 })),
  fc.constant({ [Symbol('s')]: 1, amount: 3 }),
  fc.constant(Object.defineProperty({ amount: 4 }, 'hidden', { value: 1, enumerable: false })),
  fc.constant(new Map([['amount', 5]])),
  fc.constant([1, 2]),
  fc.constant(new Date(0)),
);

const source = (min: number, max: number) =>
  fc.record({ name: field(textNear(min, max)), version: field(textNear(min, 64)), x: fc.anything() });

const checkRequest = fc.record(
  {
    action: field(action),
    agent: field(identity),
    context: field(context),
    traceId: field(textNear(1, 256)),
    spanId: field(textNear(1, 256)),
    delegation: field(fc.array(identity, { maxLength: 3 })),
    framework: field(textNear(1, 64)),
    kind: field(choice(ACTION_KINDS, ['other'])),
    source: field(source(1, 214)),
    identity: fc.anything(),
  },
  { requiredKeys: ['action', 'agent'] },
);

const outcomeEvent = fc.record(
  {
    id: field(textNear(1, 128)),
    decisionId: field(textNear(1, 128)),
    outcome: field(choice(OUTCOMES, ['done'])),
    effect: field(choice(EFFECTS, ['maybe'])),
    durationMs: field(
      fc.oneof(
        { weight: 10, arbitrary: fc.nat() },
        { weight: 1, arbitrary: fc.double() },
        { weight: 1, arbitrary: fc.constantFrom(-0, -1, Number.NaN, Number.POSITIVE_INFINITY) },
      ),
    ),
    error: field(textNear(0, 4096)),
    actor: field(textNear(0, 256)),
    action: field(action),
    agent: field(identity),
    delegation: field(fc.array(identity, { maxLength: 2 })),
    traceId: field(textNear(1, 256)),
    spanId: field(textNear(1, 256)),
    framework: field(textNear(1, 64)),
    kind: field(choice(ACTION_KINDS, ['other'])),
    reason: field(textNear(0, 4096)),
    source: field(source(0, 10)),
    context: field(context),
    ts: fc.oneof(
      { weight: 10, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constantFrom('2026-01-05T10:00:00Z', 'yesterday') },
    ),
    type: field(choice(['outcome', 'session'], ['decision'])),
  },
  { requiredKeys: ['outcome'] },
);

/** Runs `fast` and the schema on the same inputs; counts which way each went. */
function agrees(
  arbitrary: fc.Arbitrary<unknown>,
  fast: (input: unknown) => unknown,
  schema: { safeParse(input: unknown): { success: boolean; data?: unknown } },
) {
  const counts = { fast: 0, slowAccepted: 0, rejected: 0 };
  fc.assert(
    fc.property(arbitrary, (input) => {
      const quick = fast(input);
      const parsed = schema.safeParse(input);
      if (quick !== undefined) {
        counts.fast += 1;
        expect(parsed.success).toBe(true);
        expect(quick).toEqual(parsed.data);
      } else if (parsed.success) {
        counts.slowAccepted += 1;
      } else {
        counts.rejected += 1;
      }
    }),
    { numRuns: RUNS },
  );
  return counts;
}

describe('fast parsers agree with the zod schemas', () => {
  it('CheckRequest: what the fast path accepts parses to the same value; what zod rejects, it declines', () => {
    const counts = agrees(checkRequest, fastCheckRequest, CheckRequestSchema);
    expect(counts.fast).toBeGreaterThan(RUNS * 0.15);
    expect(counts.rejected).toBeGreaterThan(RUNS * 0.3);
  });

  it('OutcomeEvent: the same', () => {
    const counts = agrees(outcomeEvent, fastOutcomeEvent, OutcomeEventSchema);
    expect(counts.fast).toBeGreaterThan(RUNS * 0.15);
    expect(counts.rejected).toBeGreaterThan(RUNS * 0.3);
  });

  it('takes the fast path for what adapters send, and returns fresh objects', () => {
    const agent = { id: 'support', name: 'Support', tags: ['openai'], tier: 'verified' as const };
    const args = { order_id: 'ORD-1', amount: 79.99 };
    const request = {
      action: 'write:refund',
      agent,
      kind: 'tool' as const,
      traceId: 'trace_1',
      spanId: 'call:1',
      context: args,
      framework: 'openai-agents',
      source: { name: '@meshguard/openai-agents', version: '0.1.0' },
      delegation: [agent],
    };
    const parsed = fastCheckRequest(request);
    expect(parsed).toEqual(CheckRequestSchema.parse(request));
    expect(parsed?.agent).not.toBe(agent);
    expect(parsed?.agent.tags).not.toBe(agent.tags);
    expect(parsed?.context).not.toBe(args);
    const outcome = {
      decisionId: 'd-1',
      outcome: 'success' as const,
      durationMs: 3,
      agent,
      action: 'write:refund',
      traceId: 'trace_1',
      kind: 'tool' as const,
      effect: 'allow' as const,
      framework: 'openai-agents',
      source: request.source,
    };
    expect(fastOutcomeEvent(outcome)).toEqual(OutcomeEventSchema.parse(outcome));
    // Identity defaults are filled in as the schema fills them.
    expect(fastCheckRequest({ action: 'read:x', agent: { id: 'a', name: 'a' } })?.agent).toEqual({
      id: 'a',
      name: 'a',
      tags: [],
      tier: 'basic',
    });
  });
});
