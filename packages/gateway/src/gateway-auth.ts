import { timingSafeEqual } from 'node:crypto';
import { type AgentIdentity, type Approver, ConfigError, type GatewayState } from '@meshguard/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { type TokenAuthority, TokenError } from './agent-tokens';
import { isApproverToken, verifyApproverToken } from './approver-tokens';
import type { Caller, Delegation } from './gateway-delegation';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who answers approvals, on approval routes: an approver, or the admin. */
    approver?: Approver;
    agent?: AgentIdentity;
    /** Who asks, from the verified token: the agent, its delegation chain, its expiry. */
    caller?: Caller;
  }
}

/**
 * The token of an `Authorization: Bearer <token>` header. The scheme name is case-insensitive
 * (RFC 7235 section 2.1), so `bearer` and `BEARER` are the same scheme.
 */
export function bearerToken(header: string | undefined): string | undefined {
  // Split by hand, not with a regular expression: linear whatever whitespace a header holds.
  const value = header?.trim();
  if (!value) return undefined;
  const gap = value.search(/[ \t]/);
  if (gap < 0 || value.slice(0, gap).toLowerCase() !== 'bearer') return undefined;
  return value.slice(gap).trim() || undefined;
}

/** Whether `token` is the admin token, compared in constant time. */
function adminTokenCheck(adminToken: string): (token: string | undefined) => boolean {
  const expected = Buffer.from(adminToken);
  return (token) => {
    if (!token) return false;
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
}

export interface AdminFailureLimit {
  /** Failed admin-token attempts a client address may make per window (default 10). */
  max?: number;
  /** The window (ms, default 60,000); a blocked address waits until it ends. */
  windowMs?: number;
}

/**
 * Counts failed admin-token attempts per client address (`request.ip`: the socket's address, or
 * the proxy's client address when Fastify's `trustProxy` says so). Past `max` in a window, admin
 * routes answer 429 with `Retry-After` to that address until the window ends, whatever token it
 * sends. rate-limiter-flexible is made for this (counting failures, not requests).
 */
function createAdminFailureLimiter(limit: AdminFailureLimit = {}) {
  const max = limit.max ?? 10;
  const windowMs = limit.windowMs ?? 60_000;
  if (!Number.isInteger(max) || max <= 0 || !Number.isInteger(windowMs) || windowMs < 1000) {
    throw new ConfigError(
      'adminFailureLimit: max must be a positive whole number and windowMs a whole number of ms, at least 1000',
      { code: 'config_invalid' },
    );
  }
  const failures = new RateLimiterMemory({ points: max, duration: Math.ceil(windowMs / 1000) });

  return {
    /** Answers 429 (and returns true) when this address has failed too often. */
    async refuseIfBlocked(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
      const state = await failures.get(request.ip);
      if (!state || state.consumedPoints <= max) return false;
      await refuse(request, reply, state.msBeforeNext);
      return true;
    },
    /** Counts one failed attempt; answers 429 (and returns true) when it is one too many. */
    async fail(request: FastifyRequest, reply: FastifyReply, why: string): Promise<boolean> {
      request.log.warn({ clientAddress: request.ip, url: request.url, why }, 'admin token refused');
      try {
        await failures.consume(request.ip);
        return false;
      } catch (error) {
        if (!(error instanceof RateLimiterRes)) throw error;
        await refuse(request, reply, error.msBeforeNext);
        return true;
      }
    },
  };

  async function refuse(request: FastifyRequest, reply: FastifyReply, msBeforeNext: number) {
    const seconds = Math.max(1, Math.ceil(msBeforeNext / 1000));
    request.log.warn(
      { clientAddress: request.ip, url: request.url, retryAfterSeconds: seconds },
      'too many failed admin-token attempts from this address',
    );
    await reply
      .code(429)
      .header('retry-after', String(seconds))
      .send({
        error: 'too_many_requests',
        message: `too many failed admin-token attempts from this address: try again in ${seconds} s`,
      });
  }
}

export interface AuthenticationOptions {
  adminToken: string;
  state: GatewayState;
  tokens: TokenAuthority;
  delegation: Delegation;
  adminFailureLimit?: AdminFailureLimit | undefined;
}

/** An `onRequest` hook that lets a request through, or answers it (401, 403, 429) itself. */
export type AuthHook = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/**
 * Decorates the gateway with the two `onRequest` hooks its route plugins add to their context:
 * `agentOnly` and `adminOnly`, read with `getDecorator<AuthHook>` (typed where used, not merged
 * into every Fastify instance's type). Wrapped with fastify-plugin so the decorations reach the
 * route plugins registered beside it, which then share one count of failed admin-token attempts.
 */
export const authentication = fp<AuthenticationOptions>(
  async (app, options) => {
    const { agentOnly, adminOnly, approverOrAdmin } = createAuthHooks(options);
    app.decorate('agentOnly', agentOnly);
    app.decorate('adminOnly', adminOnly);
    app.decorate('approverOrAdmin', approverOrAdmin);
  },
  { name: 'meshguard-authentication', fastify: '5.x' },
);

/**
 * The `onRequest` hooks of agent routes (a verified agent token, delegated ones included), of
 * admin routes (the admin token; failed attempts counted per client address), and of approval
 * routes (an approver token or the admin token; agent tokens get 403).
 */
function createAuthHooks(options: AuthenticationOptions): {
  agentOnly: AuthHook;
  adminOnly: AuthHook;
  approverOrAdmin: AuthHook;
} {
  const { tokens, delegation } = options;
  const isAdmin = adminTokenCheck(options.adminToken);
  const adminFailures = createAdminFailureLimiter(options.adminFailureLimit);
  const bearer = (request: FastifyRequest) => bearerToken(request.headers.authorization);
  const deny = (reply: FastifyReply, status: 401 | 403, message: string) =>
    reply.code(status).send({ error: status === 401 ? 'unauthorized' : 'forbidden', message });

  const agentOnly = async (request: FastifyRequest, reply: FastifyReply) => {
    const token = bearer(request);
    if (!token) return deny(reply, 401, 'an agent token is required (Authorization: Bearer <token>)');
    if (isAdmin(token)) return deny(reply, 403, 'the admin token cannot act as an agent');
    if (isApproverToken(token)) return deny(reply, 403, 'an approver token cannot act as an agent');
    try {
      const verified = await tokens.verify(token);
      if (verified.delegation) await delegation.assertChainActive(verified.delegation);
      request.agent = verified.agent;
      request.caller = {
        agent: verified.agent,
        delegation: verified.delegation,
        expiresAt: verified.expiresAt,
      };
    } catch (error) {
      if (error instanceof TokenError) return deny(reply, 401, error.message);
      throw error;
    }
  };

  // Past the limit, 429 until the window ends (the admin token included, so guessing cannot go
  // on in parallel with it).
  const adminOnly = async (request: FastifyRequest, reply: FastifyReply) => {
    if (await adminFailures.refuseIfBlocked(request, reply)) return reply;
    const token = bearer(request);
    if (!token) {
      if (await adminFailures.fail(request, reply, 'no token')) return reply;
      return deny(reply, 401, 'the admin token is required (Authorization: Bearer <token>)');
    }
    if (isAdmin(token)) return;
    try {
      await tokens.verify(token);
    } catch {
      if (await adminFailures.fail(request, reply, 'not the admin token')) return reply;
      return deny(reply, 401, 'not a valid admin token');
    }
    return deny(reply, 403, 'agent tokens cannot use admin routes');
  };

  // An approver token or the admin token; an agent token is refused (403) whatever it holds.
  const approverOrAdmin = async (request: FastifyRequest, reply: FastifyReply) => {
    if (await adminFailures.refuseIfBlocked(request, reply)) return reply;
    const token = bearer(request);
    if (!token) {
      if (await adminFailures.fail(request, reply, 'no token')) return reply;
      return deny(
        reply,
        401,
        'an approver token or the admin token is required (Authorization: Bearer <token>)',
      );
    }
    if (isAdmin(token)) {
      request.approver = { name: 'admin', tags: [], admin: true };
      return;
    }
    if (isApproverToken(token)) {
      const approver = await verifyApproverToken(options.state, token);
      if (approver) {
        request.approver = { name: approver.name, tags: approver.tags };
        return;
      }
      if (await adminFailures.fail(request, reply, 'not a valid approver token')) return reply;
      return deny(reply, 401, 'not a valid approver token (unknown, wrong or revoked)');
    }
    try {
      await tokens.verify(token);
    } catch {
      if (await adminFailures.fail(request, reply, 'not an approver or admin token')) return reply;
      return deny(reply, 401, 'not a valid approver or admin token');
    }
    return deny(reply, 403, 'agent tokens cannot use approval routes');
  };

  return { agentOnly, adminOnly, approverOrAdmin };
}
