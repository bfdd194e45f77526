import { type GatewayState, MeshGuardError } from '@meshguard/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { TokenAuthority } from './agent-tokens';
import type { AuthHook } from './gateway-auth';
import { adminAuthErrors, bodyErrors, deleteErrors, errorReply } from './gateway-error-replies';
import type { PolicyHolder } from './gateway-policies';
import {
  AgentListReplySchema,
  AgentParamsSchema,
  CreateAgentBodySchema,
  CreateAgentReplySchema,
  PolicySetReplySchema,
  PutPoliciesBodySchema,
  TokenParamsSchema,
} from './gateway-schemas';

export interface AdminRoutesOptions {
  state: GatewayState;
  tokens: TokenAuthority;
  policies: PolicyHolder;
}

/** Managing the gateway, behind `adminOnly`: agents, tokens and the policy set. */
export const adminRoutes: FastifyPluginAsyncZod<AdminRoutesOptions> = async (app, options) => {
  const { state, tokens, policies } = options;
  app.addHook('onRequest', app.getDecorator<AuthHook>('adminOnly'));

  app.post(
    '/v1/agents',
    {
      schema: {
        summary: 'Register an agent',
        description:
          'Registers an agent and issues its token (an EdDSA JWT, shown once): 201 with the agent, the token and its expiry. `ttl` is the token lifetime in seconds. 409 when an agent with that id exists.',
        body: CreateAgentBodySchema,
        response: {
          201: CreateAgentReplySchema,
          ...adminAuthErrors,
          ...bodyErrors,
          409: errorReply('An agent with this id exists.'),
        },
        security: [{ adminToken: [] }],
      },
    },
    async (request, reply) => {
      const { ttl, ...identity } = request.body;
      const id = identity.id ?? `agent_${crypto.randomUUID().replaceAll('-', '')}`;
      let agent: Awaited<ReturnType<GatewayState['createAgent']>>;
      try {
        agent = await state.createAgent({ ...identity, id });
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
      schema: {
        summary: 'List the agents',
        description: 'Lists the registered agents, revoked ones with `revokedAt`.',
        response: { 200: AgentListReplySchema, ...adminAuthErrors },
        security: [{ adminToken: [] }],
      },
    },
    async () => ({ agents: await state.listAgents() }),
  );

  app.delete(
    '/v1/agents/:id',
    {
      schema: {
        summary: 'Revoke an agent',
        description:
          'Revokes an agent: every token of it fails from its next request. 404 when no agent has this id.',
        params: AgentParamsSchema,
        response: {
          204: z.null().describe('Revoked (no body).'),
          ...adminAuthErrors,
          ...deleteErrors,
          404: errorReply('No agent has this id.'),
        },
        security: [{ adminToken: [] }],
      },
    },
    async (request, reply) => {
      if (!(await state.revokeAgent(request.params.id))) {
        return reply.code(404).send({ error: 'not_found', message: `no agent "${request.params.id}"` });
      }
      return reply.code(204).send(null);
    },
  );

  app.delete(
    '/v1/tokens/:jti',
    {
      schema: {
        summary: 'Revoke a token',
        description:
          "Revokes one token by its `jti` claim; the agent's other tokens keep working. Any `jti` is accepted (204), one the gateway never issued included: the revocation is kept until the longest token lifetime has passed.",
        params: TokenParamsSchema,
        response: { 204: z.null().describe('Revoked (no body).'), ...adminAuthErrors, ...deleteErrors },
        security: [{ adminToken: [] }],
      },
    },
    async (request, reply) => {
      // Kept until the longest possible token lifetime has passed.
      await state.revokeToken(request.params.jti, new Date(Date.now() + 367 * 86_400_000).toISOString());
      return reply.code(204).send(null);
    },
  );

  app.put(
    '/v1/policies',
    {
      schema: {
        summary: 'Replace the policy set',
        description:
          'Replaces the policy set in force with these files, as a new version. An invalid set is refused (400 with `issues`: `file`, `line`, `column`, `message`) and the set in force stays. Takes effect at once on this gateway and within a second on every other gateway process on the same database.',
        body: PutPoliciesBodySchema,
        response: {
          200: PolicySetReplySchema.describe('The new policy set, now in force.'),
          ...adminAuthErrors,
          ...bodyErrors,
          400: errorReply(
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
      schema: {
        summary: 'The policy set in force',
        description:
          'The policy set in force: its version and files (version 0 and no files before the first push).',
        response: { 200: PolicySetReplySchema, ...adminAuthErrors },
        security: [{ adminToken: [] }],
      },
    },
    async () => (await state.getPolicies()) ?? { version: 0, files: [] },
  );
};
