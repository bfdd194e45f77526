import { parentPort, workerData } from 'node:worker_threads';
import { chainHash } from '@meshguard/core/internal';
import type { RangeResult, RangeTask } from './parallel-verify';
import { openSqlite } from './sqlite-driver';

// Verifies one range of stored positions on its own read-only connection. The first event of
// each stream in the range cannot be checked here (its predecessor lies in an earlier range): it
// is returned for the parent to check at the seam.
const task = workerData as RangeTask;
const db = openSqlite(task.path, { readonly: true }, task.driver);
// Reading through a memory map spares a copy of every page (a full scan reads the whole file).
db.pragma('mmap_size = 1073741824');
const rows = db.prepare<[number, number], [string, string, string, number]>(
  'SELECT stream, body, hash, pos FROM audit_events WHERE pos >= ? AND pos < ? ORDER BY pos',
);
rows.raw(true);
const streams: RangeResult['streams'] = {};
let broken: RangeResult['broken'];
for (const [stream, body, hash, pos] of rows.iterate(task.from, task.to)) {
  const s = streams[stream];
  if (!s) {
    streams[stream] = { firstBody: body, firstHash: hash, firstPos: pos, lastHash: hash, count: 1 };
    continue;
  }
  if (chainHash(s.lastHash, body) !== hash) {
    broken = { stream, pos };
    break;
  }
  s.lastHash = hash;
  s.count++;
}
db.close();
parentPort!.postMessage({ streams, broken } satisfies RangeResult);
