import { describe, expect, it } from 'vitest';
import { createTestGuard, testAgent } from '../testing';
import { canonicalJson } from './canonical-json';
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

  it('takes a custom key list', () => {
    const redact = createRedactor({ salt: 's', keys: ['iban'] });
    expect(redact({ iban: 'DE00', email: 'x' })).toEqual({
      iban: expect.stringMatching(/^redacted:/),
      email: 'x',
    });
  });
});
