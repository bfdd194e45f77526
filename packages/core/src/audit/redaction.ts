import * as crypto from 'node:crypto';
import { canonicalJson } from './canonical-json';

/**
 * Key words that mark a context field as secret or personal. Each matches anywhere in a key once
 * the key is lower-cased and stripped of separators (`customerEmail`, `db-credentials`).
 */
export const DEFAULT_REDACTED_KEYS: readonly string[] = [
  'email',
  'phone',
  'card',
  'ssn',
  'password',
  'passwd',
  'passphrase',
  'pwd',
  'token',
  'secret',
  'api_key',
  'authorization',
  'credential',
  'cookie',
  'private_key',
  'aws_access_key_id',
  'aws_secret_access_key',
];

/**
 * Key words too short or too common to match inside other words: each matches only as whole
 * segments of a key (`pass`, `db_pass`, `passCode` and `session_id`, but not `passenger_count`
 * or `compass`).
 */
export const DEFAULT_REDACTED_KEY_SEGMENTS: readonly string[] = ['pass', 'session'];

export interface RedactionOptions {
  /** Key words to redact, matched anywhere in a key; default {@link DEFAULT_REDACTED_KEYS}. */
  keys?: readonly string[];
  /** Key words matched only as whole key segments; default {@link DEFAULT_REDACTED_KEY_SEGMENTS}. */
  keySegments?: readonly string[];
  /** The salt for the hashes: keep it in the store, never in code. */
  salt: string;
}

/** Redacts a context (see `createRedactor`); `text` hides the secrets found by form in free text. */
export interface Redactor {
  (context: Record<string, unknown>): Record<string, unknown>;
  /** A string with card numbers, AWS access key ids, JWTs and bearer tokens hidden. */
  text(value: string): string;
}

/** The fields of an event body redaction looks at: the context, and the free text of an outcome. */
interface RedactableBody {
  context?: Record<string, unknown> | undefined;
  error?: string | undefined;
  reason?: string | undefined;
}

/**
 * The body with its context redacted and the secrets found by form in its free text (`error`,
 * `reason`: a tool's failure is where a credential or a card number turns up) hidden. Returns
 * `body` itself when nothing changes, a copy otherwise.
 */
export function redactBody<Body extends RedactableBody>(body: Body, redact: Redactor): Body {
  let out: Body | undefined;
  if (body.context) {
    out = Object.assign({}, body);
    out.context = redact(body.context);
  }
  for (const field of ['error', 'reason'] as const) {
    const value = body[field];
    if (typeof value !== 'string') continue;
    const hidden = redact.text(value);
    if (hidden === value) continue;
    out ??= Object.assign({}, body);
    out[field] = hidden;
  }
  return out ?? body;
}

/** The prefix of a redacted value: `redacted:sha256:<hex>`. */
export const REDACTED_PREFIX = 'redacted:sha256:';

/**
 * Builds a function that replaces secret- and personal-looking fields of a context, at any depth,
 * by a salted hash of their value (the same value always gives the same hash, so joins still
 * work, and the value cannot be read back). See `createSensitiveKeyTest` for which keys. In every
 * other string, at any depth, secrets recognized by their form (card numbers, AWS access key
 * ids, JWTs, bearer tokens) are replaced by the salted hash of the matched text; the rest of the
 * string stays readable.
 */
export function createRedactor(options: RedactionOptions): Redactor {
  const sensitive = createSensitiveKeyTest(options);
  const hmac = createHmacSha256Hex(Buffer.from(options.salt, 'utf8'));
  const hash = (value: unknown): string => REDACTED_PREFIX + hmac(canonicalJson(value)).slice(0, 32);
  const walk = (value: unknown): unknown => {
    if (typeof value === 'string') return redactSecretText(value, hash);
    if (Array.isArray(value)) return value.map(walk);
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      const keys = Object.keys(value);
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        const member = (value as Record<string, unknown>)[key];
        out[key] = member !== undefined && sensitive(key) ? hash(member) : walk(member);
      }
      return out;
    }
    return value;
  };
  const redactor = ((context: Record<string, unknown>) => walk(context)) as Redactor;
  redactor.text = (value) => redactSecretText(value, hash);
  return redactor;
}

const oneShot = (
  crypto as { hash?: (algorithm: string, data: string | Uint8Array, encoding: 'hex' | 'latin1') => string }
).hash;
const BLOCK = 64; // SHA-256's block size

/**
 * HMAC-SHA256 (hex) under a fixed key. Written out by its definition (RFC 2104), with the padded
 * keys prepared once, over Node's one-shot hash: the same value as `createHmac`, about twice as
 * fast for the short values redaction hashes. Long messages, and runtimes without
 * `crypto.hash`, go through `createHmac`.
 */
function createHmacSha256Hex(keyBytes: Buffer): (message: string) => string {
  // A key object once, not the salt string on every value: the same HMAC, a third cheaper.
  const key = crypto.createSecretKey(keyBytes);
  const slow = (message: string) => crypto.createHmac('sha256', key).update(message).digest('hex');
  if (!oneShot) return slow;
  const hash = oneShot;
  const k = keyBytes.length > BLOCK ? crypto.createHash('sha256').update(keyBytes).digest() : keyBytes;
  // inner: (key ^ ipad) || message, outer: (key ^ opad) || inner digest.
  const inner = Buffer.alloc(BLOCK + 4096, 0x36);
  const outer = Buffer.alloc(BLOCK + 32, 0x5c);
  for (let i = 0; i < k.length; i++) {
    inner[i] = inner[i]! ^ k[i]!;
    outer[i] = outer[i]! ^ k[i]!;
  }
  const room = (inner.length - BLOCK) / 3; // a UTF-16 code unit is at most 3 bytes of UTF-8
  return (message) => {
    if (message.length > room) return slow(message);
    const n = inner.write(message, BLOCK, 'utf8');
    outer.write(hash('sha256', inner.subarray(0, BLOCK + n), 'latin1'), BLOCK, 'latin1');
    return hash('sha256', outer, 'hex');
  };
}

function normalizeWord(word: string): string {
  return word.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** A key's segments: split at separators and camelCase humps, lower-cased (`dbPass_2` -> db, pass, 2). */
function keySegments(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((s) => s.length > 0);
}

/**
 * The one rule for which context keys redaction hides, shared by the redactor and by the policy
 * engine (which must never quote such a value in a reason). A key is sensitive when, lower-cased
 * and stripped of everything but letters and digits, it contains one of `keys` (`customer_email`,
 * `accessToken`, `api-key`, `creditCardNumber`, `newPassword1`, `Authorization`), or when one of
 * `keySegments` is a whole segment of it (`db_pass`, `sessionId`). Over-redaction (`discard`,
 * `max_tokens`) is the safe side.
 *
 * @example
 * createSensitiveKeyTest()('customerEmail') // true
 */
export function createSensitiveKeyTest(
  options: Pick<RedactionOptions, 'keys' | 'keySegments'> = {},
): (key: string) => boolean {
  const words = [...new Set((options.keys ?? DEFAULT_REDACTED_KEYS).map(normalizeWord))].filter(Boolean);
  const segments = new Set((options.keySegments ?? DEFAULT_REDACTED_KEY_SEGMENTS).map(normalizeWord));
  segments.delete('');
  const cache = new Map<string, boolean>();
  return (key) => {
    let hit = cache.get(key);
    if (hit === undefined) {
      const normalized = normalizeWord(key);
      hit = words.some((word) => normalized.includes(word));
      if (!hit && segments.size > 0) hit = keySegments(key).some((segment) => segments.has(segment));
      if (cache.size < 10_000) cache.set(key, hit);
    }
    return hit;
  };
}

/** Whether redaction (with the default keys) hides a field of this name. */
export const isSensitiveKey: (key: string) => boolean = createSensitiveKeyTest();

// Secrets recognized by their form, in any string under any key. A piece may start only where
// a run of its characters starts (the lookbehinds), so no run is rescanned from every position
// inside it and the scan stays linear in the length of the text, whatever the text.
const SECRET_TEXT = new RegExp(
  [
    // A run of digits, single spaces or dashes allowed between them: card numbers are looked for in it.
    String.raw`(?<digits>(?<!\w|\d[ -])\d(?:[ -]?\d){12,})`,
    // An AWS access key id (long-term AKIA, temporary ASIA).
    String.raw`(?<aws>\b(?:AKIA|ASIA)[A-Z0-9]{16}\b)`,
    // A JWT (JWS compact form: a JSON header starting `{"`, base64url-encoded, then two parts).
    String.raw`(?<jwt>(?<![\w-])eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*)`,
    // A bearer token after its scheme (RFC 6750 token68).
    String.raw`\b[Bb][Ee][Aa][Rr][Ee][Rr][ \t]+(?!redacted:)(?<bearer>[A-Za-z0-9._~+/-]{8,}=*)`,
  ].join('|'),
  'g',
);

/** Whether a text holds a secret that redaction replaces wherever it appears (see {@link createRedactor}). */
export function containsSecretText(text: string): boolean {
  if (text.length < 13) return false;
  let found = false;
  redactSecretText(text, (v) => {
    found = true;
    return String(v);
  });
  return found;
}

function redactSecretText(text: string, hash: (value: unknown) => string): string {
  if (text.length < 13) return text; // shorter than any secret recognized by its form
  SECRET_TEXT.lastIndex = 0;
  return text.replace(SECRET_TEXT, (match, ...args: unknown[]) => {
    const groups = args[args.length - 1] as Record<string, string | undefined>;
    if (groups.digits !== undefined) return redactCardNumbers(match, hash);
    if (groups.bearer !== undefined)
      return match.slice(0, match.length - groups.bearer.length) + hash(groups.bearer);
    return hash(match);
  });
}

/**
 * Replaces the card numbers in a run of digit groups (`4111 1111 1111 1111`, `4111-1111-...`,
 * `4111111111111111`, possibly after other groups, as in `ref 12 4111 1111 1111 1111`): any
 * consecutive groups holding 13 to 19 digits in all whose Luhn checksum holds.
 */
function redactCardNumbers(run: string, hash: (value: unknown) => string): string {
  const groups = run.split(/([ -])/); // digit groups at even indexes, separators at odd ones
  let out = '';
  let i = 0;
  while (i < groups.length) {
    let digits = '';
    let end = -1;
    for (let j = i; j < groups.length && digits.length < 19; j += 2) {
      digits += groups[j]!;
      if (digits.length >= 13 && digits.length <= 19 && luhn(digits)) end = j;
    }
    if (end >= 0) {
      out += hash(groups.slice(i, end + 1).join(''));
      i = end + 1;
    } else {
      out += groups[i]!;
      i += 1;
    }
    if (i < groups.length && i % 2 === 1) out += groups[i++]!; // the separator after a group
  }
  return out;
}

/** The Luhn checksum every payment card number satisfies. */
function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}
