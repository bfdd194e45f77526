import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStore, createRemoteGuard } from '@meshguard/core';
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
name: team
version: "1"
rules:
  - effect: allow
    actions: ["handoff:*", "read:*"]
  - id: billing-refunds
    effect: allow
    actions: ["write:refund"]
    conditions: { trust_tier_min: verified }
`;

describe('agents given by gateway tokens', () => {
  it('decides each SDK agent as the agent its token names, through the gateway', async () => {
    const store = createMemoryStore();
    const gateway = await createGateway({
      store,
      state: openSqliteGatewayState(':memory:'),
      adminToken: ADMIN,
      policies: [{ name: 'team.yaml', text: POLICY }],
    });
    const spool = mkdtempSync(join(tmpdir(), 'mg-oa-spool-'));
    try {
      await gateway.app.listen({ port: 0, host: '127.0.0.1' });
      const url = `http://127.0.0.1:${(gateway.app.server.address() as { port: number }).port}`;
      const issue = async (name: string, tier: string) =>
        (
          (await (
            await fetch(`${url}/v1/agents`, {
              method: 'POST',
              headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
              body: JSON.stringify({ name, tier }),
            })
          ).json()) as { token: string }
        ).token;
      const tier1Token = await issue('tier1-bot', 'basic');
      const billingToken = await issue('billing-bot', 'verified');

      const tools = supportTools();
      const model = new ScriptedModel([
        [functionCall('process_refund', { order_id: 'A', amount: 20, reason: 'x' }, { callId: 'c1' })],
        [functionCall('transfer_to_Billing_Specialist', {}, { callId: 'c2' })],
        [functionCall('process_refund', { order_id: 'A', amount: 20, reason: 'x' }, { callId: 'c3' })],
        [assistantMessage('Refunded by billing.')],
      ]);
      const billing = new Agent({
        name: 'Billing Specialist',
        instructions: 'b',
        model,
        tools: [tools.processRefund],
      });
      const tier1 = new Agent({
        name: 'Tier 1 Support',
        instructions: 't',
        model,
        tools: [tools.processRefund],
        handoffs: [billing],
      });
      const guard = createRemoteGuard({ url, agentToken: tier1Token, adminToken: ADMIN, spoolDir: spool });
      const options = {
        guard,
        identities: { 'Tier 1 Support': tier1Token, 'Billing Specialist': billingToken },
        actions: SUPPORT_ACTIONS,
        traceId: 'trace_tokens',
      };
      const result = await runGoverned(governAgent(tier1, options), 'Refund order A', {
        ...options,
        runner: new Runner({ tracingDisabled: true }),
      });
      await guard.close();
      expect(result.finalOutput).toBe('Refunded by billing.');
      expect(tools.ran).toEqual(['process_refund A 20']);
      const events = (await store.query({ traceId: 'trace_tokens', order: 'asc' })).events;
      expect(
        events.filter((e) => e.type === 'decision').map((e) => `${e.agent.name} ${e.action} ${e.effect}`),
      ).toEqual([
        'tier1-bot write:refund deny',
        'tier1-bot handoff:Billing Specialist allow',
        'billing-bot write:refund allow',
      ]);
      expect(
        events.filter((e) => e.type === 'outcome').map((e) => `${e.agent.name} ${e.action} ${e.outcome}`),
      ).toEqual([
        'tier1-bot write:refund blocked',
        'tier1-bot handoff:Billing Specialist success',
        'billing-bot write:refund success',
      ]);
    } finally {
      await gateway.close();
      rmSync(spool, { recursive: true, force: true });
    }
  });
});
