import { parentPort, workerData } from 'node:worker_threads';
import { openSqlite } from './sqlite-driver';
import type { CheckpointTask } from './wal-checkpointer';

// The background checkpointer (see wal-checkpointer.ts): its own connection to the store's file,
// with the store's durability setting, which decides how a checkpoint syncs.
const task = workerData as CheckpointTask;
const db = openSqlite(task.path, { fileMustExist: true }, task.driver);
db.pragma(`synchronous = ${task.synchronous}`);
parentPort!.on('message', (message: 'checkpoint' | 'close') => {
  if (message === 'close') {
    db.close();
    parentPort!.close();
    return;
  }
  try {
    // PASSIVE: copies what no reader still needs and never waits for the writer or readers.
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy (another checkpoint runs): the next nudge, or the writer's own checkpoint, does it.
  }
  parentPort!.postMessage('done');
});
