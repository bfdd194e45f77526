import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { GENESIS_HASH } from '@meshguard/core';
import { chainHash } from '@meshguard/core/internal';
import type { SqliteDriverName } from './sqlite-driver';

export interface RangeTask {
  path: string;
  driver: SqliteDriverName;
  from: number;
  to: number;
}

export interface RangeResult {
  streams: Record<
    string,
    { firstBody: string; firstHash: string; firstPos: number; lastHash: string; count: number }
  >;
  broken?: { stream: string; pos: number } | undefined;
}

export interface ChainScan {
  /** Per stream: the hash of its last verified event and how many were verified. */
  state: Map<string, { hash: string; count: number }>;
  checked: number;
  threads: number;
  /** The first event (in stored order) that does not hash onto its predecessor. */
  broken?: { stream: string; pos: number };
}

/** The compiled worker beside this module, when there is one (not when running from sources). */
function workerUrl(): URL | undefined {
  const url = new URL(`./verify-worker.${import.meta.url.endsWith('.cjs') ? 'cjs' : 'js'}`, import.meta.url);
  return url.protocol === 'file:' && existsSync(fileURLToPath(url)) ? url : undefined;
}

/** Below this many events one thread is faster than starting workers. */
export const PARALLEL_THRESHOLD = 200_000;

/**
 * Verifies the hash chains of a file with one worker thread per core, each on its own range of
 * stored positions, then checks the seams between ranges. Returns undefined when workers are not
 * available or the file is too small to gain from them.
 */
export async function scanInParallel(
  path: string,
  driver: SqliteDriverName,
  minPos: number,
  maxPos: number,
  threshold: number = PARALLEL_THRESHOLD,
): Promise<ChainScan | undefined> {
  const url = workerUrl();
  const total = maxPos - minPos + 1;
  const threads = Math.min(availableParallelism(), 4);
  if (!url || path === ':memory:' || total < threshold || threads < 2) return undefined;
  const size = Math.ceil(total / threads);
  const tasks: RangeTask[] = [];
  for (let from = minPos; from <= maxPos; from += size)
    tasks.push({ path, driver, from, to: Math.min(from + size, maxPos + 1) });
  const results = await Promise.all(
    tasks.map(
      (task) =>
        new Promise<RangeResult>((resolve, reject) => {
          const worker = new Worker(url, { workerData: task });
          worker.once('message', (result: RangeResult) => resolve(result));
          worker.once('error', reject);
          worker.once('exit', (code) => {
            if (code !== 0) reject(new Error(`a verification worker exited with code ${code}`));
          });
        }),
    ),
  );
  const state = new Map<string, { hash: string; count: number }>();
  let checked = 0;
  for (const result of results) {
    // The earliest problem in this range: a seam that does not link, or a break inside it.
    let broken = result.broken;
    for (const [stream, r] of Object.entries(result.streams)) {
      const before = state.get(stream) ?? { hash: GENESIS_HASH, count: 0 };
      if (chainHash(before.hash, r.firstBody) !== r.firstHash && (!broken || r.firstPos < broken.pos)) {
        broken = { stream, pos: r.firstPos };
      }
    }
    if (broken) {
      // Count only what lies before the break, per stream, as the sequential scan would.
      return { state, checked, threads: tasks.length, broken };
    }
    for (const [stream, r] of Object.entries(result.streams)) {
      const before = state.get(stream) ?? { hash: GENESIS_HASH, count: 0 };
      state.set(stream, { hash: r.lastHash, count: before.count + r.count });
      checked += r.count;
    }
  }
  return { state, checked, threads: tasks.length };
}
