// MeshGuard decision latency: the engine alone at 10, 1,000 and 10,000 rules, and the seed policy
// against cedar-wasm in the same process. Run with `pnpm bench` (builds core first).

import { readFileSync } from 'node:fs';
import os from 'node:os';
import {
  getCedarLangVersion,
  getCedarSDKVersion,
  preparsePolicySet,
  statefulIsAuthorized,
} from '@cedar-policy/cedar-wasm/nodejs';
import { createPolicyEngine } from '@meshguard/core';
import { collectGarbage, measure } from './harness.mjs';
import { buildSeedRequests, loadSeed, SEED_CEDAR } from './seed.mjs';
import { buildPolicies, buildRequests, buildUncachedRequests, RULES_PER_POLICY } from './synthetic.mjs';

const quick = process.argv.includes('--quick');

const TARGET_MEDIAN_NS = 500;
const TARGET_SCALING = 1.5;
const TARGET_CEDAR_RATIO = 80;

const MESHGUARD_TIMING = quick
  ? { batch: 1000, warmupMs: 200, minSamples: 200, maxSamples: 2000, budgetMs: 300 }
  : { batch: 1000, warmupMs: 1500, minSamples: 2000, maxSamples: 20_000, budgetMs: 3000 };
const UNCACHED_TIMING = quick
  ? { batch: 100, warmupMs: 200, minSamples: 100, maxSamples: 1000, budgetMs: 300 }
  : { batch: 100, warmupMs: 1000, minSamples: 500, maxSamples: 10_000, budgetMs: 2000 };
const CEDAR_TIMING = quick
  ? { batch: 100, warmupMs: 200, minSamples: 50, maxSamples: 500, budgetMs: 300 }
  : { batch: 100, warmupMs: 1500, minSamples: 300, maxSamples: 5000, budgetMs: 3000 };

// A clock that runs in real time from a fixed Wednesday 10:30 UTC, so that the seed's
// `time_range: "09:00-18:00"` gives the same answer whenever the bench runs, while ids and
// timestamps still advance as in production.
const CLOCK_BASE = Date.UTC(2025, 5, 4, 10, 30);
const startedAt = Date.now();
const clock = () => CLOCK_BASE + (Date.now() - startedAt);

function engineRunner(engine, requests) {
  const n = requests.length;
  let i = 0;
  return (batch) => {
    let acc = 0;
    for (let k = 0; k < batch; k++) {
      const decision = engine.decide(requests[i]);
      if (++i === n) i = 0;
      // Reading a character makes V8 lay out the id string (it may be built lazily, as a rope).
      acc += decision.decisionId.charCodeAt(35) + (decision.allowed ? 1 : 0);
    }
    return acc;
  };
}

function cedarRunner(calls) {
  const n = calls.length;
  let i = 0;
  return (batch) => {
    let acc = 0;
    for (let k = 0; k < batch; k++) {
      const answer = statefulIsAuthorized(calls[i]);
      if (++i === n) i = 0;
      acc += answer.type === 'success' && answer.response.decision === 'allow' ? 1 : 0;
    }
    return acc;
  };
}

/** Share of each outcome over one pass of the request mix, e.g. `allow 50%, deny 30%, ...`. */
function outcomeMix(engine, requests) {
  const counts = { allow: 0, 'deny (rule)': 0, require_approval: 0, 'deny (default)': 0 };
  for (const request of requests) {
    const d = engine.decide(request);
    if (d.effect === 'deny')
      counts[d.reason.includes('denied by default') ? 'deny (default)' : 'deny (rule)']++;
    else counts[d.effect]++;
  }
  return Object.entries(counts)
    .map(([k, v]) => `${k} ${Math.round((100 * v) / requests.length)}%`)
    .join(', ');
}

function assertOk(condition, message) {
  if (!condition) {
    console.error(`bench setup check failed: ${message}`);
    process.exit(1);
  }
}

function cpuModel() {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) return line.split(':')[1].trim();
  } catch {
    // not Linux: fall back to what os reports
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

console.log('MeshGuard policy engine benchmark');
console.log(
  `CPU: ${cpuModel()} (${os.availableParallelism()} cores), Node ${process.version}, ` +
    `@cedar-policy/cedar-wasm ${getCedarSDKVersion()} (Cedar language ${getCedarLangVersion()})` +
    `${quick ? ' [--quick: short runs, figures are rough]' : ''}`,
);
if (typeof globalThis.gc !== 'function')
  console.log('note: run with --expose-gc for a collection between scenarios');
console.log('');

const rows = [];

// 1. Engine only, by rule count.
for (const totalRules of [10, 1_000, 10_000]) {
  const set = buildPolicies(totalRules);
  const engine = createPolicyEngine(set.policies, { clock });
  const requests = buildRequests(set.policyCount, Math.min(RULES_PER_POLICY, totalRules));
  const mix = outcomeMix(engine, requests);
  collectGarbage();
  const result = measure(engineRunner(engine, requests), MESHGUARD_TIMING);
  rows.push({
    name: `MeshGuard, ${totalRules.toLocaleString('en-US')} rules`,
    detail: `${set.policyCount} ${set.policyCount === 1 ? 'policy' : 'policies'}, ${set.wildcardRules} wildcard rules; ${requests.length} requests: ${mix}`,
    rules: totalRules,
    ...result,
  });
  if (totalRules === 10_000) {
    // Not a target: the cost of an action the engine has not seen yet (or no longer caches).
    const fresh = buildUncachedRequests(set.policyCount, 100_000);
    collectGarbage();
    const uncached = measure(engineRunner(engine, fresh), UNCACHED_TIMING);
    rows.push({
      name: 'MeshGuard, 10,000 rules, new action each time',
      detail: `${fresh.length.toLocaleString('en-US')} distinct actions, cache of 10,000 actions: every decision scans the ${set.wildcardRules} wildcard rules (informational, no target)`,
      informational: true,
      ...uncached,
    });
  }
}

// 2. The seed policy: MeshGuard and Cedar, same requests, same process.
const seedEngine = createPolicyEngine(loadSeed(), { clock });
const now = new Date(clock());
const seedRequests = buildSeedRequests(now.getUTCHours() * 60 + now.getUTCMinutes());
const prepared = preparsePolicySet('openai-support', { staticPolicies: SEED_CEDAR });
assertOk(prepared.type === 'success', `Cedar could not parse the seed: ${JSON.stringify(prepared)}`);
for (const r of seedRequests) {
  const label = `${r.meshguard.agent.name} ${r.meshguard.action} ${JSON.stringify(r.meshguard.context)}`;
  const mine = seedEngine.decide(r.meshguard);
  assertOk(
    mine.allowed === r.expected,
    `MeshGuard ${label}: allowed ${mine.allowed}, expected ${r.expected}`,
  );
  const theirs = statefulIsAuthorized(r.cedar);
  assertOk(theirs.type === 'success', `Cedar ${label}: ${JSON.stringify(theirs)}`);
  assertOk(
    theirs.response.diagnostics.errors.length === 0,
    `Cedar ${label}: ${JSON.stringify(theirs.response.diagnostics.errors)}`,
  );
  assertOk(
    (theirs.response.decision === 'allow') === r.expected,
    `Cedar ${label}: ${theirs.response.decision}, expected ${r.expected ? 'allow' : 'deny'}`,
  );
}
const allowedCount = seedRequests.filter((r) => r.expected).length;
const seedDetail = `${seedRequests.length} requests (${allowedCount} allow, ${seedRequests.length - allowedCount} deny), same answers from both`;

collectGarbage();
const seedResult = measure(
  engineRunner(
    seedEngine,
    seedRequests.map((r) => r.meshguard),
  ),
  MESHGUARD_TIMING,
);
rows.push({ name: 'MeshGuard, seed policy', detail: seedDetail, ...seedResult });
collectGarbage();
const cedarResult = measure(cedarRunner(seedRequests.map((r) => r.cedar)), CEDAR_TIMING);
rows.push({
  name: 'cedar-wasm, seed policy',
  detail: `statefulIsAuthorized on a preparsed policy set`,
  ...cedarResult,
});

// 3. Report.
const fmt = (ns) => (ns >= 10_000 ? `${(ns / 1000).toFixed(1)} µs` : `${Math.round(ns)} ns`);
const table = [['Scenario', 'median/decision', 'p99/decision', 'samples x batch']];
for (const row of rows) {
  table.push([row.name, fmt(row.medianNs), fmt(row.p99Ns), `${row.samples} x ${row.batch}`]);
}
printTable(table);
console.log('');
for (const row of rows) console.log(`  ${row.name}: ${row.detail}`);
console.log('');

const byRules = (n) => rows.find((r) => r.rules === n);
const engineRows = rows.filter((r) => r.name.startsWith('MeshGuard') && !r.informational);
const slowest = engineRows.reduce((a, b) => (b.medianNs > a.medianNs ? b : a));
const scaling = byRules(10_000).medianNs / byRules(10).medianNs;
const speedup = cedarResult.medianNs / seedResult.medianNs;
const targets = [
  ['Target', 'Measured', 'Result'],
  [
    `median <= ${TARGET_MEDIAN_NS} ns per decision (every MeshGuard row)`,
    `worst ${fmt(slowest.medianNs)} (${slowest.name})`,
    slowest.medianNs <= TARGET_MEDIAN_NS ? 'PASS' : 'FAIL',
  ],
  [
    `10,000-rule median <= ${TARGET_SCALING}x 10-rule median`,
    `${scaling.toFixed(2)}x (${fmt(byRules(10_000).medianNs)} / ${fmt(byRules(10).medianNs)})`,
    scaling <= TARGET_SCALING ? 'PASS' : 'FAIL',
  ],
  [
    `MeshGuard >= ${TARGET_CEDAR_RATIO}x faster than cedar-wasm (seed, medians)`,
    `${speedup.toFixed(0)}x (${fmt(cedarResult.medianNs)} / ${fmt(seedResult.medianNs)})`,
    speedup >= TARGET_CEDAR_RATIO ? 'PASS' : 'FAIL',
  ],
];
printTable(targets);
if (rows.reduce((s, r) => s + r.sink, 0) === 0) console.log('(sink is zero: nothing was decided?)');

function printTable(cells) {
  const widths = cells[0].map((_, c) => Math.max(...cells.map((row) => row[c].length)));
  const line = (row) =>
    `| ${row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join(' | ')} |`;
  console.log(line(cells[0]));
  console.log(
    `|${widths.map((w, c) => (c === 0 ? ':' : '-') + '-'.repeat(w) + (c === 0 ? '-' : ':')).join('|')}|`,
  );
  for (const row of cells.slice(1)) console.log(line(row));
}
