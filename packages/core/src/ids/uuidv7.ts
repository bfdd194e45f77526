import { randomFillSync } from 'node:crypto';

// A decision id is minted on every check, so it must cost far less than the check itself:
// random bytes come from a pooled buffer and the timestamp part is formatted once per millisecond.
const POOL_SIZE = 4096;
const pool = new Uint8Array(POOL_SIZE);
let poolOffset = POOL_SIZE;
const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, '0'));

let lastMs = -1;
let lastPrefix = '';
let counter = 0;

function randomBytes(n: number): number {
  if (poolOffset + n > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += n;
  return at;
}

/**
 * A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then a 12-bit counter seeded randomly each
 * millisecond (so ids from one process sort in creation order), then 62 random bits.
 */
export function uuidv7(now: number = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    const hex = now.toString(16).padStart(12, '0');
    lastPrefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7`;
    const at = randomBytes(2);
    counter = ((pool[at]! << 8) | pool[at + 1]!) & 0x7ff; // leave headroom before overflow
  } else {
    counter++;
    if (counter > 0xfff) {
      // More than ~2,000 ids in one millisecond: borrow the next millisecond to stay monotonic.
      return uuidv7(lastMs + 1);
    }
  }
  const r = randomBytes(8);
  const p = pool;
  return (
    lastPrefix +
    HEX[counter >> 8]!.slice(1) +
    HEX[counter & 0xff]! +
    '-' +
    HEX[(p[r]! & 0x3f) | 0x80]! +
    HEX[p[r + 1]!]! +
    '-' +
    HEX[p[r + 2]!]! +
    HEX[p[r + 3]!]! +
    HEX[p[r + 4]!]! +
    HEX[p[r + 5]!]! +
    HEX[p[r + 6]!]! +
    HEX[p[r + 7]!]!
  );
}

let isoMs = Number.NaN;
let isoText = '';

/** `new Date(ms).toISOString()`, cached for the current millisecond (it is on the hot path). */
export function isoTime(ms: number): string {
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}
