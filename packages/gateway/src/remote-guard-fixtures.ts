// What the remote guard tests share: a real gateway on a real SQLite file, agent tokens, real
// HTTP servers on 127.0.0.1 that misbehave on purpose, and cleanup after each test.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type RequestListener } from 'node:http';
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AuditStore,
  createRemoteGuard,
  type RemoteGuard,
  type RemoteGuardOptions,
} from '@meshguard/core';
import { openSqliteGatewayState, openSqliteStore } from '@meshguard/store';
import { afterEach } from 'vitest';
import { createGateway, type Gateway, type GatewayOptions } from './gateway-app';

export const ADMIN = 'admin-token-for-tests-0123456789';
export const POLICY = {
  name: 'support.yaml',
  text: 'name: support\nversion: "1"\nappliesTo: { tags: [support] }\nrules:\n  - effect: allow\n    actions: ["read:*", "write:email"]\n',
};
/** The agent a check names (the gateway takes the token's instead). */
export const agent = { id: 'ignored', name: 'ignored', tags: [], tier: 'basic' as const };

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
export const later = (cleanup: () => Promise<void> | void) => cleanups.push(cleanup);

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshguard-remote-'));
  later(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A gateway on a SQLite file in `dir`; `wrap` may stand between it and its store. */
export async function gatewayOn(dir: string, wrap?: (store: AuditStore) => AuditStore, port = 0) {
  const store = openSqliteStore(join(dir, 'meshguard.db'));
  return listening(
    { store: wrap ? wrap(store) : store, state: openSqliteGatewayState(join(dir, 'meshguard.db')) },
    port,
  );
}

/** A gateway over any store and state (PostgreSQL, say), listening on 127.0.0.1. */
export async function listening(parts: Pick<GatewayOptions, 'store' | 'state'>, port = 0) {
  const gateway: Gateway = await createGateway({ ...parts, adminToken: ADMIN, policies: [POLICY] });
  await gateway.app.listen({ port, host: '127.0.0.1' });
  later(() => gateway.close());
  const url = `http://127.0.0.1:${(gateway.app.server.address() as AddressInfo).port}`;
  return { gateway, url };
}

export async function tokenFor(url: string): Promise<string> {
  const res = await fetch(`${url}/v1/agents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'support-bot', tags: ['support'], tier: 'verified' }),
  });
  return ((await res.json()) as { token: string }).token;
}

/**
 * A gateway that was up long enough to issue a token and is gone now: its folder (database and
 * all), URL and port, to start it again on, and the token.
 */
export async function stoppedGateway() {
  const dir = tempDir();
  const first = await gatewayOn(dir);
  const port = Number(new URL(first.url).port);
  const token = await tokenFor(first.url);
  await first.gateway.close();
  return { dir, url: first.url, port, token };
}

export function remote(
  url: string,
  agentToken: string,
  spoolDir: string,
  more: Partial<RemoteGuardOptions> = {},
): RemoteGuard {
  const guard = createRemoteGuard({ url, agentToken, spoolDir, adminToken: ADMIN, flushMs: 10, ...more });
  later(() => guard.close());
  return guard;
}

/** A real HTTP server on 127.0.0.1 answering with `handler`; closed after the test. */
export async function serve(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  later(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** What a server received: method, path and body of each request. */
export function recorder() {
  const requests: Array<{ method: string; path: string; body: string; authorization: string }> = [];
  const listen =
    (answer: (req: { path: string; body: string }) => { status: number; body: unknown }): RequestListener =>
    (req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        const path = req.url ?? '';
        requests.push({
          method: req.method ?? '',
          path,
          body,
          authorization: String(req.headers.authorization ?? ''),
        });
        const out = answer({ path, body });
        res.writeHead(out.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(out.body));
      });
    };
  return { requests, listen };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A TCP proxy on 127.0.0.1 in front of `target` that holds what the client sends for `delay.ms`
 * before passing it on: to the client, a gateway that has stalled; to the gateway, requests
 * that arrive late (as they do when its event loop was frozen).
 */
export async function stallingProxy(target: string, delay: { ms: number }): Promise<string> {
  const { port } = new URL(target);
  const sockets = new Set<Socket>();
  const server = createTcpServer((client) => {
    const upstream = connect(Number(port), '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (data) => {
      setTimeout(() => upstream.write(data), delay.ms);
    });
    upstream.on('data', (data) => client.write(data));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', () => setTimeout(() => upstream.destroy(), delay.ms + 1000));
    client.on('error', end);
    upstream.on('close', () => client.destroy());
    upstream.on('error', end);
  });
  later(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
