import swagger from '@fastify/swagger';
import {
  type AuditStore,
  type Clock,
  createEmbeddedGuard,
  type EmbeddedGuard,
  type GatewayState,
  MeshGuardError,
  type PolicyEngine,
  type PolicyFile,
} from '@meshguard/core';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { jsonSchemaTransform, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { TokenAuthority } from './agent-tokens';
import { adminRoutes } from './gateway-admin-routes';
import { agentApprovalRoutes, approvalRoutes, approverAdminRoutes } from './gateway-approval-routes';
import { auditRoutes } from './gateway-audit-routes';
import { type AdminFailureLimit, authentication } from './gateway-auth';
import { pastDeadline } from './gateway-check-admission';
import { checkRoutes } from './gateway-check-routes';
import { createDelegation, type DelegationOptions } from './gateway-delegation';
import { errorHandling, refuseUrl } from './gateway-errors';
import { openGatewayKeys, type SigningKeyOption } from './gateway-keys';
import { redactingLogger } from './gateway-log-redaction';
import { countingAuditStore, createGatewayMetrics } from './gateway-metrics';
import { createPolicyHolder, type PolicyHolder } from './gateway-policies';
import { publicRoutes } from './gateway-public-routes';
import {
  applyConnectionCap,
  resolveServerLimits,
  type ServerLimits,
  serverLimitOptions,
} from './gateway-server-limits';
import { type ApprovalNotifierOptions, createApprovalNotifier } from './notify/approval-notifier';

declare const __PACKAGE_VERSION__: string | undefined;
const VERSION = typeof __PACKAGE_VERSION__ === 'string' ? __PACKAGE_VERSION__ : '0.0.0-dev';

export interface GatewayOptions {
  /** The audit trail (the gateway records every decision and outcome in it). */
  store: AuditStore;
  /** Public keys, agents, revocations, policies. */
  state: GatewayState;
  /**
   * The key agent tokens are signed with: `signingKeyFile(path)`, a key parsed from
   * `MESHGUARD_SIGNING_KEY` (`parseSigningKey`), or a KMS's `{ kid, publicJwk, sign }`. Default:
   * a key made for this process alone (each start signs with a new kid; it is retired on close).
   */
  signingKey?: SigningKeyOption;
  /** The admin token (`MESHGUARD_ADMIN_TOKEN`); at least 16 characters. */
  adminToken: string;
  /** Policy files to enforce from the start (stored as a new version when they differ). */
  policies?: PolicyFile[];
  /** Fastify's logger: `false`, `true`, or pino options (the CLI passes its own). */
  logger?: FastifyServerOptions['logger'];
  clock?: Clock;
  /** How often other replicas' policy pushes are looked for (ms, default 1000). */
  policyPollMs?: number;
  /** Largest request body in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** Request, headers, keep-alive and idle timeouts and the connection cap (each says its default). */
  limits?: ServerLimits;
  /** Failed admin-token attempts allowed per client address and window (default 10 a minute). */
  adminFailureLimit?: AdminFailureLimit;
  /** Fastify's `trustProxy`: whether `X-Forwarded-For` names the client address (default false). */
  trustProxy?: FastifyServerOptions['trustProxy'];
  /** Delegated tokens issued on an allowed handoff (their lifetime, default 300 seconds). */
  delegation?: DelegationOptions;
  /** How often pending approval requests past their deadline are expired (ms, default 1000). */
  approvalSweepMs?: number;
  /** How long the arguments of an ended approval request are kept (ms, default 30 days). */
  approvalRetentionMs?: number;
  /**
   * Who hears of approval requests (and, per channel, of denies): webhooks, signed per Standard
   * Webhooks or in Slack's format, retried and spooled in `spoolDir` across restarts.
   */
  notify?: Omit<ApprovalNotifierOptions, 'onReport' | 'fetch'> | undefined;
}

export interface Gateway {
  readonly app: FastifyInstance;
  readonly tokens: TokenAuthority;
  readonly policies: PolicyHolder;
  /** Loads the signing key again (after `meshguard gateway rotate-key`) and returns its kid. */
  reloadSigningKey(): Promise<string>;
  /** Stops accepting requests, finishes those in flight, and flushes the audit trail. */
  close(): Promise<void>;
}

/**
 * Builds the gateway: its HTTP API (checks, outcomes, audit queries, admin) over a store. Listen with
 * `gateway.app.listen({ port, host })`.
 *
 * @example
 * const gateway = await createGateway({ store, state, adminToken: process.env.MESHGUARD_ADMIN_TOKEN! });
 * await gateway.app.listen({ port: 8787 });
 */
export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  if (!options.adminToken || options.adminToken.length < 16) {
    throw new MeshGuardError('the admin token must be at least 16 characters', {
      code: 'admin_token_invalid',
    });
  }
  const clock = options.clock ?? Date.now;
  const metrics = createGatewayMetrics();
  const limits = resolveServerLimits(options.limits);
  const app = Fastify({
    ...serverLimitOptions(limits),
    ...(options.trustProxy === undefined ? {} : { trustProxy: options.trustProxy }),
    logger: redactingLogger(options.logger),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // A path parameter (decoded) as long as the longest id there is: an agent id or a jti has at
    // most 256 characters, and the router refuses longer ones before the route's schema sees them.
    routerOptions: { maxParamLength: 256 },
    // What the router refuses (a parameter over that length, a malformed URL) gets the 400 a
    // schema violation gets, not Fastify's own body and status (414).
    frameworkErrors: refuseUrl,
  }).withTypeProvider<ZodTypeProvider>();
  applyConnectionCap(app, limits);
  const keys = await openGatewayKeys(options.state, options.signingKey, app.log);
  const tokens = keys.tokens;
  const delegation = createDelegation(options.state, tokens, options.delegation);
  const policies = await createPolicyHolder(options.state, {
    clock,
    initial: options.policies,
    pollMs: options.policyPollMs,
    onError: (error) =>
      app.log.error({ err: error }, 'stored policies could not be loaded; the set in force stays'),
  });

  // The engine the guard decides with follows the policy set in force.
  const engine: PolicyEngine = {
    get policies() {
      return policies.engine.policies;
    },
    // A check past the client's deadline is not evaluated: the client has denied it already.
    decide: (request, now = clock()) => pastDeadline(request, now) ?? policies.engine.decide(request, now),
    explain: (request, now) => policies.engine.explain(request, now),
    reachable: (request) => policies.engine.reachable(request),
    approvalPolicy: (decision) => policies.engine.approvalPolicy(decision),
  };
  const countingStore = countingAuditStore(options.store, metrics);
  const notifier =
    options.notify && options.notify.channels.length > 0
      ? createApprovalNotifier({
          ...options.notify,
          onReport: (report) =>
            report.outcome === 'delivered'
              ? app.log.debug({ notification: report }, 'notification delivered')
              : app.log.warn({ notification: report }, `notification ${report.outcome}`),
        })
      : undefined;
  // A notification that cannot be spooled is logged: the request stands, and the inbox shows it.
  const notifyFailed = (error: unknown) =>
    app.log.error({ err: error }, 'a notification could not be spooled');
  const guard: EmbeddedGuard = createEmbeddedGuard({
    engine,
    store: countingStore,
    clock,
    framework: 'gateway',
    source: { name: '@meshguard/gateway', version: VERSION },
    ...(notifier
      ? {
          onApproval: (approval) => {
            if (approval.status === 'pending') notifier.approvalRequested(approval).catch(notifyFailed);
          },
          onDeny: (event) => {
            notifier.denied(event).catch(notifyFailed);
          },
        }
      : {}),
  });
  notifier?.start();

  app.setValidatorCompiler(validatorCompiler);
  // Responses are the gateway's own values: their zod schemas document them (OpenAPI), and they
  // are written with JSON.stringify rather than parsed again on the way out.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'MeshGuard gateway',
        version: VERSION,
        description: 'Policy decisions and the audit trail over HTTP.',
      },
      components: {
        securitySchemes: {
          agentToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          adminToken: { type: 'http', scheme: 'bearer' },
          approverToken: {
            type: 'http',
            scheme: 'bearer',
            description: 'An approver token (`mga_<id>.<secret>`).',
          },
        },
      },
    },
    transform: jsonSchemaTransform,
  });

  // Error handling first (a plugin's context takes its parent's handler and parser when created),
  // then the routes, each plugin awaited so the OpenAPI document lists them as it always has.
  await app.register(errorHandling);
  await app.register(authentication, {
    adminToken: options.adminToken,
    state: options.state,
    tokens,
    delegation,
    adminFailureLimit: options.adminFailureLimit,
  });
  await app.register(checkRoutes, { guard, delegation, clock, metrics });
  await app.register(auditRoutes, { store: options.store, guard });
  await app.register(adminRoutes, { state: options.state, tokens, policies });
  await app.register(approvalRoutes, { guard, state: options.state });
  await app.register(agentApprovalRoutes, { guard, state: options.state });
  await app.register(approverAdminRoutes, { guard, state: options.state });
  // Pending requests past their deadline are expired (and recorded) about every second, so the
  // trail and the waiters hear of it though nobody reads them.
  const sweeper = guard.approvals
    ? setInterval(() => {
        guard
          .approvals!.expire()
          .catch((error: unknown) => app.log.error({ err: error }, 'expiring approval requests failed'));
      }, options.approvalSweepMs ?? 1000)
    : undefined;
  sweeper?.unref();
  // The arguments of ended requests are kept for the retention, then dropped (hash kept): hourly.
  const purger = guard.approvals
    ? setInterval(() => {
        guard
          .approvals!.purgeArguments(options.approvalRetentionMs)
          .catch((error: unknown) => app.log.error({ err: error }, 'purging approval arguments failed'));
      }, 3_600_000)
    : undefined;
  purger?.unref();
  await app.register(publicRoutes, { tokens, policies, metrics: metrics.registry });

  let closing: Promise<void> | undefined;
  return {
    app,
    tokens,
    policies,
    reloadSigningKey: () => keys.reload(),
    close() {
      closing ??= (async () => {
        policies.close();
        clearInterval(sweeper);
        clearInterval(purger);
        await app.close(); // finishes requests in flight
        await guard.close(); // waits for appends in flight
        await notifier?.close();
        await options.store.close();
        await keys.close();
        await options.state.close();
      })();
      return closing;
    },
  };
}
