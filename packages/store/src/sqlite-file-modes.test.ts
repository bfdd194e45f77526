import { chmodSync, existsSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canJournal } from '@meshguard/core/internal';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { journalDir } from './journal-files';
import { openSqliteGatewayState } from './sqlite-gateway-state';
import { openSqliteStore } from './sqlite-store';
import { makeEventBody } from './testing';

const mode = (path: string) => statSync(path).mode & 0o777;

// Whatever the umask: 0 lets every file be created world-writable unless MeshGuard says otherwise.
let umask: number;
beforeEach(() => {
  umask = process.umask(0);
});
afterEach(() => {
  process.umask(umask);
});

describe('files of the SQLite store and the gateway state, with umask 0', () => {
  it('creates the database, its -wal and -shm 0600 in 0700 folders', async () => {
    const root = await mkdtemp(join(tmpdir(), 'mg-modes-'));
    const path = join(root, 'data', 'nested', 'audit.db');
    const store = openSqliteStore(path);
    await store.append([makeEventBody(), makeEventBody()]);
    expect(mode(join(root, 'data'))).toBe(0o700);
    expect(mode(join(root, 'data', 'nested'))).toBe(0o700);
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      expect(existsSync(file), file).toBe(true);
      expect(mode(file), file).toBe(0o600);
    }
    await store.close();
  });

  it('creates the write-ahead journals 0600 in a 0700 folder', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'mg-modes-')), 'audit.db');
    const store = openSqliteStore(path);
    if (!canJournal(store)) throw new Error('a writable store on a file journals');
    await store.journal([makeEventBody({ context: { email: 'a@b.c' } })]);
    const dir = journalDir(path);
    expect(mode(dir)).toBe(0o700);
    const files = readdirSync(dir);
    expect(files.some((f) => f.endsWith('.lock'))).toBe(true);
    expect(files.some((f) => f.endsWith('.jsonl'))).toBe(true);
    for (const file of files) expect(mode(join(dir, file)), file).toBe(0o600);
    await store.close();
  });

  it('tightens a database, -wal and -shm that others could read', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'mg-modes-')), 'audit.db');
    const first = openSqliteStore(path);
    await first.append([makeEventBody()]);
    // Left open, so -wal and -shm stay; loosened as an older version (or a umask 0) left them.
    for (const file of [path, `${path}-wal`, `${path}-shm`]) chmodSync(file, 0o644);
    const second = openSqliteStore(path);
    for (const file of [path, `${path}-wal`, `${path}-shm`]) expect(mode(file), file).toBe(0o600);
    await second.close();
    await first.close();
  });

  it('creates the gateway state 0600 in a 0700 folder and tightens an existing one', async () => {
    const root = await mkdtemp(join(tmpdir(), 'mg-modes-'));
    const path = join(root, 'state', 'gateway.db');
    const state = openSqliteGatewayState(path);
    await state.createAgent({ id: 'a', name: 'a', tags: [], tier: 'basic' });
    expect(mode(join(root, 'state'))).toBe(0o700);
    for (const file of [path, `${path}-wal`, `${path}-shm`]) expect(mode(file), file).toBe(0o600);
    await state.close();
    chmodSync(path, 0o666);
    const again = openSqliteGatewayState(path);
    expect(mode(path)).toBe(0o600);
    await again.close();
  });

  it('refuses a database that is a symbolic link, naming it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'mg-modes-'));
    writeFileSync(join(root, 'elsewhere.db'), '');
    const path = join(root, 'audit.db');
    symlinkSync(join(root, 'elsewhere.db'), path);
    expect(() => openSqliteStore(path)).toThrow(`${path} is a symbolic link`);
    expect(() => openSqliteGatewayState(path)).toThrow(`${path} is a symbolic link`);
  });
});
