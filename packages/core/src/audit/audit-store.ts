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
 */
export interface AuditStore {
  /** `memory`, `sqlite`, `postgres`... */
  readonly kind: string;
  /** Appends in order, durably once the promise resolves; returns the stored (chained) events. */
  append(events: readonly AuditEventBody[]): Promise<AuditEvent[]>;
  /**
   * Optional: records events durably before returning, and chains and commits them behind (the
   * SQLite store writes them to a journal beside the database and commits on a worker thread; a
   * crash loses nothing, the journal is replayed when the store next opens). Throws if the events
   * could not be written. The embedded guard's durable decisions use it when a store offers it.
   * Returns a promise when commits are falling behind: await it before journaling more.
   */
  journal?(events: readonly AuditEventBody[]): Promise<void> | undefined;
  /** With `journal`: resolves once everything journaled before the call is committed. */
  drain?(): Promise<void>;
  /** With `journal`: the last background commit's failure, until one succeeds. */
  readonly journalFailure?: Error | undefined;
  query(filter: AuditFilter): Promise<AuditPage>;
  verify(): Promise<VerifyReport>;
  close(): Promise<void>;
}
