import { readdirSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as core from '@meshguard/core/internal';
import { canJournal } from '@meshguard/core/internal';
import { describe, expect, it, vi } from 'vitest';
import { journalDir } from './journal-files';
import { openSqliteStore } from './sqlite-store';
import { makeEventBody } from './testing';

vi.mock('@meshguard/core/internal', async (original) => {
  const actual = await original<typeof import('@meshguard/core/internal')>();
  return { ...actual, ensurePrivateFile: vi.fn(actual.ensurePrivateFile) };
});

describe('the journal past a file that cannot be begun', () => {
  it('keeps writing to the current file when the next (past 8 MiB) cannot be created, and loses nothing', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'mg-journal-rotate-')), 'audit.db');
    const store = openSqliteStore(path);
    if (!canJournal(store)) throw new Error('a writable store on a file journals');
    const note = 'x'.repeat(64 * 1024);
    // The first journal file opens; the next one (the rotation) fails once.
    store.journal([makeEventBody({ traceId: 'trace_rotate', reason: note })]);
    const actual = vi.mocked(core.ensurePrivateFile).getMockImplementation()!;
    vi.mocked(core.ensurePrivateFile).mockImplementationOnce(() => {
      throw new Error('EMFILE: too many open files');
    });
    const ids: string[] = [];
    // 8 MiB of lines: the write that crosses the size asks for a new file, which fails.
    for (let i = 0; i < 140; i++) {
      const body = makeEventBody({ traceId: 'trace_rotate', reason: note });
      ids.push(body.id);
      expect(() => store.journal([body])).not.toThrow();
    }
    vi.mocked(core.ensurePrivateFile).mockImplementation(actual);
    await store.drain();
    expect(store.count({ traceId: 'trace_rotate' })).toBe(141);
    expect((await store.verify()).ok).toBe(true);
    await store.close();
    expect(readdirSync(join(journalDir(path), '..')).some((f) => f.endsWith('.pending'))).toBe(false);
  }, 60_000);
});
