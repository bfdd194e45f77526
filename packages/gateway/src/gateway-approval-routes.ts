import { type EmbeddedGuard, type GatewayState, MeshGuardError } from '@meshguard/core';
import { approvalState, approverRefusal } from '@meshguard/core/internal';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createApprover } from './approver-tokens';
import type { AuthHook } from './gateway-auth';
import {
  adminAuthErrors,
  agentAuthErrors,
  bodyErrors,
  deleteErrors,
  errorReply,
  queryErrors,
} from './gateway-error-replies';
import {
  AgentApprovalQuerySchema,
  AgentApprovalReplySchema,
  AnswerApprovalBodySchema,
  ApprovalListQuerySchema,
  ApprovalPageReplySchema,
  ApprovalParamsSchema,
  ApprovalReplySchema,
  ApproverListReplySchema,
  ApproverParamsSchema,
  CreateApproverBodySchema,
  CreateApproverReplySchema,
} from './gateway-schemas';

export interface ApprovalRoutesOptions {
  guard: EmbeddedGuard;
  state: GatewayState;
}

const approverAuthErrors = {
  401: errorReply('No token, or one that is neither a valid approver token nor the admin token.'),
  403: errorReply('An agent token: approval routes take an approver token or the admin token.'),
  429: errorReply(
    'Too many failed token attempts from this client address: try again after `Retry-After` seconds.',
  ),
};

const notFound = errorReply('No approval request has this id.');

/** What an approval route answers when the store keeps no approvals (a custom store). */
function approvalsOf(guard: EmbeddedGuard) {
  if (!guard.approvals) {
    throw new MeshGuardError("this gateway's audit store keeps no approval requests", {
      code: 'not_implemented',
    });
  }
  return guard.approvals;
}

/** An error of answering, as the reply it is. */
function answerRefusal(
  error: unknown,
): { status: 403 | 404 | 409; body: { error: string; message: string } } | undefined {
  if (!MeshGuardError.isInstance(error)) return undefined;
  switch (error.code) {
    case 'approval_conflict':
      return { status: 409, body: { error: 'conflict', message: error.message } };
    case 'approval_not_found':
      return { status: 404, body: { error: 'not_found', message: error.message } };
    case 'approval_forbidden':
      return { status: 403, body: { error: 'forbidden', message: error.message } };
    default:
      return undefined;
  }
}

/**
 * The approval inbox, behind `approverOrAdmin`: list, read, approve, reject. An approver may
 * answer the requests whose rule names one of its tags (or names none); the admin any of them.
 */
export const approvalRoutes: FastifyPluginAsyncZod<ApprovalRoutesOptions> = async (app, { guard }) => {
  app.addHook('onRequest', app.getDecorator<AuthHook>('approverOrAdmin'));
  const security: Array<Record<string, string[]>> = [{ approverToken: [] }, { adminToken: [] }];

  app.get(
    '/v1/approvals',
    {
      schema: {
        summary: 'List approval requests',
        description:
          'Approval requests newest first, filtered by `status` (`pending` is the inbox), `agent` or `traceId`; a page at a time (an approver sees only the requests whose rule names one of its tags, or names none, so a page may hold fewer than `limit`). Requests past their deadline are expired first.',
        querystring: ApprovalListQuerySchema,
        response: { 200: ApprovalPageReplySchema, ...approverAuthErrors, ...queryErrors },
        security,
      },
    },
    async (request) => {
      const page = await approvalsOf(guard).list(request.query);
      // An approver sees the requests it may answer, nobody else's arguments.
      const approver = request.approver!;
      return { ...page, approvals: page.approvals.filter((a) => approverRefusal(a, approver) === undefined) };
    },
  );

  app.get(
    '/v1/approvals/:id',
    {
      schema: {
        summary: 'Read an approval request',
        description:
          'One approval request, with the exact arguments to judge. 404 when there is none, or when its rule names approver tags this approver does not have.',
        params: ApprovalParamsSchema,
        response: { 200: ApprovalReplySchema, ...approverAuthErrors, 400: queryErrors[400], 404: notFound },
        security,
      },
    },
    async (request, reply) => {
      const approval = await approvalsOf(guard).get(request.params.id);
      // One the approver may not answer is as unknown to it as one that does not exist.
      if (!approval || approverRefusal(approval, request.approver!) !== undefined)
        return reply
          .code(404)
          .send({ error: 'not_found', message: `there is no approval request ${request.params.id}` });
      return approval;
    },
  );

  for (const [verb, approve] of [
    ['approve', true],
    ['reject', false],
  ] as const) {
    app.post(
      `/v1/approvals/:id/${verb}`,
      {
        schema: {
          summary: approve ? 'Approve a request' : 'Reject a request',
          description: `${approve ? 'Approves' : 'Rejects'} a pending request, recorded in the trail as \`${approve ? 'approval_granted' : 'approval_rejected'}\` with the approver as actor. The first answer wins: 409 when the request was answered already or has expired. 403 when the request's rule names approver tags this approver does not have.`,
          params: ApprovalParamsSchema,
          body: AnswerApprovalBodySchema.nullish(),
          response: {
            200: ApprovalReplySchema,
            ...approverAuthErrors,
            ...bodyErrors,
            403: errorReply("An agent token, or an approver the request's rule does not name."),
            404: notFound,
            409: errorReply(
              'The request was answered already, expired or was cancelled (the first answer wins).',
            ),
          },
          security,
        },
      },
      async (request, reply) => {
        const approver = request.approver!;
        try {
          return await approvalsOf(guard).answer(
            request.params.id,
            { approve, by: approver.name, comment: request.body?.comment },
            approver,
          );
        } catch (error) {
          const refusal = answerRefusal(error);
          if (refusal) return reply.code(refusal.status).send(refusal.body);
          throw error;
        }
      },
    );
  }
};

/**
 * The agent's side, behind `agentOnly`: an agent reads (and waits on) the requests its own
 * decisions opened, never anyone else's, never the arguments back.
 */
export const agentApprovalRoutes: FastifyPluginAsyncZod<ApprovalRoutesOptions> = async (app, { guard }) => {
  app.addHook('onRequest', app.getDecorator<AuthHook>('agentOnly'));

  app.get(
    '/v1/agent/approvals/:id',
    {
      schema: {
        summary: "Wait on one's own approval request",
        description:
          "The status of an approval request this agent's check opened; with `waitMs`, waits (long poll, at most 60 s) until it is answered or expires. 404 for a request of another agent, as for an unknown one.",
        params: ApprovalParamsSchema,
        querystring: AgentApprovalQuerySchema,
        response: { 200: AgentApprovalReplySchema, ...agentAuthErrors, ...queryErrors, 404: notFound },
        security: [{ agentToken: [] }],
      },
    },
    async (request, reply) => {
      const approvals = approvalsOf(guard);
      const agent = request.agent!;
      const missing = () =>
        reply.code(404).send({
          error: 'not_found',
          message: `there is no approval request ${request.params.id} of this agent`,
        });
      const approval = await approvals.get(request.params.id);
      if (!approval || approval.agent.id !== agent.id) return missing();
      if (approval.status !== 'pending' || request.query.waitMs === 0) return approvalState(approval);
      // A client that goes away stops the wait.
      const stop = new AbortController();
      request.raw.once('close', () => stop.abort());
      const answered = await approvals.wait(approval.id, {
        timeoutMs: request.query.waitMs,
        signal: stop.signal,
      });
      return approvalState(answered);
    },
  );
};

/** Managing approvers, behind `adminOnly`. */
export const approverAdminRoutes: FastifyPluginAsyncZod<ApprovalRoutesOptions> = async (app, { state }) => {
  app.addHook('onRequest', app.getDecorator<AuthHook>('adminOnly'));

  app.post(
    '/v1/approvers',
    {
      schema: {
        summary: 'Create an approver',
        description:
          'Creates a person who answers approval requests, and their token (shown once): it reads and answers approvals, nothing else.',
        body: CreateApproverBodySchema,
        response: { 201: CreateApproverReplySchema, ...adminAuthErrors, ...bodyErrors },
        security: [{ adminToken: [] }],
      },
    },
    async (request, reply) => reply.code(201).send(await createApprover(state, request.body)),
  );

  app.get(
    '/v1/approvers',
    {
      schema: {
        summary: 'List the approvers',
        description: 'The approvers, revoked ones with `revokedAt`.',
        response: { 200: ApproverListReplySchema, ...adminAuthErrors },
        security: [{ adminToken: [] }],
      },
    },
    async () => ({ approvers: await state.listApprovers() }),
  );

  app.post(
    '/v1/approvers/:id/revoke',
    {
      schema: {
        summary: 'Revoke an approver',
        description: 'Revokes an approver: its token fails from its next request. 404 when there is none.',
        params: ApproverParamsSchema,
        response: {
          204: z.null().describe('Revoked (no body).'),
          ...adminAuthErrors,
          ...deleteErrors,
          404: errorReply('No approver has this id.'),
        },
        security: [{ adminToken: [] }],
      },
    },
    async (request, reply) => {
      if (!(await state.revokeApprover(request.params.id))) {
        return reply
          .code(404)
          .send({ error: 'not_found', message: `there is no approver ${request.params.id}` });
      }
      return reply.code(204).send(null);
    },
  );
};
