// Governance overhead per tool-calling turn in the real OpenAI Agents Runner: the same agent,
// ungoverned and governed with the embedded guard (seed policy, SQLite audit store), runs
// interleaved in one process. A lean scripted model answers with a function call for each of
// K turns, then a message, so the figure is the Runner's own per-turn cost plus MeshGuard's.
// Each sample is a block of runs whose time includes settling the guard at its end (the batch it
// queued, the journal a worker commits): deferred work is charged to the block that caused it,
// not to whichever variant's run it lands in.
// Run with `pnpm bench` (builds first) or `pnpm --filter @meshguard/bench bench:openai`.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createGuard, parsePolicies } from '@meshguard/core';
import { governAgent } from '@meshguard/openai-agents';
import {
  Agent,
  defineToolInputGuardrail,
  defineToolOutputGuardrail,
  Runner,
  tool,
  Usage,
  ToolGuardrailFunctionOutputFactory as Verdict,
} from '@openai/agents';
import { z } from 'zod';
import { quantile } from './harness.mjs';

const quick = process.argv.includes('--quick');
const TURNS = 10; // tool-calling turns per run
const BLOCK_RUNS = 20; // runs per timed block (about 40 ms)
const WARMUP_BLOCKS = quick ? 2 : 5;
const BLOCKS = quick ? 5 : 30;
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
// The default embedded store (SQLite: every decision in its journal before the tool runs, committed
// by a worker thread), and an in-memory store (chained on this thread, no disk) for comparison.
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
// The SDK's own tool guardrails with nothing behind them: what any hook costs.
const pass = defineToolInputGuardrail({ name: 'pass', run: async () => Verdict.allow() });
const passOut = defineToolOutputGuardrail({ name: 'pass-out', run: async () => Verdict.allow() });
const hooked = new Agent({
  name: 'Customer Support Agent',
  instructions: 'Refunds.',
  model,
  tools: [{ ...refund, inputGuardrails: [pass], outputGuardrails: [passOut] }],
});
// Each governed variant with its guard, settled at the end of each timed block.
const variants = {
  ungoverned: { agent: plain },
  'SDK guardrails only': { agent: hooked },
  'hooks only (no-op guard)': { agent: governAgent(plain, governance(noopGuard)) },
  'governed, SQLite store': { agent: governAgent(plain, governance(sqliteGuard)), guard: sqliteGuard },
  'governed, SQLite batched': { agent: governAgent(plain, governance(batchedGuard)), guard: batchedGuard },
  'governed, memory store': { agent: governAgent(plain, governance(memoryGuard)), guard: memoryGuard },
};
const runner = new Runner({ tracingDisabled: true });

/**
 * Time per turn over a block of runs, the guard's deferred work settled at the block's end: what
 * the runs cost, with the commits they caused (on this thread or a worker's) finished.
 */
async function timeBlock({ agent, guard }) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < BLOCK_RUNS; i++) {
    const result = await runner.run(agent, 'Refund ten orders', { maxTurns: TURNS + 1 });
    if (result.finalOutput !== 'Done.') throw new Error(`unexpected output: ${result.finalOutput}`);
  }
  await guard?.settled();
  return Number(process.hrtime.bigint() - start) / (BLOCK_RUNS * TURNS);
}

const names = Object.keys(variants);
for (let i = 0; i < WARMUP_BLOCKS; i++) for (const name of names) await timeBlock(variants[name]);
const samples = Object.fromEntries(names.map((name) => [name, []]));
for (let i = 0; i < BLOCKS; i++) {
  // Rotate which goes first, so drift (GC, JIT, the store growing) falls on all alike.
  for (let k = 0; k < names.length; k++) {
    const name = names[(i + k) % names.length];
    samples[name].push(await timeBlock(variants[name]));
  }
}
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
const mean = (name) => samples[name].reduce((sum, t) => sum + t, 0) / samples[name].length;
const base = median('ungoverned');
const baseMean = mean('ungoverned');
console.log(
  `\nOpenAI Agents SDK: time per tool-calling turn in the real Runner (${TURNS} turns per run; ${BLOCKS} blocks of ${BLOCK_RUNS} runs each)`,
);
console.log(
  `node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}; embedded guard, seed policy; ${events} events in the SQLite store`,
);
for (const name of names) {
  const m = median(name);
  const p99 = quantile(samples[name], 0.99);
  const extra =
    name === 'ungoverned'
      ? ''
      : `  ${(m / base).toFixed(3)}x (+${us(m - base)}); mean ${(mean(name) / baseMean).toFixed(3)}x`;
  console.log(`  ${name.padEnd(26)} median ${us(m).padStart(10)}  p99 ${us(p99).padStart(10)}${extra}`);
}
const verdict = (name, label) => {
  const ratio = median(name) / base;
  console.log(
    `  ${label} <= ${TARGET_OVERHEAD.toFixed(2)}x the ungoverned turn (median)  ${ratio <= TARGET_OVERHEAD ? 'PASS' : 'FAIL'} (${ratio.toFixed(3)}x; mean ${(mean(name) / baseMean).toFixed(3)}x)`,
  );
};
verdict('governed, SQLite store', 'target: governed (default SQLite store)');
verdict('governed, SQLite batched', "the same target with audit: { durability: 'batched' } (opt-in)");
