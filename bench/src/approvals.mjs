// What a `require_approval` check costs against an `allow` check, in process, on the default
// durable guard (a SQLite store in a temp folder): the approval check opens a request (its
// arguments kept apart from the trail) and the store records `approval_requested` beside the
// decision, all in the decision's one journal write.
//
// The figure is what the agent's thread pays per check, recording included (the journal write that
// makes the decision durable before the check resolves). Checks come in batches of 10, allow and
// approval batches alternating; before each batch the guard settles (the worker commits what came
// before), as it does between an agent's tool calls, which a model call separates. A loop that
// never yields instead measures the worker's backlog (see README.md). Each run is the ratio of the
// medians of its batches; three runs. Also reported: CPU per check over all threads (the commit on
// the worker included), which is what a busy machine pays.
// Target (the approvals issue): at most 2x. See README.md ("Approvals").
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGuard, parsePolicies } from '@meshguard/core';

const RUNS = Number(process.env.APPROVAL_BENCH_RUNS ?? 3);
const BATCHES = Number(process.env.APPROVAL_BENCH_BATCHES ?? 600);
const BATCH = 10;
const WARMUP_BATCHES = 100;

const policies = parsePolicies(`
name: refunds
version: "1"
rules:
  - id: big-refunds
    effect: require_approval
    actions: ["write:refund"]
    conditions: { amount_min: 100.01 }
    reason: Refunds over $100 need a manager
    approval: { expiresIn: 30m, approvers: [finance] }
  - effect: allow
    actions: ["write:refund"]
`);
const agent = { id: 'support-bot', name: 'Support Bot', tags: ['support'], tier: 'verified' };
const request = (amount, i) => ({
  action: 'write:refund',
  agent,
  context: { amount, order: `A-${i}`, customer: { id: `c-${i % 97}`, email: `c${i}@example.com` } },
  traceId: `trace_${String(i).padStart(32, '0')}`,
  framework: 'openai-agents',
  kind: 'tool',
});

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

const dir = mkdtempSync(join(tmpdir(), 'mg-bench-approvals-'));
try {
  const guard = await createGuard({ policies, store: `sqlite:${join(dir, 'bench.db')}` });
  if (!guard.approvals) throw new Error('the SQLite store keeps no approvals: build @meshguard/store');
  let n = 0;
  /** One batch: the agent's thread's time per check, and CPU per check over all threads. */
  const batch = async (amount) => {
    await guard.settled();
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) {
      const decision = await guard.check(request(amount, n++));
      if (amount > 100 !== (decision.effect === 'require_approval'))
        throw new Error(`unexpected ${decision.effect}`);
    }
    const us = Number(process.hrtime.bigint() - started) / 1e3 / BATCH;
    await guard.settled();
    const used = process.cpuUsage(cpu);
    return { us, cpu: (used.user + used.system) / BATCH };
  };
  for (let i = 0; i < WARMUP_BATCHES; i++) {
    await batch(42.5);
    await batch(150);
  }
  console.log(
    `approvals: ${RUNS} runs of ${BATCHES} batches of ${BATCH} checks of each kind, alternating, durable SQLite guard`,
  );
  const ratios = [];
  for (let run = 1; run <= RUNS; run++) {
    const allow = [];
    const approval = [];
    for (let i = 0; i < BATCHES; i++) {
      // Alternate which goes first, so neither always runs on a fuller store.
      const order = i % 2 === 0 ? [42.5, 150] : [150, 42.5];
      for (const amount of order) (amount > 100 ? approval : allow).push(await batch(amount));
    }
    const a = median(allow.map((b) => b.us));
    const r = median(approval.map((b) => b.us));
    const cpuA = median(allow.map((b) => b.cpu));
    const cpuR = median(approval.map((b) => b.cpu));
    ratios.push(r / a);
    console.log(
      `  run ${run}: allow ${a.toFixed(1)} us, require_approval ${r.toFixed(1)} us: ${(r / a).toFixed(2)}x` +
        `  (CPU, all threads: ${cpuA.toFixed(0)} vs ${cpuR.toFixed(0)} us, ${(cpuR / cpuA).toFixed(2)}x)`,
    );
  }
  await guard.close();
  const worst = Math.max(...ratios);
  console.log(
    `  ratio require_approval / allow, worst run: ${worst.toFixed(2)}x  (target <= 2x: ${worst <= 2 ? 'PASS' : 'FAIL'})`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
