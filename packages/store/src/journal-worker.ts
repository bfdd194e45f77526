import { parentPort, workerData } from 'node:worker_threads';
import { commitJournalLines, type JournalMessage, type JournalTask } from './audit-journal';
import { openSqliteStore } from './sqlite-store';

// The journal's worker (see audit-journal.ts): its own connection to the store's file, on the
// store's stream, committing the lines it is handed in order and reporting how many are done.
const task = workerData as JournalTask;
const store = openSqliteStore(task.path, {
  stream: task.stream,
  synchronous: task.synchronous,
  ...(task.redactKeys ? { redactKeys: task.redactKeys } : {}),
  journal: false,
});
const commit = commitJournalLines(store);
let queue: string[] = [];
let running = false;
let timer: ReturnType<typeof setTimeout> | undefined;

// Lines wait up to `windowMs` to be committed together (a commit costs far more than a row); a
// drain, which someone waits on, commits at once.
parentPort!.on('message', (message: JournalMessage) => {
  if (message.close) {
    if (timer) clearTimeout(timer);
    void store.close().finally(() => process.exit(0));
    return;
  }
  queue.push(...message.lines);
  if (message.flush) {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (!running) void run();
  } else {
    timer ??= setTimeout(() => {
      timer = undefined;
      if (!running) void run();
    }, task.windowMs);
  }
});

async function run() {
  running = true;
  let wait = 100;
  while (queue.length > 0) {
    const lines = queue;
    queue = [];
    const report = await commit(lines);
    parentPort!.postMessage(report);
    if (report.error) {
      // The rest are tried again, first, after a pause that grows while the store keeps failing.
      queue = [...lines.slice(report.done), ...queue];
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, 5000);
    } else {
      wait = 100;
    }
  }
  running = false;
}
