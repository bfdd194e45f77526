import type { AuditStore } from './audit-store';

/**
 * A store in front of `inner` that replaces only `overrides` and keeps every other member the
 * inner store has, whatever it is: its capabilities (a journal, following the trail...) and its
 * own extras. Members are looked up on the inner store at each use, so a wrapper can never drop a
 * capability by forgetting to forward it (a gateway's counting wrapper once dropped the journal).
 *
 * @example
 * const counted = wrapAuditStore(store, {
 *   append: (events) => { appended += events.length; return store.append(events); },
 * });
 * canJournal(counted) === canJournal(store); // true
 */
export function wrapAuditStore<S extends AuditStore>(inner: S, overrides: Partial<S>): S {
  const holder = (key: PropertyKey): object => (Object.hasOwn(overrides, key) ? overrides : inner);
  // Bound to the inner store: a store written as a class keeps its `this` (and its #private fields).
  const bound = new WeakMap<object, unknown>();
  // The proxy's own target stays empty: a proxy must report a frozen target's members as they are,
  // and the inner store may be frozen.
  return new Proxy({} as S, {
    get(_, key) {
      if (Object.hasOwn(overrides, key)) return Reflect.get(overrides, key);
      const value: unknown = Reflect.get(inner, key);
      if (typeof value !== 'function') return value;
      let fn = bound.get(value);
      if (fn === undefined) {
        fn = value.bind(inner);
        bound.set(value, fn);
      }
      return fn;
    },
    has: (_, key) => Object.hasOwn(overrides, key) || Reflect.has(inner, key),
    set: (_, key, value) => Reflect.set(holder(key), key, value),
    ownKeys: () => [...new Set([...Reflect.ownKeys(inner), ...Reflect.ownKeys(overrides)])],
    getOwnPropertyDescriptor(_, key) {
      const descriptor = Reflect.getOwnPropertyDescriptor(holder(key), key);
      return descriptor && { ...descriptor, configurable: true };
    },
    getPrototypeOf: () => Reflect.getPrototypeOf(inner),
  });
}
