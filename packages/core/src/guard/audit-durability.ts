import type { AuditStore } from '../audit/audit-store';
import { ConfigError } from '../errors/meshguard-error';
import { type AppendBatcher, createAppendBatcher } from './append-batcher';

/**
 * When the embedded guard's decisions count as recorded.
 *
 * - `durable` (the default): a check resolves only once its decision is recorded durably; if it
 *   cannot be, the decision is a deny, and nothing runs unrecorded. With the SQLite store that is
 *   one write to the store's journal (a few microseconds): the decision is chained and committed
 *   behind on a worker thread, and a crash loses nothing (the journal is replayed when the store
 *   next opens). Other stores commit each decision before the check resolves (PostgreSQL: a round
 *   trip). While background commits fail, every check is denied.
 * - `batched`: a check resolves as soon as its decision is queued; the queue is committed every
 *   `batchMs` (default 20), many decisions in one transaction. Much cheaper per decision, at a
 *   price you must accept explicitly: an allowed action may run before its decision is on disk,
 *   and a crash loses up to `batchMs` of the trail. If a commit fails, every check is denied until
 *   one succeeds (fail closed); refused events are retried twice, then given up and logged.
 *   `query()`, `settled()` and `close()` commit the queue first; `close()` rejects with an
 *   `AuditNotRecordedError` counting (and holding) the events that were never stored.
 */
export interface AuditDurability {
  durability?: 'durable' | 'batched';
  /** `batched` only: the longest a decision waits in the queue, in milliseconds (1 to 1000). */
  batchMs?: number;
}

/** The batcher a `batched` guard queues its events in; none for a `durable` one. */
export function auditBatcher(
  store: AuditStore,
  audit: AuditDurability | undefined,
): AppendBatcher | undefined {
  const durability = audit?.durability ?? 'durable';
  if (durability !== 'durable' && durability !== 'batched') {
    throw new ConfigError(
      `audit.durability must be "durable" or "batched", not ${JSON.stringify(durability)}`,
      {
        code: 'audit_durability_invalid',
      },
    );
  }
  if (durability === 'durable') {
    if (audit?.batchMs !== undefined) {
      throw new ConfigError('audit.batchMs applies only with audit.durability "batched"', {
        code: 'audit_durability_invalid',
      });
    }
    return undefined;
  }
  const batchMs = audit?.batchMs ?? 20;
  if (!Number.isInteger(batchMs) || batchMs < 1 || batchMs > 1000) {
    throw new ConfigError(
      `audit.batchMs must be a whole number of milliseconds from 1 to 1000, not ${batchMs}`,
      {
        code: 'audit_durability_invalid',
      },
    );
  }
  return createAppendBatcher(store, batchMs);
}
