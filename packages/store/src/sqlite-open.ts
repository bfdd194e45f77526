import { dirname } from 'node:path';
import { ensurePrivateFile, makePrivateDir, tightenIfExists } from '@meshguard/core/internal';
import {
  openSqlite,
  type SqliteDatabase,
  type SqliteDriverName,
  type SqliteOpenOptions,
} from './sqlite-driver';

/**
 * Makes a SQLite file about to be opened for writing private, whatever the umask: its folder is
 * created 0700, the file itself is created 0600 before SQLite opens it (SQLite would create it
 * 0644 less the umask), and an existing file, -wal, -shm or rollback journal that others could
 * read is tightened (or a `ConfigError` names it). SQLite gives the -wal and -shm files it
 * creates later the database file's own mode.
 */
export function preparePrivateSqliteFile(path: string): void {
  if (path === ':memory:' || path === '') return;
  makePrivateDir(dirname(path));
  ensurePrivateFile(path, { create: true });
  for (const suffix of ['-wal', '-shm', '-journal']) tightenIfExists(`${path}${suffix}`);
}

/** Opens a SQLite database for writing, its files private (see {@link preparePrivateSqliteFile}). */
export function openPrivateSqlite(
  path: string,
  options: SqliteOpenOptions = {},
  driver?: SqliteDriverName,
): SqliteDatabase {
  preparePrivateSqliteFile(path);
  return openSqlite(path, options, driver);
}
