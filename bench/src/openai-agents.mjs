// Governance overhead per tool-calling turn in the real OpenAI Agents Runner: the same agent,
// ungoverned and governed with the embedded guard (seed policy, SQLite audit store), runs
// interleaved in one process. A lean scripted model answers with a function call for each of
// K turns, then a message, so the figure is the Runner's own per-turn cost plus MeshGuard's.
// Run with `pnpm bench` (builds first) or `pnpm --filter @meshguard/bench bench:openai`.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createGuard, parsePolicies } from '@meshguard/core';
import { governAgent } from '@meshguard/openai-agents';
import { Agent, Runner, tool, Usage } from '@openai/agents';
import { z } from 'zod';
import { quantile } from './harness.mjs';

const quick = process.argv.includes('--quick');
const TURNS = 10; // tool-calling turns per run
const WARMUP_RUNS = quick ? 20 : 100;
const RUNS = quick ? 60 : 400;
const TARGET_OVERHEAD = 1.1;

/** A scripted model without recording: a function call for each of TURNS turns, then a message. */
class LoopModel {
  async getResponse(request) {
    const done = request.input.filter((i) => i.type === 'function_call_result').length;
    const output =
      done < TURNS
        ? [
            {
              type: 'function_call',
              callId: `call_${done}`,
              name: 'process_refund',
              arguments: JSON.stringify({ order_id: `ORD-${done}`, amount: 42.5, reason: 'damaged' }),
              status: 'completed',
            },
          ]
        : [
            {
              type: 'message',
              role: 'assistant',
              status: 'completed',
              content: [{ type: 'output_text', text: 'Done.' }],
            },
          ];
    return { usage: new Usage(), output, responseId: `resp_${done}` };
  }
  // biome-ignore lint/correctness/useYield: the benchmark never streams
  async *getStreamedResponse() {
    throw new Error('not streamed');
  }
}

const CLOCK_BASE = Date.UTC(2025, 5, 4, 10, 30); // a Wednesday in business hours
const startedAt = Date.now();
const dir = mkdtempSync(join(os.tmpdir(), 'meshguard-bench-openai-'));
const seed = parsePolicies(
  readFileSync(new URL('../../examples/policies/openai-support.yaml', import.meta.url), 'utf8'),
  { file: 'openai-support.yaml' },
);
const clock = () => CLOCK_BASE + (Date.now() - startedAt);
// The default embedded store (SQLite, every decision committed before the tool runs), and an
// in-memory store (the decision path without the disk) to show where the time goes.
const sqliteGuard = await createGuard({ policies: seed, store: `sqlite:${join(dir, 'bench.db')}`, clock });
const memoryGuard = await createGuard({ policies: seed, store: 'memory', clock });
// The opt-in batched durability: decisions committed in groups every 20 ms (see docs/audit.md).
const batchedGuard = await createGuard({
  policies: seed,
  store: `sqlite:${join(dir, 'bench-batched.db')}`,
  clock,
  audit: { durability: 'batched', batchMs: 20 },
});

const refund = tool({
  name: 'process_refund',
  description: 'Process a refund.',
  parameters: z.object({ order_id: z.string(), amount: z.number(), reason: z.string() }),
  execute: ({ order_id, amount }) => `Refund of $${amount} processed for ${order_id}`,
});
const model = new LoopModel();
const plain = new Agent({ name: 'Customer Support Agent', instructions: 'Refunds.', model, tools: [refund] });
const governance = (guard) => ({
  guard,
  identity: { tags: ['openai', 'support'], tier: 'verified' },
  actions: { process_refund: 'write:refund' },
});
// A guard that allows everything and records nothing: what the SDK's hooks alone cost.
let noopIds = 0;
const noopGuard = {
  check: async () => ({
    decisionId: `noop-${noopIds++}`,
    allowed: true,
    effect: 'allow',
    reason: 'no-op',
    mode: 'enforce',
    evaluatedAt: '',
  }),
  reachable: async () => ({ reachable: true, reason: '', approvalPossible: false }),
  record: async () => {},
  query: async () => [],
  close: async () => {},
};
const agents = {
  ungoverned: plain,
  'governed, SQLite store': governAgent(plain, governance(sqliteGuard)),
  'governed, SQLite batched': governAgent(plain, governance(batchedGuard)),
  'governed, memory store': governAgent(plain, governance(memoryGuard)),
  'hooks only (no-op guard)': governAgent(plain, governance(noopGuard)),
};
const runner = new Runner({ tracingDisabled: true });

async function timeRun(agent) {
  const start = process.hrtime.bigint();
  const result = await runner.run(agent, 'Refund ten orders', { maxTurns: TURNS + 1 });
  const elapsed = Number(process.hrtime.bigint() - start);
  if (result.finalOutput !== 'Done.') throw new Error(`unexpected output: ${result.finalOutput}`);
  return elapsed / TURNS;
}

const names = Object.keys(agents);
for (let i = 0; i < WARMUP_RUNS; i++) for (const name of names) await timeRun(agents[name]);
const samples = Object.fromEntries(names.map((name) => [name, []]));
for (let i = 0; i < RUNS; i++) {
  // Rotate which goes first, so drift (GC, JIT, the store growing) falls on all alike.
  for (let k = 0; k < names.length; k++) {
    const name = names[(i + k) % names.length];
    samples[name].push(await timeRun(agents[name]));
  }
}
await sqliteGuard.query({ limit: 1 }); // waits for outcomes written behind
const events = sqliteGuard.store.stats().total;
await sqliteGuard.close();
await batchedGuard.close();
await memoryGuard.close();
rmSync(dir, { recursive: true, force: true });

const us = (ns) => `${(ns / 1000).toFixed(1)} µs`;
const median = (name) =>
  quantile(
    samples[name].sort((a, b) => a - b),
    0.5,
  );
const base = median('ungoverned');
console.log(
  `\nOpenAI Agents SDK: time per tool-calling turn in the real Runner (${TURNS} turns per run, ${RUNS} runs each)`,
);
console.log(
  `node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}; embedded guard, seed policy; ${events} events in the SQLite store`,
);
for (const name of names) {
  const m = median(name);
  const p99 = quantile(samples[name], 0.99);
  const extra = name === 'ungoverned' ? '' : `  ${(m / base).toFixed(3)}x (+${us(m - base)})`;
  console.log(`  ${name.padEnd(24)} median ${us(m).padStart(10)}  p99 ${us(p99).padStart(10)}${extra}`);
}
const ratio = median('governed, SQLite store') / base;
console.log(
  `  target: governed (default SQLite store) <= ${TARGET_OVERHEAD.toFixed(2)}x the ungoverned turn  ${ratio <= TARGET_OVERHEAD ? 'PASS' : 'FAIL'} (${ratio.toFixed(3)}x)`,
);
const batchedRatio = median('governed, SQLite batched') / base;
console.log(
  `  the same target with audit: { durability: 'batched' } (opt-in)  ${batchedRatio <= TARGET_OVERHEAD ? 'PASS' : 'FAIL'} (${batchedRatio.toFixed(3)}x)`,
);
