import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
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
 * Loads the optional peer `@meshguard/store`: from beside core first, then from the application's
 * own folder (where a workspace or a pnpm install puts it). The specifier is a variable so that
 * bundlers do not fail on an optional package that is not installed.
 */
async function importStorePackage(url: string): Promise<StoreModule> {
  const specifier = STORE_PACKAGE;
  try {
    return (await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier)) as StoreModule;
  } catch (first) {
    try {
      const fromApp = createRequire(join(process.cwd(), 'package.json')).resolve(specifier);
      return (await import(/* @vite-ignore */ pathToFileURL(fromApp).href)) as StoreModule;
    } catch {
      throw new ConfigError(
        `the audit store "${url}" needs the package @meshguard/store, which is not installed: run "npm install @meshguard/store", or pass store: 'memory' for an in-memory trail that is lost on exit`,
        { code: 'store_missing', cause: first },
      );
    }
  }
}
