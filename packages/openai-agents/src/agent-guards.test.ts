import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStore, createRemoteGuard, type RemoteGuard } from '@meshguard/core';
import { createGateway } from '@meshguard/gateway';
import { openSqliteGatewayState } from '@meshguard/store';
import { Agent, Runner } from '@openai/agents';
import { assistantMessage, functionCall, ScriptedModel } from '@openai/agents/testing';
import { describe, expect, it } from 'vitest';
import { governAgent } from './govern-agent';
import { runGoverned } from './governed-run';
import { SUPPORT_ACTIONS, supportTools } from './support-fixtures';

const ADMIN = 'adapter-admin-token-0123456789ab';
const POLICY = `
name: billing
version: "1"
rules:
  - effect: allow
    actions: ["write:refund"]
`;

const request = { action: 'write:refund', agent: { id: 'b', name: 'b', tags: [], tier: 'basic' as const } };

/** A fetch that never answers the billing agent's checks and cannot deliver its outcomes. */
function slowFor(token: string): typeof fetch {
  return async (input, init) => {
    const bearer = new Headers(init?.headers).get('authorization');
    const path = new URL(String(input)).pathname;
    if (bearer === `Bearer ${token}` && path === '/v1/check') {
      const signal = init?.signal;
      return new Promise<Response>((_, reject) =>
        signal?.addEventListener('abort', () => reject(signal.reason)),
      );
    }
    if (bearer === `Bearer ${token}` && path === '/v1/audit') throw new TypeError('fetch failed');
    return fetch(input, init);
  };
}

describe('the guards of agents given by token', () => {
  it('keep every setting of the gateway guard (timeoutMs, spoolDir, fetch) and close when the run ends', async () => {
    const gateway = await createGateway({
      store: createMemoryStore(),
      state: openSqliteGatewayState(':memory:'),
      adminToken: ADMIN,
      policies: [{ name: 'billing.yaml', text: POLICY }],
    });
    const spool = mkdtempSync(join(tmpdir(), 'mg-oa-agent-spool-'));
    try {
      await gateway.app.listen({ port: 0, host: '127.0.0.1' });
      const url = `http://127.0.0.1:${(gateway.app.server.address() as { port: number }).port}`;
      const issue = async (name: string) =>
        (
          (await (
            await fetch(`${url}/v1/agents`, {
              method: 'POST',
              headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
              body: JSON.stringify({ name, tier: 'verified' }),
            })
          ).json()) as { token: string }
        ).token;
      const hostToken = await issue('host');
      const billingToken = await issue('Billing Specialist');
      const guard = createRemoteGuard({
        url,
        agentToken: hostToken,
        adminToken: ADMIN,
        spoolDir: spool,
        timeoutMs: 300,
        fetch: slowFor(billingToken),
      });
      // Every guard made for an agent's token, to see that it is closed after the run.
      const made: RemoteGuard[] = [];
      const withAgentToken = guard.withAgentToken;
      guard.withAgentToken = (token) => {
        const agentGuard = withAgentToken(token);
        made.push(agentGuard);
        return agentGuard;
      };

      const tools = supportTools();
      const runOnce = async () => {
        const model = new ScriptedModel([
          [functionCall('process_refund', { order_id: 'A', amount: 20, reason: 'x' }, { callId: 'c1' })],
          [assistantMessage('Could not refund.')],
        ]);
        const billing = new Agent({
          name: 'Billing Specialist',
          instructions: 'b',
          model,
          tools: [tools.processRefund],
        });
        const options = {
          guard,
          identities: { 'Billing Specialist': billingToken },
          actions: SUPPORT_ACTIONS,
        };
        return runGoverned(governAgent(billing, options), 'Refund order A', {
          ...options,
          runner: new Runner({ tracingDisabled: true }),
        });
      };

      const result = await runOnce();
      expect(result.finalOutput).toBe('Could not refund.');
      expect(tools.ran).toEqual([]);
      // timeoutMs: the billing agent's check gave up after the gateway guard's 300 ms, not 2000.
      const output = result.newItems.find((item) => item.type === 'tool_call_output_item');
      expect(JSON.stringify(output?.rawItem)).toMatch(/did not answer within 300 ms/);
      // spoolDir: what the billing agent's guard could not deliver waits in the gateway guard's spool.
      const spooled = readdirSync(spool)
        .map((file) => readFileSync(join(spool, file), 'utf8'))
        .join('\n');
      expect(spooled).toMatch(/"outcome":"blocked"/);
      // Closed with the run.
      expect(made).toHaveLength(1);
      await expect(made[0]!.check(request)).rejects.toThrow(/closed/);

      // The next run opens a guard of its own and closes it too.
      await runOnce();
      expect(made).toHaveLength(2);
      await expect(made[1]!.check(request)).rejects.toThrow(/closed/);
      await guard.close();
    } finally {
      await gateway.close();
      rmSync(spool, { recursive: true, force: true });
    }
  });
});
