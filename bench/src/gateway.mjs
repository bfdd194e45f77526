// The gateway over loopback: checks/s and p50/p99 latency with 32 requests in flight, beside a
// bare node:http server answering the same decision JSON (the floor), in the same run; and
// batch checks in decisions/s. Each server runs in its own process; autocannon drives the load.
// Run with `pnpm bench` (builds first) or `pnpm --filter @meshguard/bench bench:gateway`.

import { spawn } from 'node:child_process';
import os from 'node:os';
import autocannon from 'autocannon';

const quick = process.argv.includes('--quick');
const DURATION = quick ? 3 : 10;
const CONNECTIONS = 32;
const TARGET_THROUGHPUT = 0.7;
const TARGET_P99 = 2;
const TARGET_BATCH = 100_000;

const CHECK = JSON.stringify({
  action: 'write:refund',
  context: { order_id: 'ORD-2024-001', amount: 79.99, reason: 'defective' },
  traceId: 'trace_bench',
  kind: 'tool',
});
const BATCH_SIZE = 100;
const BATCH = JSON.stringify({
  requests: Array.from({ length: BATCH_SIZE }, (_, i) => ({
    action: i % 2 ? 'read:order_data' : 'write:refund',
    context: { amount: i },
    traceId: 'trace_bench_batch',
  })),
});

async function startServer(kind) {
  const child = spawn(process.execPath, [new URL('./gateway-server.mjs', import.meta.url).pathname, kind], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      const ready = /ready (\d+) (\S+)/.exec(out);
      if (ready) resolve(ready);
    });
    child.on('exit', (code) => reject(new Error(`${kind} server exited ${code}`)));
  });
  return { child, port: Number(line[1]), token: line[2] };
}

function load(port, token, path, body, seconds) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `http://127.0.0.1:${port}${path}`,
        method: 'POST',
        connections: CONNECTIONS,
        pipelining: 1,
        duration: seconds,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
}

async function measure(kind, path, body) {
  const server = await startServer(kind);
  try {
    await load(server.port, server.token, path, body, 2); // warm-up
    const result = await load(server.port, server.token, path, body, DURATION);
    if (result.non2xx > 0 || result.errors > 0) {
      throw new Error(`${kind}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
    }
    return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
  }
}

const floor = await measure('floor', '/v1/check', CHECK);
const gateway = await measure('gateway', '/v1/check', CHECK);
const batch = await measure('gateway', '/v1/check/batch', BATCH);
const decisionsPerSecond = batch.rps * BATCH_SIZE;

const throughput = gateway.rps / floor.rps;
const p99 = gateway.p99 / Math.max(floor.p99, 1);
console.log(`\nGateway over loopback: ${CONNECTIONS} requests in flight, ${DURATION} s each (autocannon)`);
console.log(
  `node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}; gateway: seed policy, SQLite store, EdDSA token`,
);
const row = (name, r) =>
  `  ${name.padEnd(28)} ${Math.round(r.rps).toLocaleString('en-US').padStart(8)} req/s   p50 ${String(r.p50).padStart(3)} ms   p99 ${String(r.p99).padStart(3)} ms`;
console.log(row('floor (bare node:http)', floor));
console.log(row('gateway POST /v1/check', gateway));
console.log(row(`gateway batch of ${BATCH_SIZE}`, batch));
console.log(
  `  throughput ${throughput.toFixed(2)}x the floor (target >= ${TARGET_THROUGHPUT})  ${throughput >= TARGET_THROUGHPUT ? 'PASS' : 'FAIL'}`,
);
console.log(
  `  p99 ${p99.toFixed(2)}x the floor's (target <= ${TARGET_P99})  ${p99 <= TARGET_P99 ? 'PASS' : 'FAIL'}`,
);
console.log(
  `  batch ${Math.round(decisionsPerSecond).toLocaleString('en-US')} decisions/s (target >= ${TARGET_BATCH.toLocaleString('en-US')})  ${decisionsPerSecond >= TARGET_BATCH ? 'PASS' : 'FAIL'}`,
);
