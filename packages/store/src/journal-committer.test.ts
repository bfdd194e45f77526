import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openJournalCommitter } from './journal-committer';
import { resolveSqliteDriver } from './sqlite-driver';
import { openSqliteStore } from './sqlite-store';
import { makeEventBody } from './testing';

const WORKER = new URL('../dist/journal-worker.js', import.meta.url);

describe('the journal committer', () => {
  it('hands over to its worker under a steady load that never lets this thread catch up', async () => {
    if (!existsSync(WORKER))
      throw new Error('packages/store is not built: run `pnpm build` first (pnpm test does)');
    const path = join(await mkdtemp(join(tmpdir(), 'mg-committer-')), 'audit.db');
    const task = {
      path,
      driver: resolveSqliteDriver(undefined),
      stream: 'handover',
      synchronous: 'normal' as const,
      windowMs: 2,
    };
    // This thread's commits are slow (5 ms) and a line comes every millisecond: its queue is never
    // empty. They commit nothing here; the worker's go into the file.
    let here = 0;
    let done = 0;
    const committer = openJournalCommitter(
      task,
      async (lines) => {
        await sleep(5);
        here += lines.length;
        return { done: lines.length };
      },
      (report) => {
        done += report.done;
      },
      pathToFileURL(WORKER.pathname) as URL,
    );
    let sent = 0;
    const started = Date.now();
    while (Date.now() - started < 2500) {
      committer.send(JSON.stringify([makeEventBody({ traceId: 'trace_steady' })]));
      sent++;
      await sleep(1);
    }
    committer.ref();
    committer.post(true);
    for (let waited = 0; done < sent && waited < 10_000; waited += 20) await sleep(20);
    await committer.close();
    expect(done).toBe(sent);
    // Before the fix the worker never took a line: every one was committed on this thread.
    expect(here).toBeLessThan(sent / 2);
    const store = openSqliteStore(path, { readonly: true });
    expect(store.count({ traceId: 'trace_steady' })).toBe(sent - here);
    expect((await store.verify()).ok).toBe(true);
    await store.close();
  }, 30_000);
});
