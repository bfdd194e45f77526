import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '@meshguard/core';
import { sqliteErrorName } from './sqlite-error-names';

/**
 * The SQLite API the store uses, served by either driver: Node's built-in `node:sqlite` (Node
 * 22.13 and later; nothing to compile) or the `better-sqlite3` package (a native addon: Node 20,
 * or when chosen). The shape is better-sqlite3's, so its `Database` is one as it is; `node:sqlite`
 * is wrapped (`pragma`, `transaction`, `raw`, error codes by name).
 */
export interface SqliteDatabase {
  /** The path it was opened with. */
  readonly name: string;
  /** The driver serving it (its workers open the file with the same one). */
  readonly driver: SqliteDriverName;
  readonly inTransaction: boolean;
  readonly open: boolean;
  prepare<P extends unknown[] | object = unknown[], R = unknown>(sql: string): SqliteStatement<P, R>;
  exec(sql: string): unknown;
  /** `PRAGMA <source>`: the rows, or with `simple` the first column of the first row. */
  pragma(source: string, options?: { simple?: boolean }): unknown;
  /**
   * `fn` inside BEGIN/COMMIT (a SAVEPOINT when nested), rolled back if it throws; `.immediate`
   * takes the write lock at BEGIN (BEGIN IMMEDIATE), `.exclusive` every lock.
   */
  transaction<F extends (...args: never[]) => unknown>(fn: F): Transaction<F>;
  close(): unknown;
}

type Transaction<F> = F & { deferred: F; immediate: F; exclusive: F };

type Params<P> = P extends unknown[] ? P : [P];

interface SqliteStatement<P extends unknown[] | object = unknown[], R = unknown> {
  run(...params: Params<P>): { changes: number; lastInsertRowid: number | bigint };
  get(...params: Params<P>): R | undefined;
  all(...params: Params<P>): R[];
  iterate(...params: Params<P>): IterableIterator<R>;
  /** Rows as arrays of column values rather than objects. */
  raw(toggle?: boolean): this;
}

export type SqliteDriverName = 'node:sqlite' | 'better-sqlite3';
export const SQLITE_DRIVERS: readonly SqliteDriverName[] = ['node:sqlite', 'better-sqlite3'];

export interface SqliteOpenOptions {
  readonly?: boolean;
  /** Fail rather than create the file (always so when `readonly`). */
  fileMustExist?: boolean;
  /** How long a statement waits on another connection's lock, in ms (default 5000). */
  timeout?: number;
}

const require = createRequire(import.meta.url);

let builtin: { module: NodeSqliteModule | undefined } | undefined;

/**
 * Node's built-in module where this Node has it (22.13+ without a flag), else undefined. Node 22
 * marks it experimental and warns on stderr when it loads (in every thread: each journal and
 * verify worker); that one warning is not passed on, as the driver is tested on each supported Node
 * and a library should not write to its host's stderr. Every other warning is.
 */
function nodeSqlite(): NodeSqliteModule | undefined {
  if (builtin) return builtin.module;
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    const text = typeof warning === 'string' ? warning : warning.message;
    if (type === 'ExperimentalWarning' && text.startsWith('SQLite is an experimental feature')) return;
    return (emitWarning as (...args: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    builtin = { module: process.getBuiltinModule?.('node:sqlite') as NodeSqliteModule | undefined };
  } catch {
    builtin = { module: undefined };
  } finally {
    process.emitWarning = emitWarning;
  }
  return builtin.module;
}

let betterSqlite: { loaded?: BetterSqliteConstructor; error?: unknown } | undefined;
function loadBetterSqlite(): BetterSqliteConstructor | undefined {
  if (!betterSqlite) {
    try {
      const Database = require('better-sqlite3') as BetterSqliteConstructor;
      // The native addon loads with the first database: one built for another Node fails here.
      new Database(':memory:', { readonly: false, fileMustExist: false, timeout: 0 }).close();
      betterSqlite = { loaded: Database };
    } catch (error) {
      betterSqlite = { error };
    }
  }
  return betterSqlite.loaded;
}

/** Whether `driver` can open databases in this process (better-sqlite3: installed and loadable). */
export function sqliteDriverAvailable(driver: SqliteDriverName): boolean {
  return driver === 'node:sqlite' ? nodeSqlite() !== undefined : loadBetterSqlite() !== undefined;
}

/**
 * The driver to use: the one asked for (option, else `MESHGUARD_SQLITE_DRIVER`), else
 * `node:sqlite` where Node has it, else better-sqlite3. A `ConfigError` says what to do when the
 * one asked for, or any, is missing.
 */
export function resolveSqliteDriver(
  asked: string | undefined = process.env.MESHGUARD_SQLITE_DRIVER,
): SqliteDriverName {
  const wanted = asked?.trim() || undefined;
  if (wanted !== undefined && !SQLITE_DRIVERS.includes(wanted as SqliteDriverName)) {
    throw new ConfigError(
      `unknown SQLite driver "${wanted}" (MESHGUARD_SQLITE_DRIVER or the driver option): use ${SQLITE_DRIVERS.map((d) => `"${d}"`).join(' or ')}`,
      { code: 'store_driver_unknown' },
    );
  }
  if (wanted === 'node:sqlite' || (wanted === undefined && nodeSqlite())) {
    if (nodeSqlite()) return 'node:sqlite';
    throw new ConfigError(
      `the "node:sqlite" driver needs Node 22.13 or later (this is ${process.version}): upgrade Node, or install better-sqlite3 and choose it`,
      { code: 'store_driver_missing' },
    );
  }
  if (loadBetterSqlite()) return 'better-sqlite3';
  throw new ConfigError(
    wanted === 'better-sqlite3'
      ? `the "better-sqlite3" driver cannot be loaded: ${(betterSqlite?.error as Error | undefined)?.message ?? 'not installed'} (npm install better-sqlite3)`
      : `SQLite needs Node 22.13 or later (node:sqlite) or the better-sqlite3 package on ${process.version}: npm install better-sqlite3`,
    { code: 'store_driver_missing', cause: betterSqlite?.error },
  );
}

/** Opens `path` (or `:memory:`) with `driver` (see {@link resolveSqliteDriver}). */
export function openSqlite(
  path: string,
  options: SqliteOpenOptions = {},
  driver: SqliteDriverName = resolveSqliteDriver(),
): SqliteDatabase {
  const timeout = options.timeout ?? 5000;
  if (driver === 'better-sqlite3') {
    const Database = loadBetterSqlite() ?? (resolveSqliteDriver('better-sqlite3') as never);
    const db = new Database(path, {
      readonly: options.readonly ?? false,
      fileMustExist: options.fileMustExist ?? false,
      timeout,
    });
    return Object.defineProperty(db as SqliteDatabase, 'driver', {
      value: 'better-sqlite3',
      enumerable: false,
    });
  }
  const sqlite = nodeSqlite() ?? (resolveSqliteDriver('node:sqlite') as never);
  const memory = path === ':memory:' || path === '';
  // A file: URL with mode=ro / mode=rw opens without creating (SQLite's own open flags).
  const mode = options.readonly ? 'ro' : options.fileMustExist ? 'rw' : undefined;
  let location: string | URL = path;
  if (!memory && mode) {
    location = pathToFileURL(path);
    location.searchParams.set('mode', mode);
  }
  const db = withNamedErrors(
    () => new sqlite.DatabaseSync(location, { readOnly: options.readonly ?? false, timeout }),
  );
  return new NodeSqliteDatabase(db, path);
}

/** Runs `fn`, giving a node:sqlite error the name better-sqlite3 gives it (`SQLITE_BUSY`...). */
function withNamedErrors<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw nameError(error);
  }
}

function nameError(error: unknown): unknown {
  const e = error as { code?: unknown; errcode?: unknown } | null;
  if (e && e.code === 'ERR_SQLITE_ERROR' && typeof e.errcode === 'number') {
    Object.defineProperty(e, 'code', {
      value: sqliteErrorName(e.errcode),
      configurable: true,
      writable: true,
    });
  }
  return error;
}

class NodeSqliteDatabase implements SqliteDatabase {
  readonly driver = 'node:sqlite';
  private savepoints = 0;

  constructor(
    private readonly db: NodeDatabaseSync,
    readonly name: string,
  ) {}

  get inTransaction(): boolean {
    return this.db.isTransaction;
  }

  get open(): boolean {
    return this.db.isOpen;
  }

  prepare<P extends unknown[] | object = unknown[], R = unknown>(sql: string): SqliteStatement<P, R> {
    return new NodeSqliteStatement(withNamedErrors(() => this.db.prepare(sql))) as SqliteStatement<P, R>;
  }

  exec(sql: string): this {
    withNamedErrors(() => this.db.exec(sql));
    return this;
  }

  pragma(source: string, options: { simple?: boolean } = {}): unknown {
    const statement = withNamedErrors(() => this.db.prepare(`PRAGMA ${source}`));
    if (!options.simple) return withNamedErrors(() => statement.all());
    const row = withNamedErrors(() => statement.get());
    return row === undefined ? undefined : Object.values(row)[0];
  }

  transaction<F extends (...args: never[]) => unknown>(fn: F): Transaction<F> {
    const variant =
      (begin: string) =>
      (...args: Parameters<F>): ReturnType<F> => {
        // As better-sqlite3 does: BEGIN at the outside, a SAVEPOINT per level inside.
        const nested = this.db.isTransaction;
        const savepoint = `mg_tx_${++this.savepoints}`;
        this.exec(nested ? `SAVEPOINT ${savepoint}` : begin);
        try {
          const result = fn(...args) as ReturnType<F>;
          this.exec(nested ? `RELEASE ${savepoint}` : 'COMMIT');
          return result;
        } catch (error) {
          if (this.db.isTransaction) {
            this.exec(nested ? `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}` : 'ROLLBACK');
          }
          throw error;
        } finally {
          this.savepoints--;
        }
      };
    const deferred = variant('BEGIN');
    return Object.assign(deferred, {
      deferred,
      immediate: variant('BEGIN IMMEDIATE'),
      exclusive: variant('BEGIN EXCLUSIVE'),
    }) as unknown as Transaction<F>;
  }

  close(): this {
    if (this.db.isOpen) this.db.close();
    return this;
  }
}

class NodeSqliteStatement implements SqliteStatement<unknown[], unknown> {
  constructor(private readonly statement: NodeStatementSync) {}

  // try/catch in place rather than withNamedErrors: these run once per row or statement on the
  // store's hot paths, where a closure each time shows in the bench.
  run(...params: unknown[]) {
    try {
      return this.statement.run(...bindable(params));
    } catch (error) {
      throw nameError(error);
    }
  }

  get(...params: unknown[]) {
    try {
      return this.statement.get(...bindable(params));
    } catch (error) {
      throw nameError(error);
    }
  }

  all(...params: unknown[]) {
    try {
      return this.statement.all(...bindable(params));
    } catch (error) {
      throw nameError(error);
    }
  }

  *iterate(...params: unknown[]): IterableIterator<unknown> {
    const rows = withNamedErrors(() => this.statement.iterate(...bindable(params)));
    try {
      while (true) {
        let next: IteratorResult<unknown>;
        try {
          next = rows.next();
        } catch (error) {
          throw nameError(error);
        }
        if (next.done) return;
        yield next.value;
      }
    } finally {
      // A caller that stops early (break, throw) must reset the statement, as better-sqlite3's
      // iterator does: one left stepping keeps its read snapshot and pins the WAL.
      rows.return?.();
    }
  }

  raw(toggle = true): this {
    this.statement.setReturnArrays(toggle);
    return this;
  }
}

/** better-sqlite3 takes `run(a, b)` and `run([a, b])`; node:sqlite only the first. */
function bindable(params: unknown[]): unknown[] {
  return params.length === 1 && Array.isArray(params[0]) ? params[0] : params;
}

// The parts of node:sqlite used here (the machine's @types/node may predate it).
interface NodeSqliteModule {
  DatabaseSync: new (
    location: string | URL,
    options: { readOnly: boolean; timeout: number },
  ) => NodeDatabaseSync;
}
interface NodeDatabaseSync {
  readonly isOpen: boolean;
  readonly isTransaction: boolean;
  prepare(sql: string): NodeStatementSync;
  exec(sql: string): void;
  close(): void;
}
interface NodeStatementSync {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): Record<string, unknown> | undefined;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): Iterator<unknown>;
  setReturnArrays(enabled: boolean): void;
}
type BetterSqliteConstructor = new (
  path: string,
  options: { readonly: boolean; fileMustExist: boolean; timeout: number },
) => Omit<SqliteDatabase, 'driver'>;
