import { type AuditEvent, type AuditEventBody, MeshGuardError } from '@meshguard/core';
import createDebug from 'debug';

const debug = createDebug('meshguard:store');

/**
 * One caller's events waiting for the next batch: both stores gather the appends of a moment and
 * commit them in one transaction (group commit).
 */
export interface PendingAppend {
  bodies: readonly AuditEventBody[];
  resolve: (events: AuditEvent[]) => void;
  reject: (error: unknown) => void;
}

/** Queues one caller's events with `add`, or refuses them when the store cannot take any. */
export function enqueueAppend(
  bodies: readonly AuditEventBody[],
  state: { closed: boolean; readonly: boolean },
  add: (pending: PendingAppend) => void,
): Promise<AuditEvent[]> {
  if (state.closed)
    return Promise.reject(new MeshGuardError('the audit store is closed', { code: 'store_closed' }));
  if (state.readonly) {
    return Promise.reject(
      new MeshGuardError('the audit store is open read-only', { code: 'store_readonly' }),
    );
  }
  if (bodies.length === 0) return Promise.resolve([]);
  return new Promise<AuditEvent[]>((resolve, reject) => add({ bodies, resolve, reject }));
}

/** Answers each caller of a committed batch: its stored events, or why its own were refused. */
export function settleBatch(
  batch: readonly PendingAppend[],
  results: ReadonlyArray<AuditEvent[] | Error>,
): void {
  batch.forEach((p, i) => {
    const result = results[i]!;
    if (result instanceof Error) {
      p.reject(
        new MeshGuardError(`the audit store could not record an event: ${result.message}`, {
          code: 'store_event_invalid',
          cause: result,
        }),
      );
    } else {
      p.resolve(result);
    }
  });
}

/** Fails every caller of a batch the store itself could not write. */
export function failBatch(batch: readonly PendingAppend[], error: unknown): void {
  debug('append failed: %O', error);
  const wrapped = new MeshGuardError(`the audit store could not append: ${(error as Error).message}`, {
    code: 'store_write_failed',
    cause: error,
  });
  for (const p of batch) p.reject(wrapped);
}
