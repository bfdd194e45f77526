import createDebug from 'debug';
import type pg from 'pg';
import { loadPg } from './postgres-driver';

const debug = createDebug('meshguard:store');

/** The first wait before a lost LISTEN connection is opened again; it doubles up to the maximum. */
const LISTEN_RETRY_MS = 100;
const LISTEN_RETRY_MAX_MS = 5000;

export interface PostgresListenOptions {
  connectionString: string;
  /** The channel (a name of letters, digits and _, at most 63; quoted, so its case counts). */
  channel: string;
  /** Hears each notification's payload. */
  onNotify: (payload: string) => void;
  /** Called once listening again after the connection was lost: what was sent meanwhile was missed. */
  onRecovered?: () => void;
}

/**
 * Holds one connection LISTENing on a channel (the gateway state's and the audit store's
 * approvals). When it is lost (a database restart, a proxy's idle timeout, an administrator's
 * pg_terminate_backend), it is opened again with backoff. `close` ends it for good.
 */
export function listenPostgres(options: PostgresListenOptions): { close(): Promise<void> } {
  let client: pg.Client | undefined;
  let failures = 0;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const listen = (): void => {
    const current = new (loadPg().Client)({ connectionString: options.connectionString });
    client = current;
    let lost = false;
    const reconnect = (error?: unknown) => {
      if (lost) return;
      lost = true;
      current.end().catch(() => {});
      if (closed) return;
      const delay = Math.min(LISTEN_RETRY_MAX_MS, LISTEN_RETRY_MS * 2 ** failures);
      failures += 1;
      debug('LISTEN connection lost (%O), reconnecting in %d ms', error, delay);
      retry = setTimeout(() => {
        retry = undefined;
        if (!closed) listen();
      }, delay);
      retry.unref();
    };
    current.on('notification', (message) => options.onNotify(message.payload ?? ''));
    current.on('error', reconnect);
    current.on('end', () => reconnect(new Error('the connection ended')));
    current
      .connect()
      .then(() => current.query(`LISTEN "${options.channel}"`))
      .then(() => {
        if (closed || lost) return;
        const recovered = failures > 0;
        failures = 0;
        if (recovered) options.onRecovered?.();
      })
      .catch(reconnect);
  };
  listen();

  return {
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      await client?.end().catch(() => {});
    },
  };
}
