import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The gateway's Prometheus metrics, in a registry of its own (several gateways may share a process). */
export function createGatewayMetrics() {
  const registry = new Registry();
  const checks = new Counter({
    name: 'meshguard_checks_total',
    help: 'Checks decided, by effect.',
    labelNames: ['effect'] as const,
    registers: [registry],
  });
  const checkDuration = new Histogram({
    name: 'meshguard_check_duration_seconds',
    help: 'Time to decide and record one check.',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [registry],
  });
  const queueDepth = new Gauge({
    name: 'meshguard_audit_queue_depth',
    help: 'Audit events waiting to be committed to the store.',
    registers: [registry],
  });
  return { registry, checks, checkDuration, queueDepth };
}
