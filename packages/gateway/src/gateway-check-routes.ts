import type { AgentIdentity, Clock, EmbeddedGuard } from '@meshguard/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type FastifyPluginAsyncZod, validatorCompiler } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import type { AuthHook } from './gateway-auth';
import { createDecisionIds } from './gateway-check-admission';
import {
  DelegatingCheckBodySchema,
  DelegatingDecisionReplySchema,
  type Delegation,
} from './gateway-delegation';
import { agentAuthErrors, bodyErrors, errorReply } from './gateway-error-replies';
import { judgeRoutes } from './gateway-judge-routes';
import type { createGatewayMetrics } from './gateway-metrics';
import { recordOutcomes } from './gateway-outcomes';
import {
  BatchCheckBodySchema,
  BatchCheckReplySchema,
  OutcomeBodySchema,
  OutcomeEnvelopeSchema,
  OutcomeReplySchema,
} from './gateway-schemas';

export interface CheckRoutesOptions {
  guard: EmbeddedGuard;
  delegation: Delegation;
  clock: Clock;
  metrics: Pick<ReturnType<typeof createGatewayMetrics>, 'checks' | 'checkDuration'>;
}

/**
 * The agent's routes, all behind `agentOnly`: decide one action or a batch, judge without
 * recording (the judge routes), and record what happened after a decision (outcomes).
 */
export const checkRoutes: FastifyPluginAsyncZod<CheckRoutesOptions> = async (app, options) => {
  const { guard, delegation, clock, metrics } = options;
  app.addHook('onRequest', app.getDecorator<AuthHook>('agentOnly'));

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
      schema: {
        summary: 'Decide one action',
        description:
          'Decides one action for the calling agent and records the decision in the audit trail. A deny is a 200 with `allowed: false`. The agent is the one the token names: identity fields in the body are ignored. `context` holds the tool arguments (`amount` for `amount_max`...) and is redacted before it is stored. An allowed `handoff:<target>` check whose target is an agent of this gateway also returns `handoffToken`, a short-lived delegated token for the target; checks made with a delegated token are decided with the delegation chain it carries, and a `delegation` in their body is ignored.',
        body: DelegatingCheckBodySchema,
        response: {
          200: DelegatingDecisionReplySchema,
          ...agentAuthErrors,
          ...bodyErrors,
          409: errorReply('The client-minted `decisionId` is taken, or too old.'),
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
      schema: {
        summary: 'Decide up to 1,000 actions',
        description:
          'Decides up to 1,000 actions for the calling agent in one request; the decisions come back in request order and are recorded in one append. If the decisions cannot be recorded, every one of them is a deny (an action that cannot be audited does not run).',
        body: BatchCheckBodySchema,
        response: {
          200: BatchCheckReplySchema,
          ...agentAuthErrors,
          ...bodyErrors,
          409: errorReply('A client-minted `decisionId` is taken, too old, or given twice.'),
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

  // Awaited here so the OpenAPI document keeps its order: check, batch, judge, then outcomes.
  await app.register(judgeRoutes, { guard, asCaller });

  app.post(
    '/v1/audit',
    {
      schema: {
        summary: 'Record outcome events',
        description:
          "Records outcome events (what happened after a decision), joined to their decision by `decisionId`, each judged on its own: the answer names the id of every event recorded (`recorded`) and says why each other one was rejected (`rejected`), so a client counts as delivered only the ids named. Idempotent by event `id`: an id the gateway already holds is ignored (and named as recorded), so a retry never duplicates. The agent is the token's; an outcome cannot be attributed to a decision another agent got, and an agent token cannot record an approval's answer (`approved`, `rejected`). An event whose `ts` is over a second old is recorded with `deliveredAt`.",
        body: OutcomeBodySchema,
        response: { 200: OutcomeReplySchema, ...agentAuthErrors, ...bodyErrors },
        security: [{ agentToken: [] }],
      },
      // The route takes the envelope; each event is checked on its own (recordOutcomes).
      validatorCompiler: (route) => validatorCompiler({ ...route, schema: OutcomeEnvelopeSchema }),
    },
    async (request) => recordOutcomes(guard, (event) => asCaller(request, event), request.body.events, clock),
  );
};
