import * as crypto from 'node:crypto';
import { canonicalJson } from './canonical-json';

/** Key words that mark a context field as secret or personal. */
export const DEFAULT_REDACTED_KEYS: readonly string[] = [
  'email',
  'phone',
  'card',
  'ssn',
  'password',
  'token',
  'secret',
  'api_key',
  'authorization',
  'credential',
  'cookie',
  'private_key',
];

export interface RedactionOptions {
  /** Key words to redact (matched against the words of each key); default {@link DEFAULT_REDACTED_KEYS}. */
  keys?: readonly string[];
  /** The salt for the hashes: keep it in the store, never in code. */
  salt: string;
}

export type Redactor = (context: Record<string, unknown>) => Record<string, unknown>;

/** The prefix of a redacted value: `redacted:sha256:<hex>`. */
export const REDACTED_PREFIX = 'redacted:sha256:';

/**
 * Builds a function that replaces secret- and personal-looking fields of a context, at any depth,
 * by a salted hash of their value (the same value always gives the same hash, so joins still
 * work, and the value cannot be read back). See `isSensitive` for which keys.
 */
export function createRedactor(options: RedactionOptions): Redactor {
  const words = new Set((options.keys ?? DEFAULT_REDACTED_KEYS).map(normalizeWord));
  const cache = new Map<string, boolean>();
  const sensitive = (key: string): boolean => {
    let hit = cache.get(key);
    if (hit === undefined) {
      hit = isSensitive(key, words);
      if (cache.size < 10_000) cache.set(key, hit);
    }
    return hit;
  };
  const hmac = createHmacSha256Hex(Buffer.from(options.salt, 'utf8'));
  const hash = (value: unknown): string => REDACTED_PREFIX + hmac(canonicalJson(value)).slice(0, 32);
  const walk = (value: unknown): unknown => {
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
  return (context) => walk(context) as Record<string, unknown>;
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

/**
 * A key is sensitive when, lower-cased and stripped of everything but letters and digits, it
 * contains a listed word: `customer_email`, `accessToken`, `api-key`, `creditCardNumber`,
 * `newPassword1`, `Authorization`. Over-redaction (`discard`, `max_tokens`) is the safe side.
 */
function isSensitive(key: string, words: ReadonlySet<string>): boolean {
  const normalized = normalizeWord(key);
  for (const word of words) if (word && normalized.includes(word)) return true;
  return false;
}
