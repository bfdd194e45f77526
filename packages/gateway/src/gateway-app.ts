import swagger from '@fastify/swagger';
import {
  type AgentIdentity,
  type AuditEvent,
  type AuditEventBody,
  type AuditFilter,
  type AuditStore,
  type Clock,
  createEmbeddedGuard,
  type EmbeddedGuard,
  MeshGuardError,
  type PolicyEngine,
} from '@meshguard/core';
import type { GatewayState, PolicyFile, StoreStats } from '@meshguard/store';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { jsonSchemaTransform, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { TokenAuthority } from './agent-tokens';
import { recordOutcomes } from './gateway-audit-route';
import { type AdminFailureLimit, createAuthHooks } from './gateway-auth';
import { createDecisionIds, pastDeadline } from './gateway-check-route';
import {
  createDelegation,
  DelegatingCheckBodySchema,
  DelegatingDecisionReplySchema,
  type DelegationOptions,
} from './gateway-delegation';
import { installErrorHandling, refuseUrl } from './gateway-errors';
import { registerJudgeRoutes } from './gateway-judge-routes';
import { openGatewayKeys, type SigningKeyOption } from './gateway-keys';
import { redactingLogger } from './gateway-log-redaction';
import { createGatewayMetrics } from './gateway-metrics';
import { createPolicyHolder, type PolicyHolder } from './gateway-policies';
import {
  AgentListReplySchema,
  AgentParamsSchema,
  AuditPageSchema,
  AuditQuerySchema,
  BatchCheckBodySchema,
  BatchCheckReplySchema,
  CreateAgentBodySchema,
  CreateAgentReplySchema,
  ErrorReplySchema,
  HealthReplySchema,
  JwksReplySchema,
  OpenApiReplySchema,
  OutcomeBodySchema,
  OutcomeEnvelopeSchema,
  OutcomeReplySchema,
  PolicySetReplySchema,
  PutPoliciesBodySchema,
  StatsQuerySchema,
  StatsReplySchema,
  TailQuerySchema,
  TailReplySchema,
  TokenParamsSchema,
  VerifyReplySchema,
} from './gateway-schemas';
import {
  applyConnectionCap,
  resolveServerLimits,
  type ServerLimits,
  serverLimitOptions,
} from './gateway-server-limits';

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

/** Reading helpers some stores have beside `AuditStore` (the SQLite store has them all). */
interface ReaderExtras {
  latest(n: number): { events: AuditEvent[]; cursor: string };
  after(cursor: string | undefined, limit?: number): { events: AuditEvent[]; cursor: string };
  stats(filter?: AuditFilter): StoreStats | Promise<StoreStats>;
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
  };
  const countingStore: AuditStore = {
    kind: options.store.kind,
    async append(events: readonly AuditEventBody[]) {
      metrics.queueDepth.inc(events.length);
      try {
        return await options.store.append(events);
      } finally {
        metrics.queueDepth.dec(events.length);
      }
    },
    query: (filter) => options.store.query(filter),
    verify: () => options.store.verify(),
    close: () => options.store.close(),
  };
  const guard: EmbeddedGuard = createEmbeddedGuard({
    engine,
    store: countingStore,
    clock,
    framework: 'gateway',
    source: { name: '@meshguard/gateway', version: VERSION },
  });

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
        },
      },
    },
    transform: jsonSchemaTransform,
  });

  installErrorHandling(app);

  const { agentOnly, adminOnly } = createAuthHooks({
    adminToken: options.adminToken,
    tokens,
    delegation,
    adminFailureLimit: options.adminFailureLimit,
  });

  // Every status a route can answer is declared with its body, so the OpenAPI document (and the
  // reference generated from it) is the whole truth; openapi.test.ts holds each route to it.
  const error = (when: string) => ErrorReplySchema.describe(when);
  const agentAuth = {
    401: error('No token, or a forged, expired or revoked one.'),
    403: error('The admin token: this route takes an agent token.'),
  };
  const adminAuth = {
    401: error('No token, or one that is neither the admin token nor a valid agent token.'),
    403: error('An agent token: this route takes the admin token.'),
    429: error(
      'Too many failed admin-token attempts from this client address: try again after `Retry-After` seconds.',
    ),
  };
  const bodyErrors = {
    400: error('Malformed JSON, or a field that breaks the schema (`field` names it).'),
    413: error('The body is over the size limit (1 MiB by default).'),
    415: error('A body that is neither JSON nor text.'),
  };
  const queryErrors = { 400: error('A query parameter that breaks the schema (`field` names it).') };
  // Fastify reads a body sent with a DELETE too: these routes take none, but answer one.
  const deleteErrors = {
    400: error('A bad path parameter (`field` names it), or a body sent that is malformed JSON.'),
    413: error('A body sent (the route takes none) over the size limit.'),
    415: error('A body sent (the route takes none) that is neither JSON nor text.'),
  };
  const notImplemented = error('The audit store cannot answer this (a memory store).');

  /**
   * A check as the guard takes it: the agent from the token and, for a delegated token, the
   * chain from the token too (the body's chain ignored).
   */
  const asCaller = <Body extends { delegation?: AgentIdentity[] | undefined }>(
    request: FastifyRequest,
    body: Body,
  ) => {
    const { delegation: fromBody, ...rest } = body;
    const chain = delegation.chainFor(request.caller!, fromBody);
    return { ...rest, agent: request.agent!, ...(chain ? { delegation: chain } : {}) };
  };

  const decisionIds = createDecisionIds(clock);
  const idTaken = (reply: FastifyReply, message: string) =>
    reply.code(409).send({ error: 'conflict', message, field: 'decisionId' });

  const decide = async (request: FastifyRequest, body: z.infer<typeof DelegatingCheckBodySchema>) => {
    const { handoffTarget, ...check } = body;
    const started = process.hrtime.bigint();
    const decision = await guard.check(asCaller(request, check));
    metrics.checkDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    metrics.checks.inc({ effect: decision.effect });
    const handoffToken = await delegation.handoffToken(
      request.caller!,
      { action: body.action, handoffTarget },
      decision,
      request.log,
    );
    return handoffToken ? { ...decision, handoffToken } : decision;
  };

  app.post(
    '/v1/check',
    {
      onRequest: agentOnly,
      schema: {
        summary: 'Decide one action',
        description:
          'Decides one action for the calling agent and records the decision in the audit trail. A deny is a 200 with `allowed: false`. The agent is the one the token names: identity fields in the body are ignored. `context` holds the tool arguments (`amount` for `amount_max`...) and is redacted before it is stored. An allowed `handoff:<target>` check whose target is an agent of this gateway also returns `handoffToken`, a short-lived delegated token for the target; checks made with a delegated token are decided with the delegation chain it carries, and a `delegation` in their body is ignored.',
        body: DelegatingCheckBodySchema,
        response: {
          200: DelegatingDecisionReplySchema,
          ...agentAuth,
          ...bodyErrors,
          409: error('The client-minted `decisionId` is taken, or too old.'),
        },
        security: [{ agentToken: [] }],
      },
    },
    async (request, reply) => {
      const taken = decisionIds.claim([request.body.decisionId], request.agent!.id);
      if (taken) return idTaken(reply, taken);
      return decide(request, request.body);
    },
  );

  app.post(
    '/v1/check/batch',
    {
      onRequest: agentOnly,
      schema: {
        summary: 'Decide up to 1,000 actions',
        description:
          'Decides up to 1,000 actions for the calling agent in one request; the decisions come back in request order and are recorded in one append. If the decisions cannot be recorded, every one of them is a deny (an action that cannot be audited does not run).',
        body: BatchCheckBodySchema,
        response: {
          200: BatchCheckReplySchema,
          ...agentAuth,
          ...bodyErrors,
          409: error('A client-minted `decisionId` is taken, too old, or given twice.'),
        },
        security: [{ agentToken: [] }],
      },
    },
    async (request, reply) => {
      const taken = decisionIds.claim(
        request.body.requests.map((r) => r.decisionId),
        request.agent!.id,
      );
      if (taken) return idTaken(reply, taken);
      // One append for the whole batch: decided together, recorded together (all denied if not).
      const started = process.hrtime.bigint();
      const decisions = await guard.checkMany(request.body.requests.map((body) => asCaller(request, body)));
      const seconds = Number(process.hrtime.bigint() - started) / 1e9 / decisions.length;
      for (const decision of decisions) {
        metrics.checkDuration.observe(seconds);
        metrics.checks.inc({ effect: decision.effect });
      }
      return { decisions };
    },
  );

  registerJudgeRoutes(app, { guard, agentOnly, asCaller, agentAuth, bodyErrors });

  app.post(
    '/v1/audit',
    {
      onRequest: agentOnly,
      schema: {
        summary: 'Record outcome events',
        description:
          "Records outcome events (what happened after a decision), joined to their decision by `decisionId`, each judged on its own: the answer names the id of every event recorded (`recorded`) and says why each other one was rejected (`rejected`), so a client counts as delivered only the ids named. Idempotent by event `id`: an id the gateway already holds is ignored (and named as recorded), so a retry never duplicates. The agent is the token's; an outcome cannot be attributed to a decision another agent got, and an agent token cannot record an approval's answer (`approved`, `rejected`). An event whose `ts` is over a second old is recorded with `deliveredAt`.",
        body: OutcomeBodySchema,
        response: { 200: OutcomeReplySchema, ...agentAuth, ...bodyErrors },
        security: [{ agentToken: [] }],
      },
      // The route takes the envelope; each event is checked on its own (recordOutcomes).
      validatorCompiler: (route) => validatorCompiler({ ...route, schema: OutcomeEnvelopeSchema }),
    },
    async (request) => recordOutcomes(guard, (event) => asCaller(request, event), request.body.events, clock),
  );

  app.get(
    '/v1/audit',
    {
      onRequest: adminOnly,
      schema: {
        summary: 'Query the audit trail',
        description:
          'Queries the audit trail: filters as query parameters, a page of events, and a cursor for the next page. Time filters take ISO date-times. Each event is an AuditEvent v1 ([audit-events.md](audit-events.md)).',
        querystring: AuditQuerySchema,
        response: { 200: AuditPageSchema, ...adminAuth, ...queryErrors },
        security: [{ adminToken: [] }],
      },
    },
    async (request) => options.store.query(request.query),
  );

  // What the CLI's `audit tail` and `audit stats` need, where the store can answer it.
  const extras = options.store as AuditStore & Partial<ReaderExtras>;
  app.get(
    '/v1/audit/tail',
    {
      onRequest: adminOnly,
      schema: {
        summary: 'Follow the audit trail',
        description:
          'The latest events (`lines`, default 20), or the events recorded after a cursor (`after`), with the cursor to follow from: what `meshguard audit tail -f` polls. 501 on a store that cannot follow the trail (memory).',
        querystring: TailQuerySchema,
        response: { 200: TailReplySchema, ...adminAuth, ...queryErrors, 501: notImplemented },
        security: [{ adminToken: [] }],
      },
    },
    async (request, reply) => {
      if (!extras.latest || !extras.after) {
        return reply.code(501).send({
          error: 'not_implemented',
          message: `a ${options.store.kind} store cannot follow the trail`,
        });
      }
      await guard.settled(); // appends in flight first (read-your-writes)
      return request.query.after !== undefined
        ? extras.after(request.query.after)
        : extras.latest(request.query.lines ?? 20);
    },
  );

  app.get(
    '/v1/audit/stats',
    {
      onRequest: adminOnly,
      schema: {
        summary: 'Count the audit trail',
        description:
          'Counts over the trail between `since` and `until`: the total, and by effect, action, agent and event type (what `meshguard audit stats` shows). 501 on a store without counts (memory).',
        querystring: StatsQuerySchema,
        response: { 200: StatsReplySchema, ...adminAuth, ...queryErrors, 501: notImplemented },
        security: [{ adminToken: [] }],
      },
    },
    async (request, reply) => {
      if (!extras.stats) {
        return reply
          .code(501)
          .send({ error: 'not_implemented', message: `a ${options.store.kind} store has no stats` });
      }
      return extras.stats(request.query);
    },
  );

  app.get(
    '/v1/audit/verify',
    {
      onRequest: adminOnly,
      schema: {
        summary: 'Verify the hash chains',
        description:
          'Verifies the hash chain of every stream and reports the first broken event, if any (`ok`, `checked`, `streams`, `problem`).',
        response: { 200: VerifyReplySchema, ...adminAuth },
        security: [{ adminToken: [] }],
      },
    },
    async () => options.store.verify(),
  );

  app.post(
    '/v1/agents',
    {
      onRequest: adminOnly,
      schema: {
        summary: 'Register an agent',
        description:
          'Registers an agent and issues its token (an EdDSA JWT, shown once): 201 with the agent, the token and its expiry. `ttl` is the token lifetime in seconds. 409 when an agent with that id exists.',
        body: CreateAgentBodySchema,
        response: {
          201: CreateAgentReplySchema,
          ...adminAuth,
          ...bodyErrors,
          409: error('An agent with this id exists.'),
        },
        security: [{ adminToken: [] }],
      },
    },
    async (request, reply) => {
      const { ttl, ...identity } = request.body;
      const id = identity.id ?? `agent_${crypto.randomUUID().replaceAll('-', '')}`;
      let agent: Awaited<ReturnType<GatewayState['createAgent']>>;
      try {
        agent = await options.state.createAgent({ ...identity, id });
      } catch (error) {
        if (MeshGuardError.isInstance(error) && error.code === 'agent_exists') {
          return reply.code(409).send({ error: 'conflict', message: error.message });
        }
        throw error;
      }
      const issued = await tokens.issue(agent, ttl);
      return reply.code(201).send({ agent, token: issued.token, expiresAt: issued.expiresAt });
    },
  );

  app.get(
    '/v1/agents',
    {
      onRequest: adminOnly,
      schema: {
        summary: 'List the agents',
        description: 'Lists the registered agents, revoked ones with `revokedAt`.',
        response: { 200: AgentListReplySchema, ...adminAuth },
        security: [{ adminToken: [] }],
      },
    },
    async () => ({ agents: await options.state.listAgents() }),
  );

  app.delete(
    '/v1/agents/:id',
    {
      onRequest: adminOnly,
      schema: {
        summary: 'Revoke an agent',
        description:
          'Revokes an agent: every token of it fails from its next request. 404 when no agent has this id.',
        params: AgentParamsSchema,
        response: {
          204: z.null().describe('Revoked (no body).'),
          ...adminAuth,
          ...deleteErrors,
          404: error('No agent has this id.'),
        },
        security: [{ adminToken: [] }],
      },
    },
    async (request, reply) => {
      if (!(await options.state.revokeAgent(request.params.id))) {
        return reply.code(404).send({ error: 'not_found', message: `no agent "${request.params.id}"` });
      }
      return reply.code(204).send(null);
    },
  );

  app.delete(
    '/v1/tokens/:jti',
    {
      onRequest: adminOnly,
      schema: {
        summary: 'Revoke a token',
        description:
          "Revokes one token by its `jti` claim; the agent's other tokens keep working. Any `jti` is accepted (204), one the gateway never issued included: the revocation is kept until the longest token lifetime has passed.",
        params: TokenParamsSchema,
        response: { 204: z.null().describe('Revoked (no body).'), ...adminAuth, ...deleteErrors },
        security: [{ adminToken: [] }],
      },
    },
    async (request, reply) => {
      // Kept until the longest possible token lifetime has passed.
      await options.state.revokeToken(
        request.params.jti,
        new Date(Date.now() + 367 * 86_400_000).toISOString(),
      );
      return reply.code(204).send(null);
    },
  );

  app.put(
    '/v1/policies',
    {
      onRequest: adminOnly,
      schema: {
        summary: 'Replace the policy set',
        description:
          'Replaces the policy set in force with these files, as a new version. An invalid set is refused (400 with `issues`: `file`, `line`, `column`, `message`) and the set in force stays. Takes effect at once on this gateway and within a second on every other gateway process on the same database.',
        body: PutPoliciesBodySchema,
        response: {
          200: PolicySetReplySchema.describe('The new policy set, now in force.'),
          ...adminAuth,
          ...bodyErrors,
          400: error(
            'Malformed JSON, a field that breaks the schema (`field` names it), or an invalid policy set (`issues` locates every problem).',
          ),
        },
        security: [{ adminToken: [] }],
      },
    },
    async (request) => policies.push(request.body.files),
  );

  app.get(
    '/v1/policies',
    {
      onRequest: adminOnly,
      schema: {
        summary: 'The policy set in force',
        description:
          'The policy set in force: its version and files (version 0 and no files before the first push).',
        response: { 200: PolicySetReplySchema, ...adminAuth },
        security: [{ adminToken: [] }],
      },
    },
    async () => (await options.state.getPolicies()) ?? { version: 0, files: [] },
  );

  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        summary: 'The token signing keys',
        description:
          'The public key(s) agent tokens are signed with (JWKS, Ed25519), for anyone verifying a token.',
        response: { 200: JwksReplySchema },
      },
    },
    async () => tokens.jwks(),
  );
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness',
        description: 'Liveness, and the version of the policy set in force.',
        response: { 200: HealthReplySchema },
      },
    },
    async () => ({ status: 'ok' as const, policyVersion: policies.version }),
  );
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        description:
          'Prometheus metrics (text format): `meshguard_checks_total{effect}`, `meshguard_check_duration_seconds`, `meshguard_audit_queue_depth`, and the process defaults.',
        response: {
          200: {
            description: 'The metrics.',
            content: { 'text/plain': { schema: z.string().describe('The Prometheus text format.') } },
          },
        },
      },
    },
    async (_request, reply) => {
      reply.header('content-type', metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  );
  app.get(
    '/v1/openapi.json',
    {
      schema: {
        summary: 'This API as OpenAPI',
        description: 'This API as an OpenAPI 3.1 document.',
        response: { 200: OpenApiReplySchema },
      },
    },
    async () => {
      const document = app.swagger();
      // Always an OpenAPI 3.1 document with paths (registered so above): narrowed, not cast.
      if (!('openapi' in document) || !document.paths) throw new Error('no OpenAPI 3 document');
      return { ...document, paths: document.paths };
    },
  );

  let closing: Promise<void> | undefined;
  return {
    app,
    tokens,
    policies,
    reloadSigningKey: () => keys.reload(),
    close() {
      closing ??= (async () => {
        policies.close();
        await app.close(); // finishes requests in flight
        await guard.close(); // waits for appends in flight
        await options.store.close();
        await keys.close();
        await options.state.close();
      })();
      return closing;
    },
  };
}
