import { parentPort, workerData } from 'node:worker_threads';
import { commitJournalLines, createCommitQueue, type JournalReport } from './journal-commit-queue';
import type { JournalMessage, JournalTask } from './journal-committer';
import { openSqliteStore } from './sqlite-store';

// The journal's worker (see audit-journal.ts): its own connection to the store's file, on the
// store's stream, committing the lines it is handed in order and reporting how many are done.
const task = workerData as JournalTask;
const store = openSqliteStore(task.path, {
  stream: task.stream,
  driver: task.driver,
  synchronous: task.synchronous,
  ...(task.redactKeys ? { redactKeys: task.redactKeys } : {}),
  journal: false,
});
const queue = createCommitQueue(
  commitJournalLines(store),
  (report) => parentPort!.postMessage(report),
  task.windowMs,
);

parentPort!.on('message', (message: JournalMessage) => {
  if (message.close) {
    queue.stop();
    void store.close().finally(() => process.exit(0));
    return;
  }
  queue.add(message.lines, message.flush);
});
parentPort!.postMessage({ done: 0, ready: true } satisfies JournalReport);
