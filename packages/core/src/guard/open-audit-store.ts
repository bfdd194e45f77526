import type { AuditStore } from '../audit/audit-store';
import { createMemoryStore } from '../audit/memory-store';
import { ConfigError } from '../errors/meshguard-error';

/** Opens the store a setting names. A URL needs the optional peer `@meshguard/store`. */
export async function openAuditStore(
  store: AuditStore | string,
): Promise<{ store: AuditStore; owned: boolean }> {
  if (typeof store !== 'string') return { store, owned: false };
  if (store === 'memory') return { store: createMemoryStore(), owned: true };
  const module = await importStorePackage(store);
  return { store: await module.openStore(store), owned: true };
}

type StoreModule = { openStore(url: string): Promise<AuditStore> };

const STORE_PACKAGE = '@meshguard/store';

/**
 * Loads the optional peer `@meshguard/store`, resolved from core as any dependency is (npm puts it
 * beside core, pnpm links an optional peer the application installed). The specifier is a
 * variable so that bundlers do not fail on an optional package that is not installed. Only a
 * missing store package is "not installed": a store that fails to load says why.
 */
async function importStorePackage(url: string): Promise<StoreModule> {
  const specifier = STORE_PACKAGE;
  try {
    return (await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier)) as StoreModule;
  } catch (error) {
    if (!isMissing(error, specifier)) throw error;
    throw new ConfigError(
      `the audit store "${url}" needs the package @meshguard/store, which is not installed: run "npm install @meshguard/store", or pass store: 'memory' for an in-memory trail that is lost on exit`,
      { code: 'store_missing', cause: error },
    );
  }
}

function isMissing(error: unknown, specifier: string): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  return (
    (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') &&
    typeof e.message === 'string' &&
    e.message.includes(`'${specifier}'`)
  );
}
