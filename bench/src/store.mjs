// Audit store benchmarks (issue: the audit trail): durable chained ingest against a plain
// better-sqlite3 insert loop of the same rows in the same run, verify throughput, and query
// latency by agent and by trace over 1,000,000 events. See README.md for what each figure covers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '@meshguard/store';
import Database from 'better-sqlite3';

const EVENTS = Number(process.env.STORE_BENCH_EVENTS ?? 1_000_000);
const INGEST = Math.min(EVENTS, Number(process.env.STORE_BENCH_INGEST ?? 200_000));
// Ingest is measured in rounds, each timing every variant once on a fresh file (in a rotating
// order): the medians, and the median of each round's chained / plain ratio, resist other work on
// the machine better than one pass.
const ROUNDS = Number(process.env.STORE_BENCH_ROUNDS ?? 3);
const BATCH = 256;
export const AGENTS = 1_000;
export const EVENTS_PER_TRACE = 10;

export function body(i) {
  const agent = i % AGENTS;
  return {
    v: 1,
    id: `0190${String(i).padStart(8, '0')}-0000-7000-8000-${String(i).padStart(12, '0')}`,
    ts: new Date(1_767_600_000_000 + i * 10).toISOString(),
    type: i % 2 === 0 ? 'decision' : 'outcome',
    traceId: `trace_${String(Math.floor(i / EVENTS_PER_TRACE)).padStart(32, '0')}`,
    agent: { id: `agent-${agent}`, name: `Agent ${agent}`, tags: ['openai', 'support'], tier: 'verified' },
    framework: ['openai-agents', 'bedrock', 'vertex'][i % 3],
    kind: 'tool',
    action: ['read:customer_data', 'write:refund', 'write:email', 'handoff:Billing Specialist'][i % 4],
    effect: i % 5 === 0 ? 'deny' : 'allow',
    reason: 'Allowed by rule openai-support-agent-policy#3 of policy openai-support-agent-policy',
    policy: { name: 'openai-support-agent-policy', version: '1.0' },
    rule: { id: 'openai-support-agent-policy#3', index: 3 },
    mode: 'enforce',
    decisionId: `d-${Math.floor(i / 2)}`,
    ...(i % 2 === 1 ? { outcome: 'success', durationMs: 12 } : {}),
    context: { order_id: `ORD-${i}`, amount: (i % 20000) / 100, customer_email: `c${i}@example.com` },
  };
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export function p99(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))];
}

/**
 * Events per second two ways: `store` counts only the time spent storing them (in `append`, or in
 * the plain loop's transaction), `wall` also the time this benchmark takes to build them.
 */
function rates(count, storing, started) {
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  return { store: count / (Number(storing) / 1e9), wall: count / wall };
}

export async function ingestStore(path, count, options = {}) {
  const store = openSqliteStore(path, options); // WAL, synchronous=NORMAL
  const started = process.hrtime.bigint();
  let storing = 0n;
  for (let i = 0; i < count; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(i + BATCH, count); j++) batch.push(body(j));
    const t = process.hrtime.bigint();
    await store.append(batch);
    storing += process.hrtime.bigint() - t;
  }
  const result = rates(count, storing, started);
  await store.close();
  return result;
}

/**
 * The baseline: the same rows into the same schema (the store creates it) with the store's
 * settings (packages/store/src/sqlite-store.ts), one INSERT per row: no chain, no redaction, no
 * canonical JSON, and checkpoints on its own thread as SQLite does them by default.
 */
function ingestPlain(path, count) {
  openSqliteStore(path).close();
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma(
    `wal_autocheckpoint = ${Math.round((40 * 1024 * 1024) / db.pragma('page_size', { simple: true }))}`,
  );
  db.pragma('cache_size = -16384');
  db.pragma('temp_store = MEMORY');
  const insert = db.prepare('INSERT INTO audit_events (stream, body, hash) VALUES (?, ?, ?)');
  const write = db.transaction((rows) => {
    for (const e of rows) insert.run('main', JSON.stringify(e), '');
  });
  const started = process.hrtime.bigint();
  let storing = 0n;
  for (let i = 0; i < count; i += BATCH) {
    const rows = [];
    for (let j = i; j < Math.min(i + BATCH, count); j++) rows.push(body(j));
    const t = process.hrtime.bigint();
    write(rows);
    storing += process.hrtime.bigint() - t;
  }
  const result = rates(count, storing, started);
  db.close();
  return result;
}

export async function queryLatency(store, filterOf, n = 200) {
  const times = [];
  for (let q = 0; q < n; q++) {
    const filter = filterOf(q);
    const started = process.hrtime.bigint();
    const page = await store.query(filter);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
    if (page.events.length === 0) throw new Error(`query ${JSON.stringify(filter)} found nothing`);
  }
  return { median: median(times), p99: p99(times) };
}

export async function runStoreBench(print = console.log) {
  const dir = mkdtempSync(join(tmpdir(), 'mg-store-bench-'));
  try {
    const variants = {
      plain: (file) => ingestPlain(file, INGEST),
      chained: (file) => ingestStore(file, INGEST),
      // The store with its checkpoints on the writer's thread, as the baseline has them.
      writer: (file) => ingestStore(file, INGEST, { backgroundCheckpoints: false }),
    };
    const runs = { plain: [], chained: [], writer: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const names = Object.keys(variants);
      for (let k = 0; k < names.length; k++) {
        const name = names[(round + k) % names.length];
        const file = join(dir, `${name}-${round}.db`);
        runs[name].push(await variants[name](file));
        for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
      }
    }
    const of = (name, how) => runs[name].map((r) => r[how]);
    const ratiosOf = (how) => runs.chained.map((r, i) => r[how] / runs.plain[i][how]);
    const storeRate = median(of('chained', 'store'));
    const ratios = ratiosOf('store');
    const ratio = median(ratios);
    const path = join(dir, 'audit.db');
    const full = await ingestStore(path, EVENTS);
    const store = openSqliteStore(path, { readonly: true });
    const { driver } = store;
    // Verify uses every core, so it is the figure other work on the machine disturbs most.
    const verifyRates = [];
    for (let round = 0; round < ROUNDS; round++) {
      const started = process.hrtime.bigint();
      const report = await store.verify();
      verifyRates.push(EVENTS / (Number(process.hrtime.bigint() - started) / 1e9));
      if (!report.ok || report.checked !== EVENTS)
        throw new Error(`verify failed: ${JSON.stringify(report.problem)}`);
    }
    const byAgent = await queryLatency(store, (q) => ({ agent: `agent-${(q * 37) % AGENTS}`, limit: 100 }));
    const byAgentName = await queryLatency(store, (q) => ({
      agent: `Agent ${(q * 53) % AGENTS}`,
      limit: 100,
    }));
    const byTrace = await queryLatency(store, (q) => ({
      traceId: `trace_${String((q * 7919) % Math.floor(EVENTS / EVENTS_PER_TRACE)).padStart(32, '0')}`,
      order: 'asc',
      limit: 100,
    }));
    await store.close();
    const verifyRate = median(verifyRates);
    const n = (rate) => `${Math.round(rate).toLocaleString('en-US')} events/s`;
    const spread = (values) =>
      `${Math.round(Math.min(...values) / 1000)}-${Math.round(Math.max(...values) / 1000)}k`;
    const rateWithSpread = (name, how) => `${n(median(of(name, how)))} (${spread(of(name, how))})`;
    const ratioText = (values) =>
      `${median(values).toFixed(2)}x (${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)})`;
    const rows = [
      [
        `durable chained ingest (WAL, synchronous=NORMAL, batches of ${BATCH}, ${INGEST.toLocaleString('en-US')} into a new file, median of ${ROUNDS})`,
        rateWithSpread('chained', 'store'),
        '>= 50,000 events/s',
        storeRate >= 50_000,
      ],
      [
        'plain better-sqlite3 insert loop, same rows, no chain (baseline)',
        rateWithSpread('plain', 'store'),
        '',
        undefined,
      ],
      ['ingest ratio, chained / plain (median of the rounds)', ratioText(ratios), '>= 0.5x', ratio >= 0.5],
      [
        'the same, timing also the building of the events: chained, plain, ratio (informational)',
        `${n(median(of('chained', 'wall')))}, ${n(median(of('plain', 'wall')))}, ${ratioText(ratiosOf('wall'))}`,
        '',
        undefined,
      ],
      [
        'chained ingest, checkpoints on the writer thread (informational)',
        rateWithSpread('writer', 'store'),
        '',
        undefined,
      ],
      [
        `chained ingest, all ${EVENTS.toLocaleString('en-US')} events into one file (informational)`,
        n(full.store),
        '',
        undefined,
      ],
      [
        `audit verify (${EVENTS.toLocaleString('en-US')} events, median of ${ROUNDS})`,
        `${Math.round(verifyRate).toLocaleString('en-US')} events/s (${spread(verifyRates)})`,
        '>= 500,000 events/s',
        verifyRate >= 500_000,
      ],
      [
        `query by agent id, limit 100 (${EVENTS.toLocaleString('en-US')} events)`,
        `median ${byAgent.median.toFixed(2)} ms, p99 ${byAgent.p99.toFixed(2)} ms`,
        '< 20 ms',
        byAgent.p99 < 20,
      ],
      [
        'query by agent name, limit 100',
        `median ${byAgentName.median.toFixed(2)} ms, p99 ${byAgentName.p99.toFixed(2)} ms`,
        '< 20 ms',
        byAgentName.p99 < 20,
      ],
      [
        'query by trace, limit 100',
        `median ${byTrace.median.toFixed(2)} ms, p99 ${byTrace.p99.toFixed(2)} ms`,
        '< 20 ms',
        byTrace.p99 < 20,
      ],
    ];
    print('');
    print(`Audit store (SQLite, ${driver} driver; both drivers side by side: \`pnpm bench:drivers\`)`);
    const w0 = Math.max(...rows.map((r) => r[0].length));
    const w1 = Math.max(...rows.map((r) => r[1].length));
    for (const [name, value, target, ok] of rows) {
      print(
        `  ${name.padEnd(w0)}  ${value.padEnd(w1)}  ${target}${ok === undefined ? '' : ok ? '  PASS' : '  FAIL'}`,
      );
    }
    return rows.every((r) => r[3] !== false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// A benchmark reports; it never fails the command (targets show as PASS / FAIL in the table).
if (import.meta.url === `file://${process.argv[1]}`) {
  runStoreBench().catch((error) => {
    console.error(`store benchmark failed to run: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
