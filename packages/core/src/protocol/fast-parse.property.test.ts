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

const hex = (length: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: length, maxLength: length });

/**
 * UUIDs near a UUIDv7: the version and variant digits right or wrong, either case, a group a digit
 * short or long, the nil UUID, spaces or a newline around it.
 */
const uuidV7 = fc.oneof(
  {
    weight: 20,
    arbitrary: fc
      .tuple(
        fc.oneof(
          { weight: 24, arbitrary: hex(8) },
          { weight: 1, arbitrary: fc.constantFrom(7, 9).chain(hex) },
        ),
        hex(4),
        fc.oneof(
          { weight: 24, arbitrary: fc.constant('7') },
          { weight: 1, arbitrary: fc.constantFrom('4', '8', 'f') },
        ),
        hex(3),
        fc.oneof(
          { weight: 24, arbitrary: fc.constantFrom('8', '9', 'a', 'b', 'A', 'B') },
          { weight: 1, arbitrary: fc.constantFrom('7', 'c', 'C', 'g') },
        ),
        hex(3),
        fc.oneof(
          { weight: 24, arbitrary: hex(12) },
          { weight: 1, arbitrary: fc.constantFrom(11, 13).chain(hex) },
        ),
      )
      .map(([a, b, version, c, variant, d, e]) => `${a}-${b}-${version}${c}-${variant}${d}-${e}`),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '00000000-0000-0000-0000-000000000000',
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\n',
      ' 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
      '{0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b}',
      '0190a1b2c3d47e5f8a9b0c1d2e3f4a5b',
      '',
    ),
  },
);

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/**
 * Date-times near the ISO form zod takes (`offset: true`): each part at and past its range (month
 * 13, day 31 of a 30-day month, 29 February of leap and common centuries, hour 24, second 60),
 * seconds and fractions present or not, `Z`, offsets (`+23:59`, `+24:00`, `+0200`) or none, `T`
 * or another separator; and now and then a date only or a trailing newline.
 */
const isoDateTime = fc.oneof(
  {
    weight: 20,
    arbitrary: fc
      .record({
        year: fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom(2000, 2024, 2026, 2100, 1900, 1600, 2023) },
          { weight: 1, arbitrary: fc.integer({ min: 0, max: 9999 }) },
        ),
        month: fc.oneof(
          { weight: 24, arbitrary: fc.integer({ min: 1, max: 12 }) },
          { weight: 1, arbitrary: fc.constantFrom(0, 13) },
        ),
        day: fc.oneof(
          { weight: 24, arbitrary: fc.integer({ min: 1, max: 28 }) },
          { weight: 2, arbitrary: fc.constantFrom(29, 30, 31) },
          { weight: 1, arbitrary: fc.constantFrom(0, 32) },
        ),
        hour: fc.oneof(
          { weight: 24, arbitrary: fc.integer({ min: 0, max: 23 }) },
          { weight: 1, arbitrary: fc.constant(24) },
        ),
        minute: fc.oneof(
          { weight: 24, arbitrary: fc.integer({ min: 0, max: 59 }) },
          { weight: 1, arbitrary: fc.constant(60) },
        ),
        second: fc.oneof(
          { weight: 24, arbitrary: fc.integer({ min: 0, max: 59 }).map((n) => `:${pad(n, 2)}`) },
          { weight: 1, arbitrary: fc.constantFrom('', ':60', ':5') },
        ),
        fraction: fc.oneof(
          { weight: 24, arbitrary: fc.constant('') },
          { weight: 2, arbitrary: fc.integer({ min: 1, max: 9 }).map((n) => `.${'1'.repeat(n)}`) },
          { weight: 1, arbitrary: fc.constantFrom('.', ',5') },
        ),
        zone: fc.oneof(
          { weight: 24, arbitrary: fc.constantFrom('Z', '+00:00', '+05:30', '-23:59') },
          { weight: 1, arbitrary: fc.constantFrom('z', '+24:00', '-00:60', '+0200', '+02', '') },
        ),
        separator: fc.oneof(
          { weight: 24, arbitrary: fc.constant('T') },
          { weight: 1, arbitrary: fc.constantFrom('t', ' ') },
        ),
      })
      .map(
        (p) =>
          `${pad(p.year, 4)}-${pad(p.month, 2)}-${pad(p.day, 2)}${p.separator}${pad(p.hour, 2)}:${pad(p.minute, 2)}${p.second}${p.fraction}${p.zone}`,
      ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '2026-01-05',
      '2026-01-05T10:00:00Z\n',
      '+02026-01-05T10:00:00Z',
      'yesterday',
      new Date(0).toISOString(),
    ),
  },
);

/** A field a client sends now and then (a remote guard always): often absent, else mostly near valid. */
const sometimes = <T>(good: fc.Arbitrary<T>) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) },
    { weight: 8, arbitrary: good },
    { weight: 1, arbitrary: fc.anything() },
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
    decisionId: sometimes(uuidV7),
    deadline: sometimes(isoDateTime),
    approvalId: sometimes(textNear(1, 256)),
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
    ts: sometimes(isoDateTime),
    type: field(choice(['outcome', 'session'], ['decision'])),
    deliveredAt: sometimes(isoDateTime),
  },
  { requiredKeys: ['outcome'] },
);

type Parsed = { success: boolean; data?: unknown; error?: { issues: { path: PropertyKey[] }[] } };

/**
 * Runs `fast` and the schema on the same inputs; counts which way each went and, for each of
 * `watched`, how often the fast path took it and how often it alone made zod refuse.
 */
function agrees(
  arbitrary: fc.Arbitrary<unknown>,
  fast: (input: unknown) => unknown,
  schema: { safeParse(input: unknown): Parsed },
  watched: readonly string[] = [],
) {
  const counts = { fast: 0, slowAccepted: 0, rejected: 0 };
  const fastWith: Record<string, number> = {};
  const refusedFor: Record<string, number> = {};
  for (const key of watched) fastWith[key] = refusedFor[key] = 0;
  fc.assert(
    fc.property(arbitrary, (input) => {
      const quick = fast(input);
      const parsed = schema.safeParse(input);
      const given = watched.filter((key) => (input as Record<string, unknown>)[key] !== undefined);
      if (quick !== undefined) {
        counts.fast += 1;
        expect(parsed.success).toBe(true);
        expect(quick).toEqual(parsed.data);
        for (const key of given) fastWith[key]! += 1;
      } else if (parsed.success) {
        counts.slowAccepted += 1;
      } else {
        counts.rejected += 1;
        const issues = parsed.error?.issues ?? [];
        for (const key of given)
          if (issues.length > 0 && issues.every((issue) => issue.path[0] === key)) refusedFor[key]! += 1;
      }
    }),
    { numRuns: RUNS },
  );
  return { ...counts, fastWith, refusedFor };
}

/** Each watched field was taken by the fast path, and alone refused by zod, often enough. */
function expectEdgesDrawn(result: ReturnType<typeof agrees>, floor: number) {
  for (const [key, n] of Object.entries(result.fastWith))
    expect(n, `fast path took ${key}`).toBeGreaterThan(floor);
  for (const [key, n] of Object.entries(result.refusedFor))
    expect(n, `zod refused ${key} alone`).toBeGreaterThan(floor);
}

describe('fast parsers agree with the zod schemas', () => {
  it('CheckRequest: what the fast path accepts parses to the same value; what zod rejects, it declines', () => {
    const counts = agrees(checkRequest, fastCheckRequest, CheckRequestSchema, ['decisionId', 'deadline']);
    expect(counts.fast).toBeGreaterThan(RUNS * 0.15);
    expect(counts.rejected).toBeGreaterThan(RUNS * 0.3);
    expectEdgesDrawn(counts, RUNS * 0.01);
  });

  it('OutcomeEvent: the same', () => {
    const counts = agrees(outcomeEvent, fastOutcomeEvent, OutcomeEventSchema, ['ts', 'deliveredAt']);
    // Two more fields drawn near their edges refuse more events: about 15% take the fast path.
    expect(counts.fast).toBeGreaterThan(RUNS * 0.11);
    expect(counts.rejected).toBeGreaterThan(RUNS * 0.3);
    expectEdgesDrawn(counts, RUNS * 0.01);
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
      // A remote guard's own decision id and deadline, on every check it sends.
      decisionId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
      deadline: '2026-01-05T10:00:02.000Z',
    };
    const parsed = fastCheckRequest(request);
    expect(parsed).toBeDefined();
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
      // A spooled outcome replayed at the gateway: when it happened, and when it arrived.
      ts: '2026-01-05T10:00:00.000Z',
      deliveredAt: '2026-01-05T10:05:00.000Z',
    };
    expect(fastOutcomeEvent(outcome)).toBeDefined();
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
