// `@meshguard/gateway/testing`: a real gateway on 127.0.0.1 for adapters' and hosts' tests, with
// the people around it: agents with their tokens, approvers answering approval requests, and the
// trail as the admin reads it.
import { randomBytes } from 'node:crypto';
import { type AuditEvent, createMemoryStore } from '@meshguard/core';
import { openSqliteGatewayState } from '@meshguard/store';
import { createGateway } from './gateway-app';

/** A gateway for tests, listening on 127.0.0.1 (see `startTestGateway`). */
export interface TestGateway {
  url: string;
  adminToken: string;
  /** Issues an agent and returns its token. */
  agentToken(agent: { name: string; tier?: string; tags?: string[] }): Promise<string>;
  /** Creates an approver and returns their token. */
  approverToken(name: string, tags?: string[]): Promise<string>;
  /** Answers an approval request as the holder of `token` (an approver's, the admin's, an agent's): the HTTP status. */
  answer(id: string, verdict: 'approve' | 'reject', token: string, comment?: string): Promise<number>;
  /** The events of a trace, oldest first, as the admin reads them. */
  trail(traceId: string): Promise<AuditEvent[]>;
  close(): Promise<void>;
}

/**
 * Starts a gateway over an in-memory trail and gateway state with `policies`, on a free port of
 * 127.0.0.1. Close it after the test.
 *
 * @example
 * const gateway = await startTestGateway([{ name: 'refunds.yaml', text: POLICY }]);
 * const guard = createRemoteGuard({ url: gateway.url, agentToken: await gateway.agentToken({ name: 'bot' }) });
 */
export async function startTestGateway(
  policies: Array<{ name: string; text: string }>,
): Promise<TestGateway> {
  // Random: another local process cannot act as admin on the port while the test runs.
  const adminToken = `test-admin-${randomBytes(24).toString('hex')}`;
  const gateway = await createGateway({
    store: createMemoryStore(),
    state: openSqliteGatewayState(':memory:'),
    adminToken,
    policies,
  });
  await gateway.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(gateway.app.server.address() as { port: number }).port}`;
  const post = async (path: string, token: string, body: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const created = async (path: string, body: unknown) => {
    const { status, body: reply } = await post(path, adminToken, body);
    if (status !== 201 || typeof reply.token !== 'string') {
      throw new Error(`POST ${path} answered ${status}: ${JSON.stringify(reply)}`);
    }
    return reply.token;
  };
  return {
    url,
    adminToken,
    agentToken: (agent) => created('/v1/agents', { tier: 'verified', ...agent }),
    approverToken: (name, tags = []) => created('/v1/approvers', { name, tags }),
    answer: async (id, verdict, token, comment) =>
      (
        await post(
          `/v1/approvals/${encodeURIComponent(id)}/${verdict}`,
          token,
          comment === undefined ? {} : { comment },
        )
      ).status,
    trail: async (traceId) => {
      const query = `traceId=${encodeURIComponent(traceId)}&order=asc&limit=1000`;
      const response = await fetch(`${url}/v1/audit?${query}`, {
        headers: { authorization: `Bearer ${adminToken}` },
      });
      if (!response.ok) throw new Error(`GET /v1/audit answered ${response.status}`);
      return ((await response.json()) as { events: AuditEvent[] }).events;
    },
    close: () => gateway.app.close(),
  };
}
