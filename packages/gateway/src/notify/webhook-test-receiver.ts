// A real webhook receiver for the notifier's tests: node:http on 127.0.0.1, every request
// checked with the Standard Webhooks library's own `Webhook.verify` and de-duplicated on
// `webhook-id`, as a careful receiver would.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One request as it arrived. */
interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  body: string;
  /** What the receiver answered. */
  status: number;
  /** Why verification refused it (standard receivers only). */
  refused?: string;
  /** A repeat of a `webhook-id` already accepted. */
  duplicate?: boolean;
}

export interface TestReceiver {
  url: string;
  port: number;
  /** Every request, in order. */
  requests: ReceivedRequest[];
  /** The accepted messages, each once (verified when the receiver has a secret). */
  accepted: Array<{ id: string | undefined; payload: unknown; headers: IncomingHttpHeaders }>;
  close(): Promise<void>;
}

export interface TestReceiverOptions {
  /** Verifies every request with this Standard Webhooks secret; none: accepts unsigned (Slack). */
  secret?: string;
  /** The statuses to answer a verified request with, in turn (0: never answer); then 200. */
  answers?: number[];
  /** Answers with this status and a `location` header (a redirect). */
  redirectTo?: string;
  /** Listens on this port (a receiver back on the port it had). */
  port?: number;
}

export async function startReceiver(options: TestReceiverOptions = {}): Promise<TestReceiver> {
  const webhook = options.secret ? new Webhook(options.secret) : undefined;
  const answers = [...(options.answers ?? [])];
  const seen = new Set<string>();
  const requests: ReceivedRequest[] = [];
  const accepted: TestReceiver['accepted'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const record: ReceivedRequest = { headers: req.headers, body, status: 200 };
      requests.push(record);
      if (options.redirectTo) {
        record.status = 302;
        res.writeHead(302, { location: options.redirectTo }).end();
        return;
      }
      let payload: unknown;
      if (webhook) {
        try {
          payload = webhook.verify(body, req.headers as Record<string, string>);
        } catch (error) {
          record.status = 401;
          record.refused = (error as Error).message;
          res.writeHead(401).end('bad signature');
          return;
        }
      } else {
        payload = JSON.parse(body);
      }
      const status = answers.shift() ?? 200;
      record.status = status;
      if (status === 0) return; // hangs until the receiver closes
      if (status >= 200 && status < 300) {
        const id = req.headers['webhook-id'] as string | undefined;
        if (id !== undefined && seen.has(id)) record.duplicate = true;
        else {
          if (id !== undefined) seen.add(id);
          accepted.push({ id, payload, headers: req.headers });
        }
      }
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hooks/meshguard`,
    port,
    requests,
    accepted,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (for a receiver that is down), free for a receiver to take later. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Waits until `check` holds, polling; fails after `timeoutMs`. */
export async function waitUntil(check: () => boolean, timeoutMs = 5000, what = 'a condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
