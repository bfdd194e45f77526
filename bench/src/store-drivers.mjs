// The SQLite store on each of its drivers, node:sqlite and better-sqlite3, in one process: durable
// chained ingest, verify and queries, and each figure's ratio node:sqlite / better-sqlite3. Needs
// a Node with node:sqlite (22.13+) and a better-sqlite3 built for it: `pnpm bench:drivers` from the
// repository root runs it on Node 22 from the registry (scripts/node-matrix.mjs builds the addon).
// See README.md ("SQLite drivers").
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '@meshguard/store';
import { sqliteDriverAvailable } from '@meshguard/store/internal';
import { AGENTS, EVENTS_PER_TRACE, ingestStore, median, queryLatency } from './store.mjs';

const DRIVERS = ['node:sqlite', 'better-sqlite3'];
const EVENTS = Number(process.env.STORE_BENCH_EVENTS ?? 1_000_000);
const INGEST = Math.min(EVENTS, Number(process.env.STORE_BENCH_INGEST ?? 200_000));
const ROUNDS = Number(process.env.STORE_BENCH_ROUNDS ?? 3);

const missing = DRIVERS.filter((d) => !sqliteDriverAvailable(d));

/** Each measure on each driver, alternating drivers (in a rotating order) round by round. */
async function measureDrivers(dir) {
  const figures = Object.fromEntries(
    DRIVERS.map((d) => [d, { ingest: [], verify: [], byAgent: [], byName: [], byTrace: [] }]),
  );
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < DRIVERS.length; k++) {
      const driver = DRIVERS[(round + k) % DRIVERS.length];
      const file = join(dir, `ingest-${round}-${k}.db`);
      figures[driver].ingest.push((await ingestStore(file, INGEST, { driver })).store);
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
    }
  }
  // One trail of EVENTS for verify and queries, written once; each driver reads the same file.
  const path = join(dir, 'audit.db');
  await ingestStore(path, EVENTS);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < DRIVERS.length; k++) {
      const driver = DRIVERS[(round + k) % DRIVERS.length];
      const store = openSqliteStore(path, { readonly: true, driver });
      const started = process.hrtime.bigint();
      const report = await store.verify();
      figures[driver].verify.push(EVENTS / (Number(process.hrtime.bigint() - started) / 1e9));
      if (!report.ok || report.checked !== EVENTS)
        throw new Error(`verify on ${driver} failed: ${JSON.stringify(report.problem)}`);
      if (round === 0) {
        const f = figures[driver];
        f.byAgent = await queryLatency(store, (q) => ({ agent: `agent-${(q * 37) % AGENTS}`, limit: 100 }));
        f.byName = await queryLatency(store, (q) => ({ agent: `Agent ${(q * 53) % AGENTS}`, limit: 100 }));
        f.byTrace = await queryLatency(store, (q) => ({
          traceId: `trace_${String((q * 7919) % Math.floor(EVENTS / EVENTS_PER_TRACE)).padStart(32, '0')}`,
          order: 'asc',
          limit: 100,
        }));
      }
      await store.close();
    }
  }
  return figures;
}

export async function runDriverBench(print = console.log) {
  print('');
  print(
    `SQLite drivers (Node ${process.versions.node}, SQLite in node:sqlite ${process.versions.sqlite ?? '?'})`,
  );
  if (missing.length > 0) {
    print(
      `  skipped: ${missing.join(' and ')} cannot be loaded on Node ${process.versions.node}; run \`pnpm bench:drivers\` from the repository root (Node 22 from the registry, better-sqlite3 built for it)`,
    );
    return true;
  }
  const dir = mkdtempSync(join(tmpdir(), 'mg-driver-bench-'));
  try {
    const f = await measureDrivers(dir);
    const [a, b] = DRIVERS;
    const n = (rate) => `${Math.round(rate).toLocaleString('en-US')}/s`;
    const ms = (q) => `${q.median.toFixed(2)} / ${q.p99.toFixed(2)} ms`;
    const rows = [
      ['measure', a, b, `${a} / ${b}`],
      [
        `chained ingest, ${INGEST.toLocaleString('en-US')} events (median of ${ROUNDS})`,
        n(median(f[a].ingest)),
        n(median(f[b].ingest)),
        `${(median(f[a].ingest) / median(f[b].ingest)).toFixed(2)}x`,
      ],
      [
        `verify, ${EVENTS.toLocaleString('en-US')} events (median of ${ROUNDS})`,
        n(median(f[a].verify)),
        n(median(f[b].verify)),
        `${(median(f[a].verify) / median(f[b].verify)).toFixed(2)}x`,
      ],
      ...[
        ['query by agent id (median / p99)', 'byAgent'],
        ['query by agent name (median / p99)', 'byName'],
        ['query by trace (median / p99)', 'byTrace'],
      ].map(([label, key]) => [
        label,
        ms(f[a][key]),
        ms(f[b][key]),
        // For a latency, higher is worse: the ratio is of speeds (b's time over a's), as above.
        `${(f[b][key].median / f[a][key].median).toFixed(2)}x`,
      ]),
    ];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    for (const row of rows)
      print(
        `  ${row
          .map((cell, i) => cell.padEnd(widths[i]))
          .join('  ')
          .trimEnd()}`,
      );
    print('  (a ratio above 1.00x: node:sqlite is the faster)');
    return true;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runDriverBench().catch((error) => {
    console.error(
      `driver benchmark failed to run: ${error instanceof Error ? error.message : String(error)}`,
    );
    process.exitCode = 1;
  });
}
