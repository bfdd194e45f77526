import { existsSync } from 'node:fs';
import {
  type AuditEvent,
  type AuditEventBody,
  type AuditFilter,
  AuditFilterSchema,
  type AuditPage,
  MeshGuardError,
  type StoreStats,
  type VerifyReport,
} from '@meshguard/core';
import { compileAuditFilter, DEFAULT_DB } from '@meshguard/core/internal';
import { readPendingEvents } from '@meshguard/store';
import { openSqliteForReading, parseStoreUrl } from '@meshguard/store/internal';
import { UsageError } from './cli-error';
import { asUsageError, openAdminClient } from './gateway-admin-client';
import { repoHint } from './repo-hints';

/** The store URL the audit commands read: `--db`, else `MESHGUARD_DB`, else the embedded default. */
export function auditDbUrl(flag: string | undefined): string {
  return flag ?? (process.env.MESHGUARD_DB?.trim() || DEFAULT_DB);
}

/** What the audit commands read: a SQLite file, or a gateway over HTTP. */
export interface AuditReader {
  readonly where: string;
  query(filter: AuditFilter): Promise<AuditPage>;
  /** Every matching event, oldest first, a page at a time. */
  iterate(filter: AuditFilter): AsyncIterable<AuditEvent>;
  latest(n: number): Promise<{ events: AuditEvent[]; cursor: string }>;
  after(cursor: string): Promise<{ events: AuditEvent[]; cursor: string }>;
  /** How many events match, when the source can tell cheaply (for a progress bar). */
  count(filter: AuditFilter): Promise<number | undefined>;
  stats(filter: AuditFilter): Promise<StoreStats>;
  verify(): Promise<VerifyReport>;
  /**
   * Events a writer journaled and has not committed (a crashed writer's, until a writer opens the
   * store and replays them), matching the filter, oldest first: shown apart, marked as pending.
   */
  pending(filter: AuditFilter): Promise<AuditEventBody[]>;
  close(): Promise<void>;
}

/** The database's trail tables were dropped: `audit verify` reports a broken trail (exit 1). */
export class TrailMissingError extends UsageError {}

export interface AuditSourceFlags {
  db?: string | undefined;
  gateway?: string | undefined;
}

/**
 * Opens what the audit commands read. With `--gateway` (or `MESHGUARD_GATEWAY_URL` and no
 * `--db`), the gateway's audit API with `MESHGUARD_ADMIN_TOKEN`; otherwise the SQLite database,
 * read-only: a query never modifies the store.
 */
export function openAuditForReading(flags: AuditSourceFlags | string | undefined): AuditReader {
  const options: AuditSourceFlags = typeof flags === 'string' || flags === undefined ? { db: flags } : flags;
  const gatewayUrl = options.gateway ?? (options.db ? undefined : process.env.MESHGUARD_GATEWAY_URL?.trim());
  if (gatewayUrl) return gatewayReader(gatewayUrl);
  return sqliteReader(auditDbUrl(options.db));
}

function sqliteReader(url: string): AuditReader {
  const location = parseStoreUrl(url);
  if (location.kind !== 'sqlite')
    throw new UsageError(
      `--db: reading "${url}" needs a gateway (--gateway); the CLI reads sqlite:<path> databases`,
    );
  if (!existsSync(location.path)) {
    const hint = repoHint(
      'pass --db, set MESHGUARD_DB, or run `pnpm demo` first to record one',
      "pass --db or set MESHGUARD_DB to your app's store, or read a gateway's trail with --gateway",
    );
    throw new UsageError(`no audit database at "${location.path}" (${hint})`);
  }
  let store: ReturnType<typeof openSqliteForReading>;
  try {
    store = openSqliteForReading(url);
  } catch (error) {
    if (MeshGuardError.isInstance(error)) {
      if (error.code === 'store_trail_missing') throw new TrailMissingError(error.message);
      throw new UsageError(error.message);
    }
    throw error;
  }
  return {
    where: location.path,
    query: (filter) => store.query(filter),
    async *iterate(filter) {
      yield* store.iterate({ ...filter, order: 'asc' });
    },
    latest: async (n) => store.latest(n),
    after: async (cursor) => store.after(cursor),
    count: async (filter) => store.count(filter),
    stats: async (filter) => store.stats(filter),
    verify: () => store.verify(),
    async pending(filter) {
      const events = readPendingEvents(location.path);
      if (events.length === 0) return [];
      const matches = compileAuditFilter(AuditFilterSchema.parse(filter));
      // The filter reads only fields a body has.
      return events.filter((body: AuditEventBody) => matches(body as AuditEvent));
    },
    close: () => store.close(),
  };
}

function gatewayReader(rawUrl: string): AuditReader {
  const url = rawUrl.replace(/\/+$/, '');
  const token = process.env.MESHGUARD_ADMIN_TOKEN?.trim();
  if (!token) throw new UsageError(`reading the audit trail at ${url} needs MESHGUARD_ADMIN_TOKEN`);
  const client = openAdminClient(url, token, 30_000);
  const read = <T>(call: Promise<T>): Promise<T> =>
    call.catch((error: unknown) => {
      throw asUsageError(error);
    });
  return {
    where: url,
    query: (filter) => read(client.queryAudit(filter)),
    async *iterate(filter) {
      let cursor: string | undefined;
      do {
        const page = await read(client.queryAudit({ ...filter, order: 'asc', limit: 1000, cursor }));
        yield* page.events;
        cursor = page.nextCursor;
      } while (cursor);
    },
    latest: (n) => read(client.tailAudit({ lines: n })),
    after: (cursor) => read(client.tailAudit({ after: cursor })),
    count: async () => undefined,
    stats: (filter) => read(client.auditStats({ since: filter.since, until: filter.until })),
    verify: () => read(client.verifyAudit()),
    // A gateway is a live writer: it replayed the journals left behind when it opened its store.
    pending: async () => [],
    close: async () => {},
  };
}
