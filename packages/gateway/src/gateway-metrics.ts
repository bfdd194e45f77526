import type { AuditEventBody, AuditStore } from '@meshguard/core';
import { canJournal, wrapAuditStore } from '@meshguard/core/internal';
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
  // Read when scraped: what the store counted by `countingAuditStore` says is waiting.
  let auditQueue = (): number => 0;
  new Gauge({
    name: 'meshguard_audit_queue_depth',
    help: 'Audit events waiting to be committed to the store: appends in flight, and events journaled and not yet committed.',
    registers: [registry],
    collect() {
      this.set(auditQueue());
    },
  });
  return {
    registry,
    checks,
    checkDuration,
    /** Where `meshguard_audit_queue_depth` is read from. */
    watchAuditQueue(depth: () => number) {
      auditQueue = depth;
    },
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;

/**
 * The gateway's store: `store` with every capability it has (its journal above all: on SQLite the
 * gateway's decisions are journaled and committed behind), and what waits to be committed counted
 * for `meshguard_audit_queue_depth`: the events of appends in flight, plus the journal's backlog.
 */
export function countingAuditStore(store: AuditStore, metrics: Pick<GatewayMetrics, 'watchAuditQueue'>) {
  let appending = 0;
  metrics.watchAuditQueue(() => appending + (canJournal(store) ? store.journalBacklog : 0));
  return wrapAuditStore(store, {
    async append(events: readonly AuditEventBody[]) {
      appending += events.length;
      try {
        return await store.append(events);
      } finally {
        appending -= events.length;
      }
    },
  });
}
