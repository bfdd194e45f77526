import { timingSafeEqual } from 'node:crypto';
import swagger from '@fastify/swagger';
import {
  type AgentIdentity,
  type AuditEvent,
  type AuditEventBody,
  type AuditFilter,
  AuditFilterSchema,
  type AuditStore,
  type Clock,
  createEmbeddedGuard,
  DecisionSchema,
  type EmbeddedGuard,
  MeshGuardError,
  type PolicyEngine,
  PolicyError,
  type ValidationError,
} from '@meshguard/core';
import type { GatewayState, PolicyFile } from '@meshguard/store';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createTokenAuthority, type TokenAuthority, TokenError } from './agent-tokens';
import { createGatewayMetrics } from './gateway-metrics';
import { createPolicyHolder, type PolicyHolder } from './gateway-policies';
import {
  AgentRecordSchema,
  AuditPageSchema,
  AuditQuerySchema,
  BatchCheckBodySchema,
  BatchCheckReplySchema,
  CheckBodySchema,
  CreateAgentBodySchema,
  CreateAgentReplySchema,
  ErrorReplySchema,
  OutcomeBodySchema,
  OutcomeReplySchema,
  PolicySetReplySchema,
  PutPoliciesBodySchema,
} from './gateway-schemas';

declare const __PACKAGE_VERSION__: string | undefined;
const VERSION = typeof __PACKAGE_VERSION__ === 'string' ? __PACKAGE_VERSION__ : '0.0.0-dev';

export interface GatewayOptions {
  /** The audit trail (the gateway records every decision and outcome in it). */
  store: AuditStore;
  /** Signing key, agents, revocations, policies. */
  state: GatewayState;
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
}

export interface Gateway {
  readonly app: FastifyInstance;
  readonly tokens: TokenAuthority;
  readonly policies: PolicyHolder;
  /** Stops accepting requests, finishes those in flight, and flushes the audit trail. */
  close(): Promise<void>;
}

/** Reading helpers some stores have beside `AuditStore` (the SQLite store has them all). */
interface ReaderExtras {
  latest(n: number): { events: AuditEvent[]; cursor: string };
  after(cursor: string | undefined, limit?: number): { events: AuditEvent[]; cursor: string };
  stats(filter?: AuditFilter): unknown;
}

declare module 'fastify' {
  interface FastifyRequest {
    agent?: AgentIdentity;
  }
}

/**
 * Builds the gateway: the HTTP API of DESIGN.md ("Gateway") over a store. Listen with
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
  const tokens = await createTokenAuthority(options.state);
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
  }).withTypeProvider<ZodTypeProvider>();
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
    decide: (request, now) => policies.engine.decide(request, now),
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

  app.setErrorHandler((error, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const first = error.validation[0];
      const path =
        first?.instancePath?.replace(/^\//, '').replaceAll('/', '.') || error.validationContext || 'body';
      return reply.code(400).send({
        error: 'bad_request',
        message: `${path}: ${first?.message ?? 'invalid'}`,
        field: path,
      });
    }
    if (PolicyError.isInstance(error)) {
      return reply.code(400).send({ error: 'policy_invalid', message: error.message, issues: error.issues });
    }
    if (MeshGuardError.isInstance(error) && error.code === 'validation_failed') {
      return reply
        .code(400)
        .send({ error: 'bad_request', message: error.message, field: (error as ValidationError).field });
    }
    const status = (error as { statusCode?: number }).statusCode;
    if (status === 413)
      return reply.code(413).send({ error: 'too_large', message: 'the request body is over the limit' });
    if (status && status >= 400 && status < 500) {
      return reply.code(status).send({ error: 'bad_request', message: (error as Error).message });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ error: 'internal', message: 'the gateway could not handle the request' });
  });

  const bearer = (request: FastifyRequest): string | undefined => {
    const header = request.headers.authorization;
    return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
  };
  const adminBuffer = Buffer.from(options.adminToken);
  const isAdmin = (token: string | undefined) => {
    if (!token) return false;
    const given = Buffer.from(token);
    return given.length === adminBuffer.length && timingSafeEqual(given, adminBuffer);
  };
  const deny = (reply: FastifyReply, status: 401 | 403, message: string) =>
    reply.code(status).send({ error: status === 401 ? 'unauthorized' : 'forbidden', message });

  const agentOnly = async (request: FastifyRequest, reply: FastifyReply) => {
    const token = bearer(request);
    if (!token) return deny(reply, 401, 'an agent token is required (Authorization: Bearer <token>)');
    if (isAdmin(token)) return deny(reply, 403, 'the admin token cannot act as an agent');
    try {
      request.agent = (await tokens.verify(token)).agent;
    } catch (error) {
      if (error instanceof TokenError) return deny(reply, 401, error.message);
      throw error;
    }
  };
  const adminOnly = async (request: FastifyRequest, reply: FastifyReply) => {
    const token = bearer(request);
    if (!token) return deny(reply, 401, 'the admin token is required (Authorization: Bearer <token>)');
    if (isAdmin(token)) return;
    try {
      await tokens.verify(token);
    } catch {
      return deny(reply, 401, 'not a valid admin token');
    }
    return deny(reply, 403, 'agent tokens cannot use admin routes');
  };

  const errors = {
    400: ErrorReplySchema,
    401: ErrorReplySchema,
    403: ErrorReplySchema,
    413: ErrorReplySchema,
  };
  const decide = async (agent: AgentIdentity, body: z.infer<typeof CheckBodySchema>) => {
    const started = process.hrtime.bigint();
    const decision = await guard.check({ ...body, agent });
    metrics.checkDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    metrics.checks.inc({ effect: decision.effect });
    return decision;
  };

  app.post(
    '/v1/check',
    {
      onRequest: agentOnly,
      schema: {
        body: CheckBodySchema,
        response: { 200: DecisionSchema, ...errors },
        security: [{ agentToken: [] }],
      },
    },
    async (request) => decide(request.agent!, request.body),
  );

  app.post(
    '/v1/check/batch',
    {
      onRequest: agentOnly,
      schema: {
        body: BatchCheckBodySchema,
        response: { 200: BatchCheckReplySchema, ...errors },
        security: [{ agentToken: [] }],
      },
    },
    async (request) => {
      // One append for the whole batch: decided together, recorded together (all denied if not).
      const started = process.hrtime.bigint();
      const decisions = await guard.checkMany(
        request.body.requests.map((body) => ({ ...body, agent: request.agent! })),
      );
      const seconds = Number(process.hrtime.bigint() - started) / 1e9 / decisions.length;
      for (const decision of decisions) {
        metrics.checkDuration.observe(seconds);
        metrics.checks.inc({ effect: decision.effect });
      }
      return { decisions };
    },
  );

  app.post(
    '/v1/reachable',
    {
      onRequest: agentOnly,
      schema: {
        body: CheckBodySchema.omit({ context: true }),
        response: {
          200: z.object({ reachable: z.boolean(), reason: z.string(), approvalPossible: z.boolean() }),
          ...errors,
        },
        security: [{ agentToken: [] }],
      },
    },
    async (request) => guard.reachable({ ...request.body, agent: request.agent! }),
  );

  app.post(
    '/v1/audit',
    {
      onRequest: agentOnly,
      schema: {
        body: OutcomeBodySchema,
        response: { 200: OutcomeReplySchema, ...errors },
        security: [{ agentToken: [] }],
      },
    },
    async (request) => {
      for (const event of request.body.events) await guard.record({ ...event, agent: request.agent! });
      return { accepted: request.body.events.length };
    },
  );

  app.get(
    '/v1/audit',
    {
      onRequest: adminOnly,
      schema: {
        querystring: AuditQuerySchema,
        response: { 200: AuditPageSchema, ...errors },
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
        querystring: z.object({
          lines: z.coerce.number().int().positive().max(10_000).optional(),
          after: z.string().max(256).optional(),
        }),
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
        querystring: AuditFilterSchema.pick({ since: true, until: true }),
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
    { onRequest: adminOnly, schema: { security: [{ adminToken: [] }] } },
    async () => options.store.verify(),
  );

  app.post(
    '/v1/agents',
    {
      onRequest: adminOnly,
      schema: {
        body: CreateAgentBodySchema,
        response: { 201: CreateAgentReplySchema, ...errors, 409: ErrorReplySchema },
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
        response: { 200: z.object({ agents: z.array(AgentRecordSchema) }) },
        security: [{ adminToken: [] }],
      },
    },
    async () => ({ agents: await options.state.listAgents() }),
  );

  app.delete(
    '/v1/agents/:id',
    {
      onRequest: adminOnly,
      schema: { params: z.object({ id: z.string().min(1).max(256) }), security: [{ adminToken: [] }] },
    },
    async (request, reply) => {
      if (!(await options.state.revokeAgent(request.params.id))) {
        return reply.code(404).send({ error: 'not_found', message: `no agent "${request.params.id}"` });
      }
      return reply.code(204).send();
    },
  );

  app.delete(
    '/v1/tokens/:jti',
    {
      onRequest: adminOnly,
      schema: { params: z.object({ jti: z.string().min(1).max(256) }), security: [{ adminToken: [] }] },
    },
    async (request, reply) => {
      // Kept until the longest possible token lifetime has passed.
      await options.state.revokeToken(
        request.params.jti,
        new Date(Date.now() + 367 * 86_400_000).toISOString(),
      );
      return reply.code(204).send();
    },
  );

  app.put(
    '/v1/policies',
    {
      onRequest: adminOnly,
      schema: {
        body: PutPoliciesBodySchema,
        response: { 200: PolicySetReplySchema, ...errors },
        security: [{ adminToken: [] }],
      },
    },
    async (request) => policies.push(request.body.files),
  );

  app.get(
    '/v1/policies',
    {
      onRequest: adminOnly,
      schema: { response: { 200: PolicySetReplySchema }, security: [{ adminToken: [] }] },
    },
    async () => (await options.state.getPolicies()) ?? { version: 0, files: [] },
  );

  app.get('/.well-known/jwks.json', async () => tokens.jwks());
  app.get('/healthz', async () => ({ status: 'ok', policyVersion: policies.version }));
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  app.get('/v1/openapi.json', async () => app.swagger());

  let closing: Promise<void> | undefined;
  return {
    app,
    tokens,
    policies,
    close() {
      closing ??= (async () => {
        policies.close();
        await app.close(); // finishes requests in flight
        await guard.close(); // waits for appends in flight
        await options.store.close();
        await options.state.close();
      })();
      return closing;
    },
  };
}
