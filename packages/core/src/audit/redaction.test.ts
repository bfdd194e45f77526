import { describe, expect, it } from 'vitest';
import { containsSecretText, createRedactor, createSensitiveKeyTest, isSensitiveKey } from './redaction';

const HASH = /^redacted:sha256:[0-9a-f]{32}$/;
const redact = createRedactor({ salt: 's' });
// Test values only: a Luhn-valid test card, AWS's documented example key id, a JWT signed with nothing.
const CARD = '4111 1111 1111 1111';
const AWS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

describe('redaction: keys', () => {
  it('hides the credential keys it missed before', () => {
    const keys = [
      'pwd',
      'passwd',
      'pass',
      'db_pass',
      'passCode',
      'passphrase',
      'private_key',
      'aws_access_key_id',
      'AWS_SECRET_ACCESS_KEY',
      'authorization',
      'cookie',
      'session',
      'sessionId',
      'user_session',
    ];
    const out = redact(Object.fromEntries(keys.map((k) => [k, 'v'])));
    for (const key of keys) expect(out[key], key).toMatch(HASH);
  });

  it('matches short words as whole key segments only: pass is not passenger_count', () => {
    const innocent = { passenger_count: 3, compass: 'north', bypass_cache: true, passage: 'p', sessional: 1 };
    expect(redact(innocent)).toEqual(innocent);
  });

  it('is one rule, shared with the policy engine, and configurable', () => {
    expect(isSensitiveKey('customerEmail')).toBe(true);
    expect(isSensitiveKey('passenger_count')).toBe(false);
    const custom = createSensitiveKeyTest({ keys: ['iban'], keySegments: ['pin'] });
    expect(custom('customer_iban')).toBe(true);
    expect(custom('card_pin')).toBe(true);
    expect(custom('spinner')).toBe(false);
    expect(custom('password')).toBe(false);
  });
});

describe('redaction: secrets recognized in any string', () => {
  it('replaces card numbers (Luhn-checked, with spaces or dashes) under innocent keys, in arrays too', () => {
    const out = redact({
      note: `pay with ${CARD} please`,
      lines: [{ memo: '4111-1111-1111-1111' }, '4111111111111111'],
      order_id: '4111111111111112', // fails Luhn: an order number, kept
      digits: '1234 5678',
    });
    expect(out.note).toMatch(/^pay with redacted:sha256:[0-9a-f]{32} please$/);
    const lines = out.lines as [Record<string, string>, string];
    expect(lines[0].memo).toMatch(HASH);
    expect(lines[1]).toMatch(HASH);
    expect(out.order_id).toBe('4111111111111112');
    // A card after other digit groups is still found; the groups before it stay.
    expect(redact({ n: 'ref 55 1234 4111 1111 1111 1111 ok' }).n).toMatch(
      /^ref 55 1234 redacted:sha256:[0-9a-f]{32} ok$/,
    );
    expect(out.digits).toBe('1234 5678');
  });

  it('replaces AWS access key ids, JWTs and bearer tokens, keeping the rest of the text', () => {
    const out = redact({
      a: `key ${AWS_KEY_ID} leaked`,
      b: `ASIAY34FZKBOKMUTVV7A`,
      c: `token=${JWT}`,
      d: 'Authorization header was Bearer abc.DEF-123_xyz~ok',
      e: 'a bearer of good news', // the word alone is no token
    });
    expect(out.a).toMatch(/^key redacted:sha256:[0-9a-f]{32} leaked$/);
    expect(out.b).toMatch(HASH);
    expect(out.c).toMatch(/^token=redacted:sha256:[0-9a-f]{32}$/);
    expect(out.d).toMatch(/^Authorization header was Bearer redacted:sha256:[0-9a-f]{32}$/);
    expect(out.e).toBe('a bearer of good news');
  });

  it('gives a matched secret the hash its value gets under a secret key (joins still work), and is stable', () => {
    const out = redact({ card: '4111111111111111', note: '4111111111111111' });
    expect(out.note).toBe(out.card);
    expect(redact(out)).toEqual({ card: expect.stringMatching(HASH), note: out.note });
  });

  it('names what it would hide, for the policy engine', () => {
    expect(containsSecretText(`x ${CARD}`)).toBe(true);
    expect(containsSecretText(JWT)).toBe(true);
    expect(containsSecretText('order 4111111111111112')).toBe(false);
  });

  it('scans long hostile strings in linear time', () => {
    const started = performance.now();
    redact({
      a: '1 '.repeat(200_000),
      b: 'eyJ-'.repeat(50_000),
      c: 'Bearer '.repeat(100_000),
      d: `${'1-'.repeat(50_000)}${'1'.repeat(50_000)}x`,
      e: `${'eyJab.'.repeat(30_000)}`,
    });
    // Quadratic rescanning took minutes on these; the generous guard only catches that.
    expect(performance.now() - started).toBeLessThan(10_000);
  }, 20_000);
});
