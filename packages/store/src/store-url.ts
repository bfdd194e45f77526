import { ConfigError } from '@meshguard/core';

export type StoreLocation = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/**
 * Reads a store URL: `sqlite:<path>` (or `sqlite::memory:`), `postgres://...` /
 * `postgresql://...`, or a bare path meaning SQLite.
 */
export function parseStoreUrl(url: string): StoreLocation {
  const text = url.trim();
  if (text === '') throw new ConfigError('the store URL is empty', { code: 'store_url_invalid' });
  if (/^postgres(ql)?:\/\//.test(text)) return { kind: 'postgres', url: text };
  if (text.startsWith('sqlite:')) {
    const path = text.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '')
      throw new ConfigError(`the store URL "${url}" names no file`, { code: 'store_url_invalid' });
    return { kind: 'sqlite', path };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new ConfigError(`unsupported store URL "${url}": use sqlite:<path> or postgres://...`, {
      code: 'store_url_invalid',
    });
  }
  return { kind: 'sqlite', path: text };
}
