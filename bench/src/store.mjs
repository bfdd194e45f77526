// Audit store benchmarks (issue: the audit trail): durable chained ingest against a plain
// better-sqlite3 insert loop of the same rows in the same run, verify throughput, and query
// latency by agent and by trace over 1,000,000 events.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '@meshguard/store';
import Database from 'better-sqlite3';

const EVENTS = Number(process.env.STORE_BENCH_EVENTS ?? 1_000_000);
const INGEST = Math.min(EVENTS, Number(process.env.STORE_BENCH_INGEST ?? 200_000));
const BATCH = 256;
const AGENTS = 1_000;
const EVENTS_PER_TRACE = 10;

function body(i) {
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

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function p99(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))];
}

async function ingestStore(path, from, count) {
  const store = openSqliteStore(path); // WAL, synchronous=NORMAL
  const started = process.hrtime.bigint();
  for (let i = from; i < from + count; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(i + BATCH, from + count); j++) batch.push(body(j));
    await store.append(batch);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await store.close();
  return count / seconds;
}

/** The baseline: the same rows into the same schema (the store creates it), no chain, no redaction. */
function ingestPlain(path, count) {
  openSqliteStore(path).close();
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('cache_size = -65536');
  db.pragma('wal_autocheckpoint = 10000');
  const insert = db.prepare('INSERT INTO audit_events (stream, body, hash) VALUES (?, ?, ?)');
  const write = db.transaction((rows) => {
    for (const e of rows) insert.run('main', JSON.stringify(e), '');
  });
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i += BATCH) {
    const rows = [];
    for (let j = i; j < Math.min(i + BATCH, count); j++) rows.push(body(j));
    write(rows);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  db.close();
  return count / seconds;
}

async function queryLatency(store, filterOf, n = 200) {
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
    const plainRate = ingestPlain(join(dir, 'plain.db'), INGEST);
    const path = join(dir, 'audit.db');
    const storeRate = await ingestStore(path, 0, INGEST);
    if (EVENTS > INGEST) await ingestStore(path, INGEST, EVENTS - INGEST);
    const store = openSqliteStore(path, { readonly: true });
    const started = process.hrtime.bigint();
    const report = await store.verify();
    const verifySeconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (!report.ok || report.checked !== EVENTS)
      throw new Error(`verify failed: ${JSON.stringify(report.problem)}`);
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
    const ratio = storeRate / plainRate;
    const verifyRate = EVENTS / verifySeconds;
    const rows = [
      [
        'durable chained ingest (WAL, synchronous=NORMAL, batches of 256)',
        `${Math.round(storeRate).toLocaleString('en-US')} events/s`,
        '>= 50,000 events/s',
        storeRate >= 50_000,
      ],
      [
        'plain better-sqlite3 insert loop, same rows, no chain (baseline)',
        `${Math.round(plainRate).toLocaleString('en-US')} events/s`,
        '',
        undefined,
      ],
      ['ingest ratio, chained / plain', `${ratio.toFixed(2)}x`, '>= 0.5x', ratio >= 0.5],
      [
        `audit verify (${EVENTS.toLocaleString('en-US')} events)`,
        `${Math.round(verifyRate).toLocaleString('en-US')} events/s`,
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
    print('Audit store (SQLite)');
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
