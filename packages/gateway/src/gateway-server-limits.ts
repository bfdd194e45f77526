import type { Socket } from 'node:net';
import { ConfigError } from '@meshguard/core';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';

/**
 * How long a client may hold the gateway's sockets, and how many it may hold. Without these, a
 * client that opens thousands of sockets and drips a body (or nothing) keeps them for minutes.
 */
export interface ServerLimits {
  /** Time to receive a whole request, headers and body (ms, default 30,000): then 408 and closed. */
  requestTimeoutMs?: number;
  /** Time to receive the request headers (ms, default 10,000; at most `requestTimeoutMs`). */
  headersTimeoutMs?: number;
  /** How long an idle keep-alive socket stays open between requests (ms, default 5,000). */
  keepAliveTimeoutMs?: number;
  /** How long a socket may stay silent, whatever it is doing (ms, default 60,000). */
  idleTimeoutMs?: number;
  /** Most sockets open at once (default 2,048): sockets past it are closed as they arrive. */
  maxConnections?: number;
}

const SERVER_LIMIT_DEFAULTS: Required<ServerLimits> = {
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 60_000,
  maxConnections: 2_048,
};

/** The limits with defaults filled in, each checked (a positive whole number). */
export function resolveServerLimits(given: ServerLimits = {}): Required<ServerLimits> {
  const limits = { ...SERVER_LIMIT_DEFAULTS };
  for (const key of Object.keys(SERVER_LIMIT_DEFAULTS) as Array<keyof ServerLimits>) {
    const value = given[key];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value <= 0) {
      throw new ConfigError(`server limit ${key} must be a positive whole number, not ${value}`, {
        code: 'config_invalid',
      });
    }
    limits[key] = value;
  }
  if (given.headersTimeoutMs === undefined) {
    limits.headersTimeoutMs = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  }
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new ConfigError(
      `server limit headersTimeoutMs (${limits.headersTimeoutMs}) must not exceed requestTimeoutMs (${limits.requestTimeoutMs})`,
      { code: 'config_invalid' },
    );
  }
  return limits;
}

/** Fastify's (and node:http's) options for these limits. */
export function serverLimitOptions(limits: Required<ServerLimits>): Partial<FastifyServerOptions> {
  return {
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // node:http looks for overdue requests this often (30 s by default, which would let a
      // short timeout run 30 s late).
      connectionsCheckingInterval: Math.max(
        50,
        Math.min(1000, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 2)),
      ),
    },
  } as Partial<FastifyServerOptions>;
}

/** The connection cap lives on the node server itself. */
export function applyConnectionCap(app: FastifyInstance, limits: Required<ServerLimits>): void {
  app.server.maxConnections = limits.maxConnections;
  app.server.headersTimeout = limits.headersTimeoutMs;
  // node:http's headers and request timeouts count from a request's first byte, and with the
  // frequent connectionsCheckingInterval above its idle timeout (`server.timeout`) never fired
  // either: a socket that never sent a byte was held for good, and enough of them filled the
  // cap. A socket must start its request within the headers timeout; the timer is a plain one,
  // cleared by the first byte, after which node:http's own timeouts apply.
  app.server.on('connection', (socket: Socket) => {
    const silent = setTimeout(() => socket.destroy(), limits.headersTimeoutMs);
    silent.unref();
    socket.once('data', () => clearTimeout(silent));
    socket.once('close', () => clearTimeout(silent));
  });
}
