import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import createDebug from 'debug';
import type { SqliteDriverName } from './sqlite-driver';

const debug = createDebug('meshguard:store');

export interface CheckpointTask {
  path: string;
  driver: SqliteDriverName;
  synchronous: 'NORMAL' | 'FULL';
}

/** Appended events after which a store starts its checkpointer: a small trail never needs one. */
export const CHECKPOINTER_FROM = 8_192;

/** At most one background checkpoint per this many milliseconds. */
const INTERVAL_MS = 20;

/**
 * Copies committed pages from the WAL back into the database file on a worker thread, so that the
 * writer does not: a checkpoint reads and rewrites every page once more and syncs both files,
 * close to a tenth of the writer's time when it ran after each 40 MiB of WAL, and it waits for
 * the disk. The writer keeps its own automatic checkpoint as the bound on the WAL's size; it then
 * finds little left to copy.
 */
export interface Checkpointer {
  /** Tells the checkpointer that a transaction with `events` events committed. */
  committed(events: number): void;
  /** Stops the worker, its connection closed, before the store closes its own. */
  close(): Promise<void>;
}

/** The compiled worker beside this module, when there is one (not when running from sources). */
function workerUrl(): URL | undefined {
  const url = new URL(
    `./checkpoint-worker.${import.meta.url.endsWith('.cjs') ? 'cjs' : 'js'}`,
    import.meta.url,
  );
  return url.protocol === 'file:' && existsSync(fileURLToPath(url)) ? url : undefined;
}

export function createCheckpointer(task: CheckpointTask): Checkpointer {
  const url = task.path === ':memory:' ? undefined : workerUrl();
  let worker: Worker | undefined;
  let failed = !url;
  let appended = 0;
  let pending = false;
  let last = 0;
  const start = (): Worker => {
    const started = new Worker(url!, { workerData: task });
    started.on('message', () => {
      pending = false;
    });
    started.on('error', (error) => {
      // The writer's own checkpoints carry on alone.
      debug('the background checkpointer failed: %O', error);
      failed = true;
      worker = undefined;
    });
    // Never keeps the process alive. After the listeners: adding a 'message' listener refs the
    // worker again, and a process that appended past CHECKPOINTER_FROM events without closing
    // its store then never exited.
    started.unref();
    return started;
  };
  return {
    committed(events) {
      if (failed) return;
      appended += events;
      if (!worker) {
        if (appended < CHECKPOINTER_FROM) return;
        worker = start();
      }
      const now = performance.now();
      if (pending || now - last < INTERVAL_MS) return;
      pending = true;
      last = now;
      worker.postMessage('checkpoint');
    },
    async close() {
      const stopping = worker;
      worker = undefined;
      failed = true;
      if (!stopping) return;
      const exited = new Promise((resolve) => stopping.once('exit', resolve));
      stopping.ref(); // kept alive until it has closed its connection
      stopping.postMessage('close');
      await exited;
    },
  };
}
