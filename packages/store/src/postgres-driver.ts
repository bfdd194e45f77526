import { createRequire } from 'node:module';
import { ConfigError } from '@meshguard/core';
import type pg from 'pg';

const require = createRequire(import.meta.url);
let loaded: typeof pg | undefined;

/**
 * The `pg` package (an optional peer): loaded when a `postgres://` store or gateway state is
 * opened, so an install on the embedded SQLite store never needs it.
 */
export function loadPg(): typeof pg {
  if (loaded) return loaded;
  try {
    loaded = require('pg') as typeof pg;
  } catch (error) {
    throw new ConfigError(
      `a postgres:// store needs the pg package: npm install pg (${(error as Error).message.split('\n')[0]})`,
      { code: 'store_driver_missing', cause: error },
    );
  }
  return loaded;
}
