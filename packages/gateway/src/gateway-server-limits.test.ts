import { connect, type Socket } from 'node:net';
import { createMemoryStore } from '@meshguard/core';
import { openSqliteGatewayState } from '@meshguard/store';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from './gateway-app';
import { resolveServerLimits, type ServerLimits } from './gateway-server-limits';

const ADMIN = 'admin-token-for-tests-0123456789';

let gateway: Gateway | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await gateway?.close();
  gateway = undefined;
});

async function listen(limits: ServerLimits): Promise<number> {
  gateway = await createGateway({
    store: createMemoryStore(),
    state: openSqliteGatewayState(':memory:'),
    adminToken: ADMIN,
    limits,
  });
  await gateway.app.listen({ port: 0, host: '127.0.0.1' });
  return (gateway.app.server.address() as { port: number }).port;
}

/** A raw socket, with when it closed (ms after it opened) and what it received. */
function open(port: number) {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  const started = Date.now();
  const state = { closedAfter: undefined as number | undefined, received: '' };
  socket.on('data', (chunk) => {
    state.received += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) =>
    socket.on('close', () => {
      state.closedAfter = Date.now() - started;
      resolve(state.closedAfter);
    }),
  );
  const connected = new Promise<void>((resolve) => socket.on('connect', () => resolve()));
  return { socket, state, closed, connected };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('gateway under hostile load', () => {
  it('closes sockets that drip a body without a token once the request timeout has passed', async () => {
    const port = await listen({ requestTimeoutMs: 600, headersTimeoutMs: 300 });
    const clients = Array.from({ length: 25 }, () => open(port));
    await Promise.all(clients.map((c) => c.connected));
    for (const { socket } of clients) {
      socket.write(
        'POST /v1/check HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{',
      );
    }
    const drip = setInterval(() => {
      for (const { socket } of clients) if (!socket.destroyed) socket.write(' ');
    }, 100);
    try {
      const closedAfter = await Promise.race([
        Promise.all(clients.map((c) => c.closed)),
        sleep(10_000).then(() => 'still open' as const),
      ]);
      expect(closedAfter).not.toBe('still open');
      // Well under the old minutes, with room for a loaded machine.
      for (const ms of closedAfter as number[]) expect(ms).toBeLessThan(6000);
    } finally {
      clearInterval(drip);
    }
  });

  it('closes sockets that drip their headers once the headers timeout has passed', async () => {
    const port = await listen({ requestTimeoutMs: 2000, headersTimeoutMs: 300 });
    const client = open(port);
    await client.connected;
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => {
      if (!client.socket.destroyed) client.socket.write('x-slow: 1\r\n');
    }, 100);
    try {
      const after = await Promise.race([client.closed, sleep(10_000).then(() => Number.POSITIVE_INFINITY)]);
      expect(after).toBeLessThan(6000);
      expect(client.state.received).not.toContain('200 OK');
    } finally {
      clearInterval(drip);
    }
  });

  it('refuses connections past the cap and serves again when sockets go', async () => {
    const port = await listen({ maxConnections: 4 });
    const held = Array.from({ length: 4 }, () => open(port));
    await Promise.all(held.map((c) => c.connected));
    await sleep(100); // the server has accepted them
    const extra = open(port);
    const after = await Promise.race([extra.closed, sleep(5000).then(() => Number.POSITIVE_INFINITY)]);
    expect(after).toBeLessThan(3000);
    expect(extra.state.received).toBe('');
    for (const c of held) expect(c.state.closedAfter).toBeUndefined();

    for (const c of held) c.socket.destroy();
    await Promise.all(held.map((c) => c.closed));
    await sleep(100);
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(res.status).toBe(200);
  });

  it('closes an idle keep-alive socket after the keep-alive timeout', async () => {
    const port = await listen({ keepAliveTimeoutMs: 300 });
    const client = open(port);
    await client.connected;
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const after = await Promise.race([client.closed, sleep(10_000).then(() => Number.POSITIVE_INFINITY)]);
    expect(client.state.received).toContain('200 OK');
    expect(after).toBeLessThan(6000);
  });

  it('has sensible defaults and refuses limits that cannot work', () => {
    expect(resolveServerLimits()).toEqual({
      requestTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 5_000,
      idleTimeoutMs: 60_000,
      maxConnections: 2_048,
    });
    expect(resolveServerLimits({ requestTimeoutMs: 500 }).headersTimeoutMs).toBe(500);
    expect(() => resolveServerLimits({ maxConnections: 0 })).toThrow(/maxConnections must be a positive/);
    expect(() => resolveServerLimits({ requestTimeoutMs: 100, headersTimeoutMs: 200 })).toThrow(
      /headersTimeoutMs \(200\) must not exceed requestTimeoutMs \(100\)/,
    );
  });
});
