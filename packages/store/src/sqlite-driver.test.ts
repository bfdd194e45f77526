import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  openSqlite,
  resolveSqliteDriver,
  SQLITE_DRIVERS,
  type SqliteDriverName,
  sqliteDriverAvailable,
} from './sqlite-driver';
import { sqliteErrorName } from './sqlite-error-names';
import { openSqliteStore } from './sqlite-store';
import { describeAuditStore } from './testing';

const tempDb = async () => join(await mkdtemp(join(tmpdir(), 'mg-driver-')), 'audit.db');
const major = Number(process.versions.node.split('.')[0]);
const [minorOf22] = process.versions.node.split('.').slice(1).map(Number);
const nodeHasSqlite = major > 22 || (major === 22 && (minorOf22 ?? 0) >= 13);

describe('choosing the SQLite driver', () => {
  it('uses node:sqlite where Node has it, and better-sqlite3 on older Node', () => {
    expect(sqliteDriverAvailable('node:sqlite')).toBe(nodeHasSqlite);
    expect(resolveSqliteDriver(undefined)).toBe(nodeHasSqlite ? 'node:sqlite' : 'better-sqlite3');
  });

  it('refuses an unknown driver, naming it and the ones there are', () => {
    expect(() => resolveSqliteDriver('sqlite3')).toThrow(
      /unknown SQLite driver "sqlite3" \(MESHGUARD_SQLITE_DRIVER or the driver option\): use "node:sqlite" or "better-sqlite3"/,
    );
    expect(() => openSqliteStore(':memory:', { driver: 'nope' as SqliteDriverName })).toThrow(
      expect.objectContaining({ code: 'store_driver_unknown' }),
    );
  });

  it.skipIf(nodeHasSqlite)('says which Node node:sqlite needs when it is asked for on an older one', () => {
    expect(() => resolveSqliteDriver('node:sqlite')).toThrow(
      /the "node:sqlite" driver needs Node 22\.13 or later \(this is v\d+/,
    );
  });

  it('names SQLite result codes as sqlite3.h (and better-sqlite3) do', () => {
    expect(sqliteErrorName(5)).toBe('SQLITE_BUSY');
    expect(sqliteErrorName(13)).toBe('SQLITE_FULL');
    expect(sqliteErrorName(1555)).toBe('SQLITE_CONSTRAINT_PRIMARYKEY');
    expect(sqliteErrorName(2067)).toBe('SQLITE_CONSTRAINT_UNIQUE');
    expect(sqliteErrorName(778)).toBe('SQLITE_IOERR_WRITE');
    expect(sqliteErrorName(4874)).toBe('SQLITE_IOERR_SHMSIZE');
    expect(sqliteErrorName(99)).toBe('SQLITE_UNKNOWN_99');
  });
});

for (const driver of SQLITE_DRIVERS) {
  const available = sqliteDriverAvailable(driver);
  // On Node 20 node:sqlite does not exist; on 22 and 24 better-sqlite3 loads only where it was
  // built for that Node (CI builds it for each; see scripts/node-matrix.mjs).
  describe.skipIf(!available)(`the ${driver} driver`, () => {
    it('runs statements, named and positional parameters, raw rows and iteration alike', () => {
      const db = openSqlite(':memory:', {}, driver);
      expect(db.driver).toBe(driver);
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER)');
      const insert = db.prepare<{ name: string; n: number }>('INSERT INTO t (name, n) VALUES (@name, @n)');
      expect(insert.run({ name: 'a', n: 1 })).toMatchObject({ changes: 1, lastInsertRowid: 1 });
      db.prepare('INSERT INTO t (name, n) VALUES (?, ?)').run('b', 2);
      db.prepare('INSERT INTO t (name, n) VALUES (?, ?)').run(['c', 3]);
      expect({ ...(db.prepare('SELECT name, n FROM t WHERE id = ?').get(2) as object) }).toEqual({
        name: 'b',
        n: 2,
      });
      expect(db.prepare('SELECT name FROM t WHERE id > 5').get()).toBeUndefined();
      expect(db.prepare('SELECT name, n FROM t ORDER BY id').raw(true).all()).toEqual([
        ['a', 1],
        ['b', 2],
        ['c', 3],
      ]);
      expect(
        [...db.prepare<[number], { n: number }>('SELECT n FROM t WHERE n >= ?').iterate(2)].map((r) => r.n),
      ).toEqual([2, 3]);
      expect(db.pragma('user_version', { simple: true })).toBe(0);
      db.pragma('user_version = 7');
      expect(db.pragma('user_version')).toEqual([{ user_version: 7 }]);
      db.close();
      expect(db.open).toBe(false);
    });

    it('commits, rolls back, and nests transactions as savepoints', () => {
      const db = openSqlite(':memory:', {}, driver);
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
      const add = db.prepare('INSERT INTO t (id) VALUES (?)');
      const count = () => (db.prepare('SELECT count(*) AS c FROM t').get() as { c: number }).c;
      const addTwo = db.transaction((a: number, b: number) => {
        add.run(a);
        add.run(b);
        return a + b;
      });
      expect(addTwo(1, 2)).toBe(3);
      expect(count()).toBe(2);
      expect(() => addTwo(3, 1)).toThrow(expect.objectContaining({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' }));
      expect(count()).toBe(2); // 3 was rolled back with the failing 1
      expect(db.inTransaction).toBe(false);

      const outer = db.transaction(() => {
        add.run(10);
        expect(db.inTransaction).toBe(true);
        try {
          addTwo(11, 10); // fails inside: only its savepoint is undone
        } catch {}
        add.run(12);
      });
      outer.immediate();
      expect(db.prepare('SELECT id FROM t ORDER BY id').raw().all().flat()).toEqual([1, 2, 10, 12]);
      db.close();
    });

    it('lets go of its read snapshot when iteration stops early', async () => {
      const path = await tempDb();
      const writer = openSqlite(path, {}, driver);
      writer.pragma('journal_mode = WAL');
      writer.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
      const add = writer.prepare('INSERT INTO t (id) VALUES (?)');
      for (let id = 1; id <= 10; id++) add.run(id);
      const reader = openSqlite(path, { readonly: true }, driver);
      for (const row of reader.prepare('SELECT id FROM t').iterate()) {
        expect(row).toBeDefined();
        break;
      }
      add.run(11);
      // A reader still stepping a statement would pin the WAL: the checkpoint would report busy.
      expect(writer.pragma('wal_checkpoint(TRUNCATE)')).toEqual([{ busy: 0, log: 0, checkpointed: 0 }]);
      reader.close();
      writer.close();
    });

    it('opens read-only and must-exist files without creating them, and names busy and read-only errors', async () => {
      const path = await tempDb();
      expect(() => openSqlite(path, { readonly: true }, driver)).toThrow();
      expect(() => openSqlite(path, { fileMustExist: true }, driver)).toThrow();
      expect(existsSync(path)).toBe(false);

      const writer = openSqlite(path, {}, driver);
      writer.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
      const reader = openSqlite(path, { readonly: true }, driver);
      expect(() => reader.exec('INSERT INTO t (id) VALUES (1)')).toThrow(
        expect.objectContaining({ code: 'SQLITE_READONLY' }),
      );
      writer.exec('BEGIN EXCLUSIVE');
      const other = openSqlite(path, { fileMustExist: true, timeout: 0 }, driver);
      expect(() => other.exec('BEGIN EXCLUSIVE')).toThrow(expect.objectContaining({ code: 'SQLITE_BUSY' }));
      writer.exec('COMMIT');
      for (const db of [other, reader, writer]) db.close();
    });
  });

  if (available)
    describeAuditStore(`sqlite (${driver})`, async () => openSqliteStore(await tempDb(), { driver }));
}
