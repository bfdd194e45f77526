import type { ApprovalRequest } from '../protocol/approval';
import type { AuditEvent, AuditEventBody } from '../protocol/audit-event';
import type { AuditFilter } from '../protocol/audit-filter';
import type { VerifyReport } from './audit-chain';

/** One page of a query; pass `nextCursor` back as `cursor` for the next page. */
export interface AuditPage {
  events: AuditEvent[];
  nextCursor?: string;
}

/**
 * Where the audit trail lives. Every store redacts contexts, chains events per writer stream and
 * ignores an event whose id it already holds (a retried append never duplicates). The SQLite and
 * PostgreSQL stores of `@meshguard/store` and the in-memory store here all pass one test suite.
 *
 * What only some stores can do is a capability of its own (`JournalingStore`, `FollowingStore`,
 * `StatsStore`), asked with its guard (`canJournal`...). A store that stands in front of another
 * keeps them all with `wrapAuditStore`.
 */
export interface AuditStore {
  /** `memory`, `sqlite`, `postgres`... */
  readonly kind: string;
  /** Appends in order, durably once the promise resolves; returns the stored (chained) events. */
  append(events: readonly AuditEventBody[]): Promise<AuditEvent[]>;
  query(filter: AuditFilter): Promise<AuditPage>;
  verify(): Promise<VerifyReport>;
  close(): Promise<void>;
}

/**
 * A store that records events durably before returning, and chains and commits them behind (the
 * SQLite store writes them to a journal beside the database and commits on a worker thread; a
 * crash loses nothing, the journal is replayed when the store next opens). The embedded guard's
 * durable decisions use it when a store offers it.
 */
export interface JournalingStore extends AuditStore {
  /**
   * Writes the events durably; throws if they could not be written. Returns a promise when
   * commits are falling behind: await it before journaling more.
   *
   * `approvals`: the approval requests these events open (a store that also keeps approvals,
   * `ApprovalStore`; the guard opens its requests this way). The store keeps each request and
   * records its `approval_requested` event (`approvalRequestedBody`) after the events: one write,
   * committed in one transaction, so a request is never stored without its events or recorded
   * twice.
   */
  journal(
    events: readonly AuditEventBody[],
    approvals?: readonly ApprovalRequest[],
  ): Promise<void> | undefined;
  /** Resolves once everything journaled before the call is committed. */
  drain(): Promise<void>;
  /** The last background commit's failure, until one succeeds. */
  readonly journalFailure: Error | undefined;
  /** How many journaled events are not committed yet. */
  readonly journalBacklog: number;
}

/** Whether `store` journals (see `JournalingStore`). */
export function canJournal(store: AuditStore): store is JournalingStore {
  return typeof (store as Partial<JournalingStore>).journal === 'function';
}

/** Where a reader of the trail is, and the events it has not seen yet. */
export interface TrailPosition {
  events: AuditEvent[];
  /** Pass it to `after` to follow on from here. */
  cursor: string;
}

/** A store that can follow the trail as it grows (`meshguard audit tail -f`). */
export interface FollowingStore extends AuditStore {
  /**
   * Events recorded after a position (oldest first), and the position to ask from next time,
   * whatever the events' own timestamps say. Without a cursor, starts after the newest event.
   */
  after(cursor: string | undefined, limit?: number): TrailPosition | Promise<TrailPosition>;
  /** The newest `n` events (oldest first) and the cursor to follow from with `after`. */
  latest(n: number): TrailPosition | Promise<TrailPosition>;
}

/** Whether `store` can follow the trail (see `FollowingStore`). */
export function canFollow(store: AuditStore): store is FollowingStore {
  const following = store as Partial<FollowingStore>;
  return typeof following.after === 'function' && typeof following.latest === 'function';
}

/** Counts of the events that match a filter, in all and by key. */
export interface StoreStats {
  total: number;
  byEffect: Array<{ key: string; count: number }>;
  byAction: Array<{ key: string; count: number }>;
  byAgent: Array<{ key: string; count: number }>;
  byType: Array<{ key: string; count: number }>;
}

/** A store that counts events by decision, action and agent (`meshguard audit stats`). */
export interface StatsStore extends AuditStore {
  stats(filter?: AuditFilter): StoreStats | Promise<StoreStats>;
}

/** Whether `store` counts events (see `StatsStore`). */
export function canReportStats(store: AuditStore): store is StatsStore {
  return typeof (store as Partial<StatsStore>).stats === 'function';
}
