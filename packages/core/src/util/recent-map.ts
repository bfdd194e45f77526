/**
 * A map that remembers the entries set most recently: at least the last `capacity / 2`, at most
 * the last `capacity`. It keeps two generations and drops the older one whole when the newer one
 * is full, so every operation is O(1).
 *
 * A `Map` trimmed by deleting its first key on each insert is not: V8 leaves deleted entries in
 * place until it rehashes, and `keys().next()` walks past all of them, about 4 µs per insert at
 * 10,000 entries (measured on Node 20), paid by every decision once a guard had made that many.
 */
export class RecentMap<K, V> {
  private current = new Map<K, V>();
  private previous = new Map<K, V>();
  private readonly generation: number;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 2) {
      throw new RangeError(`RecentMap capacity must be a whole number of at least 2, not ${capacity}`);
    }
    this.generation = Math.ceil(capacity / 2);
  }

  get(key: K): V | undefined {
    return this.current.has(key) ? this.current.get(key) : this.previous.get(key);
  }

  has(key: K): boolean {
    return this.current.has(key) || this.previous.has(key);
  }

  set(key: K, value: V): this {
    if (!this.current.has(key) && this.current.size >= this.generation) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(key, value);
    this.previous.delete(key);
    return this;
  }

  delete(key: K): boolean {
    const inCurrent = this.current.delete(key);
    return this.previous.delete(key) || inCurrent;
  }

  /** How many entries it holds now. */
  get size(): number {
    return this.current.size + this.previous.size;
  }
}
