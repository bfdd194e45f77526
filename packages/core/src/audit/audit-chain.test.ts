import { describe, expect, it } from 'vitest';
import { createTestGuard, testAgent } from '../testing';
import { canonicalJson, quoteJson } from './canonical-json';
import { createRedactor } from './redaction';

async function trail(n: number) {
  const { guard, store } = createTestGuard({
    policy: 'name: p\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["*"]\n',
  });
  for (let i = 0; i < n; i++)
    await guard.check({ action: `read:item_${i}`, agent: testAgent(), context: { i } });
  return store;
}

describe('audit chain', () => {
  it('verifies an intact stream', async () => {
    const store = await trail(5);
    expect(await store.verify()).toMatchObject({
      ok: true,
      checked: 5,
      streams: [{ stream: 'memory', events: 5, lastSeq: 5 }],
    });
  });

  it('detects an edited field', async () => {
    const store = await trail(5);
    store.events[2] = { ...store.events[2]!, effect: 'deny' };
    expect((await store.verify()).problem).toMatchObject({ kind: 'edited', seq: 3, id: store.events[2]!.id });
  });

  it('detects events removed from the end of a stream', async () => {
    const store = await trail(3);
    store.events.pop();
    expect((await store.verify()).problem).toMatchObject({ kind: 'truncated', stream: 'memory' });
    store.events.splice(0);
    expect((await store.verify()).problem).toMatchObject({ kind: 'truncated' });
  });

  it('detects a removed event', async () => {
    const store = await trail(5);
    const removed = store.events.splice(1, 1)[0]!;
    expect((await store.verify()).problem).toMatchObject({
      kind: 'missing',
      seq: 3,
      message: expect.stringContaining(`seq 2 missing`),
    });
    expect(removed.seq).toBe(2);
  });

  it('detects swapped events', async () => {
    const store = await trail(5);
    const [a, b] = [store.events[1]!, store.events[3]!];
    store.events[1] = b;
    store.events[3] = a;
    expect((await store.verify()).problem).toMatchObject({ kind: 'reordered', seq: 4 });
  });

  it('is idempotent by event id', async () => {
    const store = await trail(2);
    const again = await store.append([{ ...store.events[0]!, reason: 'retried' }]);
    expect(again[0]!.reason).not.toBe('retried');
    expect(store.events).toHaveLength(2);
  });
});

describe('canonicalJson', () => {
  it('sorts keys, drops undefined and prints numbers as ECMAScript does', () => {
    expect(canonicalJson({ b: 1, a: [true, null, undefined], c: undefined, d: { z: 1e21, y: 0.1 } })).toBe(
      '{"a":[true,null,null],"b":1,"d":{"y":0.1,"z":1e+21}}',
    );
    expect(() => canonicalJson({ n: Number.NaN })).toThrow();
    expect(() => canonicalJson({ n: [1, Number.POSITIVE_INFINITY] })).toThrow();
  });

  it('orders the keys of every object, at any depth, by code units', () => {
    const value = { z: { b: 1, a: [{ d: 1, c: 2 }] }, A: 'x', é: 1, e: null, '10': 1, '2': 2 };
    expect(canonicalJson(value)).toBe(
      '{"10":1,"2":2,"A":"x","e":null,"z":{"a":[{"c":2,"d":1}],"b":1},"é":1}',
    );
    expect(canonicalJson('plain')).toBe('"plain"');
    expect(canonicalJson([3, 'a', null])).toBe('[3,"a",null]');
    expect(canonicalJson({ d: new Date(0) })).toBe('{"d":"1970-01-01T00:00:00.000Z"}');
  });

  it('quotes strings exactly as JSON.stringify does, escapes and lone surrogates included', async () => {
    const fc = await import('fast-check');
    const codeUnits = fc.string({
      unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
    });
    for (const text of [
      '',
      'plain',
      'a"b',
      'a\\b',
      '\u0000\u001f\u007f',
      '\ud83d\ude00',
      '\ud800x',
      'x\udc00',
      '\u2028\u2029',
    ]) {
      expect(quoteJson(text)).toBe(JSON.stringify(text));
    }
    fc.assert(
      fc.property(fc.oneof(codeUnits, fc.string({ unit: 'binary' })), (text) => {
        expect(quoteJson(text)).toBe(JSON.stringify(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with a reference implementation on random values', async () => {
    const fc = await import('fast-check');
    const reference = (v: unknown): string => {
      if (v === null || typeof v !== 'object') return JSON.stringify(v);
      if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : reference(x))).join(',')}]`;
      const entries = Object.keys(v)
        .sort()
        .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
        .map((k) => `${JSON.stringify(k)}:${reference((v as Record<string, unknown>)[k])}`);
      return `{${entries.join(',')}}`;
    };
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(canonicalJson(v)).toBe(reference(v));
      }),
      { numRuns: 500 },
    );
  });
});

describe('redaction', () => {
  it('hashes secret and personal fields at any depth, the same value to the same hash', () => {
    const redact = createRedactor({ salt: 's1' });
    const out = redact({
      amount: 5,
      customerEmail: 'a@b.c',
      nested: { api_key: 'k', cardNumber: '4111' },
      list: [{ password: 'p' }],
      order_id: 'o1',
    });
    expect(out.amount).toBe(5);
    expect(out.order_id).toBe('o1');
    expect(out.customerEmail).toMatch(/^redacted:sha256:/);
    expect((out.nested as Record<string, string>).api_key).toMatch(/^redacted:sha256:/);
    expect((out.nested as Record<string, string>).cardNumber).toMatch(/^redacted:sha256:/);
    expect((out.list as Array<Record<string, string>>)[0]!.password).toMatch(/^redacted:sha256:/);
    expect(redact({ email: 'a@b.c' }).email).toBe(out.customerEmail);
    expect(createRedactor({ salt: 's2' })({ email: 'a@b.c' }).email).not.toBe(out.customerEmail);
  });

  it('matches key words anywhere in a key, whatever its case or separators', () => {
    const redact = createRedactor({ salt: 's' });
    const keys = [
      'password1',
      'newPassword',
      'creditcard',
      'phonenumber',
      'emailAddress',
      'authToken',
      'Authorization',
      'USER_PASSWORD',
      'db-credentials',
      'Cookie',
      'private-key',
    ];
    const out = redact(Object.fromEntries(keys.map((k) => [k, 'v'])));
    for (const key of keys) expect(out[key]).toMatch(/^redacted:sha256:/);
    expect(redact({ order_id: 'o', amount: 5, reason: 'r' })).toEqual({
      order_id: 'o',
      amount: 5,
      reason: 'r',
    });
  });

  it('keeps its hashes stable: HMAC-SHA256 of the canonical value under the salt', () => {
    // Stored trails join on these values: a change here would break joins with older events.
    expect(createRedactor({ salt: 's1' })({ email: 'a@b.c' }).email).toBe(
      'redacted:sha256:aa92f3f98ae460052abefa685107a953',
    );
  });

  it('hashes exactly as createHmac does, for any salt and value', async () => {
    const fc = await import('fast-check');
    const { createHmac } = await import('node:crypto');
    const codeUnits = fc.string({
      unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
    });
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 80 }), fc.string({ minLength: 60, maxLength: 200 })),
        fc.oneof(fc.string(), codeUnits, fc.string({ minLength: 1300, maxLength: 3000 })),
        (salt, text) => {
          const expected = `redacted:sha256:${createHmac('sha256', Buffer.from(salt, 'utf8')).update(canonicalJson(text)).digest('hex').slice(0, 32)}`;
          expect(createRedactor({ salt })({ password: text }).password).toBe(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('takes a custom key list', () => {
    const redact = createRedactor({ salt: 's', keys: ['iban'] });
    expect(redact({ iban: 'DE00', email: 'x' })).toEqual({
      iban: expect.stringMatching(/^redacted:/),
      email: 'x',
    });
  });
});

describe('eventBody', () => {
  it('is exactly the canonical JSON of the event without its hash, for any event', async () => {
    const fc = await import('fast-check');
    const { eventBody } = await import('./audit-chain');
    // Any UTF-16 code units, lone surrogates and control characters included, beside plain text.
    const text = fc.oneof(
      fc.string(),
      fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }),
    );
    const agent = fc.record({
      id: text,
      name: text,
      tags: fc.array(text),
      tier: fc.constantFrom('basic', 'trusted'),
    });
    const event = fc.record(
      {
        v: fc.constant(1),
        id: text,
        ts: text,
        type: fc.constantFrom('decision', 'outcome'),
        traceId: text,
        spanId: text,
        agent: fc.oneof(agent, fc.dictionary(text, fc.jsonValue())),
        delegation: fc.array(agent, { maxLength: 3 }),
        framework: text,
        kind: fc.constant('tool'),
        action: text,
        effect: fc.constantFrom('allow', 'deny'),
        reason: text,
        policy: fc.oneof(fc.record({ name: text, version: text }), fc.dictionary(text, fc.jsonValue())),
        rule: fc.oneof(fc.record({ id: text, index: fc.nat() }), fc.record({ id: text, index: text })),
        mode: fc.constant('enforce'),
        decisionId: text,
        outcome: fc.constant('success'),
        durationMs: fc.double({ min: 0, max: 1e9, noNaN: true }),
        actor: text,
        error: text,
        source: fc.record({ name: text, version: text }),
        context: fc.dictionary(text, fc.jsonValue()),
        stream: text,
        seq: fc.nat(),
        prevHash: text,
        extra: fc.jsonValue(),
      },
      { requiredKeys: ['v', 'id', 'seq'] },
    );
    fc.assert(
      fc.property(event, (e) => {
        expect(eventBody(e as never)).toBe(canonicalJson(e));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('stored hashes', () => {
  // Trails already on disk must keep verifying: these bodies and hashes were computed before the
  // serializers were optimized, and any change to what is hashed shows up here.
  it('pins the body and hash of a small chain of awkward events', async () => {
    const { chainHash, eventBody, GENESIS_HASH } = await import('./audit-chain');
    const redact = createRedactor({ salt: 'pinned-salt' });
    const events: Array<Record<string, unknown>> = [
      {
        v: 1,
        id: '0190a000-0000-7000-8000-000000000001',
        ts: '2026-01-05T10:30:00.000Z',
        type: 'decision',
        traceId: 'trace_1',
        spanId: 'span_1',
        agent: { id: 'agent-7', name: 'Support "Bot" \\ 7', tags: ['openai', 'support'], tier: 'verified' },
        framework: 'openai-agents',
        kind: 'tool',
        action: 'write:refund',
        effect: 'deny',
        reason: 'Refunds over $100 need a manager\n(amount 150)',
        policy: { name: 'openai-support', version: '1.0' },
        rule: { id: 'openai-support#7', index: 7 },
        mode: 'enforce',
        decisionId: 'd-1',
        context: redact({
          amount: 150.5,
          customer_email: 'c@example.com',
          items: [{ sku: 'A-1', qty: 2 }, null],
          '10': 'ten',
          '9': 'nine',
          é: 'accent',
          Z: true,
          token: { nested: [1, 2] },
        }),
      },
      {
        v: 1,
        id: '0190a000-0000-7000-8000-000000000002',
        ts: '2026-01-05T10:30:00.010Z',
        type: 'outcome',
        traceId: 'trace_1',
        agent: { name: 'Billing', id: 'agent-8', tags: [], tier: 'basic' },
        delegation: [{ id: 'agent-7', name: 'Support', tags: ['x'], tier: 'verified' }],
        framework: 'bedrock',
        kind: 'handoff',
        action: 'handoff:Billing Specialist',
        effect: 'allow',
        mode: 'shadow',
        decisionId: 'd-1',
        outcome: 'error',
        error: 'tab\there \u0001 ctrl, emoji \ud83d\ude00, lone \ud800, sep \u2028',
        durationMs: 12.25,
        actor: 'human:ops',
        source: { name: '@meshguard/openai-agents', version: '0.1.0' },
        context: { 'a\u0000b': 1, big: 1e21, small: 1e-7, neg: -0, s: 'ü' },
      },
      {
        v: 1,
        id: 'x',
        ts: 't',
        type: 'session',
        traceId: 't',
        agent: { id: 'a', name: 'n', tags: ['t'], tier: 'basic', extra: 1 },
        framework: 'f',
        kind: 'k',
        action: 'a',
        effect: 'allow',
        mode: 'enforce',
        decisionId: 'd',
        rule: { id: 'r', index: '3' },
        custom: { z: 1, a: [] },
      },
    ];
    const hashes: string[] = [];
    let prevHash = GENESIS_HASH;
    for (const [i, event] of events.entries()) {
      const body = eventBody({ ...event, stream: 'main', seq: i + 1, prevHash } as never);
      prevHash = chainHash(prevHash, body);
      hashes.push(prevHash);
      if (i === 0) {
        expect(body).toBe(
          '{"action":"write:refund","agent":{"id":"agent-7","name":"Support \\"Bot\\" \\\\ 7","tags":["openai","support"],"tier":"verified"},"context":{"10":"ten","9":"nine","Z":true,"amount":150.5,"customer_email":"redacted:sha256:8b9e639300ed165485d6482a92539701","items":[{"qty":2,"sku":"A-1"},null],"token":"redacted:sha256:0b5b39e5d4a41a5cfa97966600d26759","é":"accent"},"decisionId":"d-1","effect":"deny","framework":"openai-agents","id":"0190a000-0000-7000-8000-000000000001","kind":"tool","mode":"enforce","policy":{"name":"openai-support","version":"1.0"},"prevHash":"0000000000000000000000000000000000000000000000000000000000000000","reason":"Refunds over $100 need a manager\\n(amount 150)","rule":{"id":"openai-support#7","index":7},"seq":1,"spanId":"span_1","stream":"main","traceId":"trace_1","ts":"2026-01-05T10:30:00.000Z","type":"decision","v":1}',
        );
      }
    }
    expect(hashes).toEqual([
      '027c744dba6a22478040f159ad92c8e8946661eac6a170fa6a1d6219601fd72c',
      '45678e0aa9b8069f98d6e1266520ca2d45b6b4a3477bd1d700ef0fd1aae363cf',
      'd76de1e99acb6db32b30b67af1ccb576075155358fdb687370e55228b443a848',
    ]);
  });
});
