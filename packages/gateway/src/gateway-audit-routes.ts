import type { AuditStore, EmbeddedGuard } from '@meshguard/core';
import { canFollow, canReportStats } from '@meshguard/core/internal';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AuthHook } from './gateway-auth';
import { adminAuthErrors, notImplemented, queryErrors } from './gateway-error-replies';
import {
  AuditPageSchema,
  AuditQuerySchema,
  StatsQuerySchema,
  StatsReplySchema,
  TailQuerySchema,
  TailReplySchema,
  VerifyReplySchema,
} from './gateway-schemas';

export interface AuditRoutesOptions {
  store: AuditStore;
  /** Asked to settle the appends in flight (and the journal) before the trail is read. */
  guard: EmbeddedGuard;
}

/** Reading the audit trail, behind `adminOnly`: query, follow, count, verify. */
export const auditRoutes: FastifyPluginAsyncZod<AuditRoutesOptions> = async (app, { store, guard }) => {
  app.addHook('onRequest', app.getDecorator<AuthHook>('adminOnly'));

  app.get(
    '/v1/audit',
    {
      schema: {
        summary: 'Query the audit trail',
        description:
          'Queries the audit trail: filters as query parameters, a page of events, and a cursor for the next page. Time filters take ISO date-times. Each event is an AuditEvent v1 ([audit-events.md](audit-events.md)).',
        querystring: AuditQuerySchema,
        response: { 200: AuditPageSchema, ...adminAuthErrors, ...queryErrors },
        security: [{ adminToken: [] }],
      },
    },
    async (request) => {
      // Read-your-writes: on a journaling store, decisions are committed behind their replies.
      await guard.settled();
      return store.query(request.query);
    },
  );

  // What the CLI's `audit tail` and `audit stats` need, where the store can answer it.
  app.get(
    '/v1/audit/tail',
    {
      schema: {
        summary: 'Follow the audit trail',
        description:
          'The latest events (`lines`, default 20), or the events recorded after a cursor (`after`), with the cursor to follow from: what `meshguard audit tail -f` polls. 501 on a store that cannot follow the trail (memory).',
        querystring: TailQuerySchema,
        response: { 200: TailReplySchema, ...adminAuthErrors, ...queryErrors, 501: notImplemented },
        security: [{ adminToken: [] }],
      },
    },
    async (request, reply) => {
      if (!canFollow(store)) {
        return reply.code(501).send({
          error: 'not_implemented',
          message: `a ${store.kind} store cannot follow the trail`,
        });
      }
      await guard.settled(); // appends in flight first (read-your-writes)
      return request.query.after !== undefined
        ? store.after(request.query.after)
        : store.latest(request.query.lines ?? 20);
    },
  );

  app.get(
    '/v1/audit/stats',
    {
      schema: {
        summary: 'Count the audit trail',
        description:
          'Counts over the trail between `since` and `until`: the total, and by effect, action, agent and event type (what `meshguard audit stats` shows). 501 on a store without counts (memory).',
        querystring: StatsQuerySchema,
        response: { 200: StatsReplySchema, ...adminAuthErrors, ...queryErrors, 501: notImplemented },
        security: [{ adminToken: [] }],
      },
    },
    async (request, reply) => {
      if (!canReportStats(store)) {
        return reply
          .code(501)
          .send({ error: 'not_implemented', message: `a ${store.kind} store has no stats` });
      }
      await guard.settled();
      return store.stats(request.query);
    },
  );

  app.get(
    '/v1/audit/verify',
    {
      schema: {
        summary: 'Verify the hash chains',
        description:
          'Verifies the hash chain of every stream and reports the first broken event, if any (`ok`, `checked`, `streams`, `problem`).',
        response: { 200: VerifyReplySchema, ...adminAuthErrors },
        security: [{ adminToken: [] }],
      },
    },
    async () => {
      await guard.settled();
      return store.verify();
    },
  );
};
