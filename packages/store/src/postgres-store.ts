import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  type AuditEvent,
  type AuditFilter,
  ConfigError,
  createRedactor,
  type FollowingStore,
  MeshGuardError,
  type NotifyingApprovalStore,
  type StatsStore,
  type StoreStats,
} from '@meshguard/core';
import createDebug from 'debug';
import { enqueueAppend } from './append-batch';
import { openPostgresAppender } from './postgres-append';
import { postgresApprovals } from './postgres-approvals';
import { loadPg } from './postgres-driver';
import { postgresQueries } from './postgres-query';
import { preparePostgresSchema, quoteSchema } from './postgres-schema';
import { readUrl } from './postgres-url';
import { verifyPostgres } from './postgres-verify';

const debug = createDebug('meshguard:store');

export interface PostgresStoreOptions {
  /**
   * The writer stream's name. Default: one per process (`<host>-<pid>-<random>`), so gateway
   * replicas never wait on each other. Writers that do share a stream serialize on its head row.
   */
  stream?: string;
  /** The PostgreSQL schema holding the tables (default `?schema=` in the URL, else `meshguard`). */
  schema?: string;
  /** Open without writing and without creating anything: queries and verification only. */
  readonly?: boolean;
  /** Key words to redact (see core's `createRedactor`); default: core's list. */
  redactKeys?: readonly string[];
  /** Connections in the pool (default 10). Appends use one at a time; queries the others. */
  poolSize?: number;
  /** Rows per round trip when `verify()` and `iterate()` page through the trail (default 2,000). */
  pageSize?: number;
}

/**
 * The PostgreSQL store. Open for writing, it keeps approval requests and tells of their changes
 * on any replica (core's `NotifyingApprovalStore`).
 */
export interface PostgresAuditStore extends FollowingStore, StatsStore, NotifyingApprovalStore {
  readonly kind: 'postgres';
  readonly schema: string;
  readonly stream: string;
  /** Streams events in stored order (the filter's `order`), a page at a time (export). */
  iterate(filter?: AuditFilter): AsyncIterableIterator<AuditEvent>;
  /**
   * Events recorded after a position, and the position to ask from next time (`audit tail -f`).
   * Without a cursor, starts at the end. An event committed late by a slow writer is still
   * returned: positions follow committed transactions, not the order rows were numbered in.
   */
  after(cursor: string | undefined, limit?: number): Promise<{ events: AuditEvent[]; cursor: string }>;
  /** The newest `n` events (oldest first) and the cursor to follow from with `after`. */
  latest(n: number): Promise<{ events: AuditEvent[]; cursor: string }>;
  /** How many events match. */
  count(filter?: AuditFilter): Promise<number>;
  /** Counts by decision, action and agent (`meshguard audit stats`). */
  stats(filter?: AuditFilter): Promise<StoreStats>;
}

let processStream: string | undefined;
/** One stream per process by default: replicas on one database never contend for a head. */
function defaultStream(): string {
  processStream ??= `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  return processStream;
}

/**
 * The audit store for several gateway replicas on one PostgreSQL database: every acknowledged
 * append committed before its promise resolves, appends of the same moment grouped into one
 * transaction, a hash chain per writer stream (its head row locked while a batch is chained),
 * idempotent by event id, redaction with a salt kept in the database.
 *
 * @example
 * const store = await openPostgresStore('postgres://meshguard@db:5432/meshguard', { schema: 'audit' });
 * const guard = await createGuard({ policies: 'policies/', store });
 */
export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<PostgresAuditStore> {
  const target = readUrl(url);
  const schema = options.schema ?? target.schema ?? 'meshguard';
  const s = quoteSchema(schema);
  const readonly = options.readonly ?? false;
  const stream = options.stream ?? defaultStream();
  if (stream === '' || stream.includes('\u0000')) {
    throw new ConfigError('the stream name is empty or holds a NUL character', { code: 'store_url_invalid' });
  }
  const pageSize = options.pageSize ?? 2000;
  const pool = new (loadPg().Pool)({
    connectionString: target.connectionString,
    max: options.poolSize ?? 10,
    application_name: 'meshguard',
    // An unreachable server fails appends after 10 s instead of leaving them waiting forever.
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
  });
  // An idle connection the server drops must not crash the process; the next query reconnects.
  pool.on('error', (error) => debug('idle PostgreSQL connection failed: %O', error));

  let salt: string;
  try {
    salt = await preparePostgresSchema(pool, schema, { readonly, where: target.where });
  } catch (error) {
    await pool.end().catch(() => {});
    if (MeshGuardError.isInstance(error)) throw error;
    throw new ConfigError(`cannot open the audit store at ${target.where}: ${(error as Error).message}`, {
      code: 'store_unavailable',
      cause: error,
    });
  }
  const redact = createRedactor({ keys: options.redactKeys, salt });
  const appender = readonly ? undefined : openPostgresAppender(pool, { schema, s, stream, redact });
  let closed = false;
  const approvals = postgresApprovals(pool, {
    s,
    schema,
    connectionString: target.connectionString,
    state: () => ({ closed, readonly }),
  });

  return {
    kind: 'postgres',
    schema,
    stream,
    append(bodies) {
      return enqueueAppend(bodies, { closed, readonly }, (pending) => appender!.add(pending));
    },
    ...postgresQueries(pool, s, pageSize),
    ...approvals.approvals,
    async verify() {
      const client = await pool.connect();
      let failed = false;
      try {
        return await verifyPostgres(client, s, pageSize);
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        client.release(failed);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await approvals.close();
      await appender?.idle();
      await pool.end();
    },
  };
}
