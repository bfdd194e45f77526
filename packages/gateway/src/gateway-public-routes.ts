import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { TokenAuthority } from './agent-tokens';
import type { PolicyHolder } from './gateway-policies';
import { HealthReplySchema, JwksReplySchema, OpenApiReplySchema } from './gateway-schemas';

export interface PublicRoutesOptions {
  tokens: TokenAuthority;
  policies: PolicyHolder;
  /** The registry of the gateway's Prometheus metrics. */
  metrics: Registry;
}

/** The routes anyone may call, without a token: the signing keys, liveness, metrics and this API's document. */
export const publicRoutes: FastifyPluginAsyncZod<PublicRoutesOptions> = async (app, options) => {
  const { tokens, policies, metrics } = options;

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
      reply.header('content-type', metrics.contentType);
      return metrics.metrics();
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
      // Always an OpenAPI 3.1 document with paths (swagger is registered so in createGateway): narrowed, not cast.
      if (!('openapi' in document) || !document.paths) throw new Error('no OpenAPI 3 document');
      return { ...document, paths: document.paths };
    },
  );
};
