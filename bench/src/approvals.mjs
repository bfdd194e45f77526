// What a `require_approval` check costs against an `allow` check, in process, on the default
// durable guard (a SQLite store in a temp folder): the approval check opens a request (a row of its
// own, the arguments apart) and records `approval_requested` beside the decision. Rounds alternate
// the two, each round timing a batch of sequential checks; the figure is the ratio of medians.
// Target (the approvals issue): at most 2x. See README.md ("Approvals").
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGuard, parsePolicies } from '@meshguard/core';

const ROUNDS = Number(process.env.APPROVAL_BENCH_ROUNDS ?? 7);
const PER_ROUND = Number(process.env.APPROVAL_BENCH_CHECKS ?? 2_000);
const WARMUP = 1_000;

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

async function perCheckUs(guard, amount, offset, n) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const decision = await guard.check(request(amount, offset + i));
    if (amount > 100 !== (decision.effect === 'require_approval'))
      throw new Error(`unexpected ${decision.effect}`);
  }
  return Number(process.hrtime.bigint() - started) / 1e3 / n;
}

const dir = mkdtempSync(join(tmpdir(), 'mg-bench-approvals-'));
try {
  const guard = await createGuard({ policies, store: `sqlite:${join(dir, 'bench.db')}` });
  if (!guard.approvals) throw new Error('the SQLite store keeps no approvals: build @meshguard/store');
  let offset = 0;
  await perCheckUs(guard, 42.5, offset, WARMUP);
  offset += WARMUP;
  await perCheckUs(guard, 150, offset, WARMUP);
  offset += WARMUP;
  const allow = [];
  const approval = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so neither always runs on a warmer (or fuller) store.
    const order = round % 2 === 0 ? ['allow', 'approval'] : ['approval', 'allow'];
    for (const which of order) {
      const us = await perCheckUs(guard, which === 'allow' ? 42.5 : 150, offset, PER_ROUND);
      offset += PER_ROUND;
      (which === 'allow' ? allow : approval).push(us);
    }
  }
  await guard.close();
  const ratio = median(approval) / median(allow);
  console.log(`approvals: ${ROUNDS} rounds of ${PER_ROUND} sequential checks each, durable SQLite guard`);
  console.log(
    `  allow check             median ${median(allow).toFixed(1)} us  (rounds: ${allow.map((u) => u.toFixed(1)).join(', ')})`,
  );
  console.log(
    `  require_approval check  median ${median(approval).toFixed(1)} us  (rounds: ${approval.map((u) => u.toFixed(1)).join(', ')})`,
  );
  console.log(
    `  ratio require_approval / allow: ${ratio.toFixed(2)}x  (target <= 2x: ${ratio <= 2 ? 'PASS' : 'FAIL'})`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
