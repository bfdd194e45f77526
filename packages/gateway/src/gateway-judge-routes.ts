import type { AgentIdentity, EmbeddedGuard } from '@meshguard/core';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { agentAuthErrors, bodyErrors } from './gateway-error-replies';
import {
  JudgeBodySchema,
  JudgeReplySchema,
  ReachableBodySchema,
  ReachableReplySchema,
} from './gateway-schemas';

type JudgeBody = z.infer<typeof JudgeBodySchema>;

export interface JudgeRoutesOptions {
  guard: EmbeddedGuard;
  /** The request as the guard takes it: the token's agent and, for a delegated token, its chain. */
  asCaller: (
    request: FastifyRequest,
    body: JudgeBody,
  ) => Omit<JudgeBody, 'delegation'> & { agent: AgentIdentity; delegation?: AgentIdentity[] };
}

/**
 * The agent routes that judge without recording anything: `POST /v1/reachable` (whether any
 * context could allow an action: offer time) and `POST /v1/judge` (what policy decides for a
 * request as given, context included: a call that already ran where nothing could stop it, such
 * as a provider's hosted tool, is recorded by the adapter as observed with this verdict). Agent
 * tokens only: registered inside the check routes, whose `agentOnly` hook covers these too.
 */
export const judgeRoutes: FastifyPluginAsyncZod<JudgeRoutesOptions> = async (app, { guard, asCaller }) => {
  app.post(
    '/v1/reachable',
    {
      schema: {
        summary: 'Whether an action could be allowed',
        description:
          'Whether any context could allow the action for the calling agent, without recording anything: adapters use it at offer time, to hide a tool or handoff no call could be allowed.',
        body: ReachableBodySchema,
        response: { 200: ReachableReplySchema, ...agentAuthErrors, ...bodyErrors },
        security: [{ agentToken: [] }],
      },
    },
    async (request) => guard.reachable(asCaller(request, request.body)),
  );

  app.post(
    '/v1/judge',
    {
      schema: {
        summary: 'Judge an action without recording a decision',
        description:
          "What the policies decide for the calling agent and this request as given (`context` included, at the gateway's time), without recording anything: adapters use it for a call that already ran where nothing could stop it (a provider's hosted tool), which they record as an `observed` outcome with this effect. The agent is the one the token names; a delegated token's chain counts and a `delegation` in the body is then ignored. A deny is a 200 with `allowed: false`.",
        body: JudgeBodySchema,
        response: { 200: JudgeReplySchema, ...agentAuthErrors, ...bodyErrors },
        security: [{ agentToken: [] }],
      },
    },
    async (request) => {
      // The engine decides; the guard is not asked, so nothing is recorded and no id is taken.
      const { decisionId: _none, ...judgement } = guard.engine.decide(asCaller(request, request.body));
      return judgement;
    },
  );
};
