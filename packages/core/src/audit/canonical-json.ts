/**
 * Canonical JSON (RFC 8785 for the values MeshGuard stores): object keys sorted by UTF-16 code
 * units, no whitespace, numbers as ECMAScript prints them, `undefined` members dropped.
 * Written here rather than imported: the maintained package is ESM-only on Node >= 22, and this
 * is the hash chain's hot path.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`cannot canonicalize the number ${value}`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          const item = value[i];
          out += item === undefined || typeof item === 'function' ? 'null' : canonicalJson(item);
        }
        return `${out}]`;
      }
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
        return canonicalJson((value as { toJSON: () => unknown }).toJSON());
      }
      const keys = Object.keys(value).sort();
      let out = '{';
      let first = true;
      for (const key of keys) {
        const member = (value as Record<string, unknown>)[key];
        if (member === undefined || typeof member === 'function') continue;
        if (!first) out += ',';
        first = false;
        out += `${JSON.stringify(key)}:${canonicalJson(member)}`;
      }
      return `${out}}`;
    }
    case 'bigint':
      throw new TypeError('cannot canonicalize a bigint');
    default:
      return 'null';
  }
}
