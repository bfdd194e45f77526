// Timing harness. One decision takes well under a microsecond, below what a timer call can
// resolve, so a sample times a batch of decisions and divides: a sample is one per-decision
// figure, and the median and p99 are taken over many samples.

/** Forces a full collection between scenarios when node runs with --expose-gc. */
export function collectGarbage() {
  if (typeof globalThis.gc === 'function') globalThis.gc();
}

/**
 * Times `run(batch)` (which makes `batch` decisions) repeatedly.
 *
 * @param {(batch: number) => number} run makes `batch` decisions and returns a number derived
 *   from them, so the work cannot be optimised away.
 * @param {{ batch: number, warmupMs: number, minSamples: number, maxSamples: number, budgetMs: number }} options
 * @returns {{ samples: number, batch: number, medianNs: number, p99Ns: number, meanNs: number, sink: number }}
 */
export function measure(run, options) {
  const { batch, warmupMs, minSamples, maxSamples, budgetMs } = options;
  let sink = 0;
  // Warm-up: let the JIT compile and optimise the hot path, fill the engine's action cache.
  const warmupEnd = performance.now() + warmupMs;
  while (performance.now() < warmupEnd) sink += run(batch);
  collectGarbage();

  const perDecision = [];
  const end = performance.now() + budgetMs;
  while (perDecision.length < maxSamples && (perDecision.length < minSamples || performance.now() < end)) {
    const start = process.hrtime.bigint();
    sink += run(batch);
    const elapsed = process.hrtime.bigint() - start;
    perDecision.push(Number(elapsed) / batch);
  }
  perDecision.sort((a, b) => a - b);
  const mean = perDecision.reduce((sum, x) => sum + x, 0) / perDecision.length;
  return {
    samples: perDecision.length,
    batch,
    medianNs: quantile(perDecision, 0.5),
    p99Ns: quantile(perDecision, 0.99),
    meanNs: mean,
    sink,
  };
}

/** Quantile of sorted values, linear interpolation between closest ranks. */
export function quantile(sorted, q) {
  if (sorted.length === 0) return Number.NaN;
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}
