import { createHmac, createSecretKey } from 'node:crypto';
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
  // A key object once, not the salt string on every value: the same HMAC, a third cheaper.
  const key = createSecretKey(Buffer.from(options.salt, 'utf8'));
  const hash = (value: unknown): string =>
    REDACTED_PREFIX + createHmac('sha256', key).update(canonicalJson(value)).digest('hex').slice(0, 32);
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, member] of Object.entries(value)) {
        out[key] = member !== undefined && sensitive(key) ? hash(member) : walk(member);
      }
      return out;
    }
    return value;
  };
  return (context) => walk(context) as Record<string, unknown>;
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
