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
const TIER1 = `
name: tier1
version: "1"
appliesTo: { tags: [tier1] }
rules:
  - effect: allow
    actions: ["handoff:*", "read:*"]
delegation: { permissionCeiling: ["read:*"] }
`;
const BILLING = `
name: billing
version: "1"
appliesTo: { tags: [billing] }
rules:
  - effect: allow
    actions: ["read:*", "write:refund"]
`;

describe('delegation over the gateway', () => {
  it("keeps the handing-off agent's ceiling on the target: its guard carries the delegated token", async () => {
    const store = createMemoryStore();
    const gateway = await createGateway({
      store,
      state: openSqliteGatewayState(':memory:'),
      adminToken: ADMIN,
      policies: [
        { name: 'tier1.yaml', text: TIER1 },
        { name: 'billing.yaml', text: BILLING },
      ],
    });
    const spool = mkdtempSync(join(tmpdir(), 'mg-oa-spool-'));
    try {
      await gateway.app.listen({ port: 0, host: '127.0.0.1' });
      const url = `http://127.0.0.1:${(gateway.app.server.address() as { port: number }).port}`;
      // Registered under the SDK agents' names: the gateway finds a handoff's target by name.
      const issue = async (name: string, tags: string[]) =>
        (
          (await (
            await fetch(`${url}/v1/agents`, {
              method: 'POST',
              headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
              body: JSON.stringify({ name, tags, tier: 'verified' }),
            })
          ).json()) as { token: string }
        ).token;
      const tier1Token = await issue('Tier 1 Support', ['tier1']);
      const billingToken = await issue('Billing Specialist', ['billing']);

      const tools = supportTools();
      const model = new ScriptedModel([
        [functionCall('transfer_to_Billing_Specialist', {}, { callId: 'c1' })],
        [functionCall('process_refund', { order_id: 'A', amount: 20, reason: 'x' }, { callId: 'c2' })],
        [assistantMessage('Billing could not refund.')],
      ]);
      const billing = new Agent({
        name: 'Billing Specialist',
        instructions: 'b',
        model,
        tools: [tools.processRefund],
      });
      const tier1 = new Agent({ name: 'Tier 1 Support', instructions: 't', model, handoffs: [billing] });
      const guard = createRemoteGuard({ url, agentToken: tier1Token, adminToken: ADMIN, spoolDir: spool });
      const options = {
        guard,
        identities: { 'Tier 1 Support': tier1Token, 'Billing Specialist': billingToken },
        actions: SUPPORT_ACTIONS,
        traceId: 'trace_delegated',
      };
      const result = await runGoverned(governAgent(tier1, options), 'Refund order A', {
        ...options,
        runner: new Runner({ tracingDisabled: true }),
      });
      await guard.close();
      expect(result.finalOutput).toBe('Billing could not refund.');
      // Billing may refund on its own, but not for Tier 1, whose ceiling is read:*.
      expect(tools.ran).toEqual([]);
      const decisions = (await store.query({ traceId: 'trace_delegated', type: 'decision', order: 'asc' }))
        .events;
      expect(decisions.map((e) => `${e.agent.name} ${e.action} ${e.effect}`)).toEqual([
        'Tier 1 Support handoff:Billing Specialist allow',
        'Billing Specialist write:refund deny',
      ]);
      expect(decisions[1]!.reason).toMatch(
        /outside the permission ceiling \[read:\*\] that policy tier1 sets/,
      );
      // The chain is the gateway's verified one: the agent ids it issued, not the SDK's names.
      expect(decisions[1]!.delegation?.map((a) => `${a.name} ${a.tier}`)).toEqual([
        'Tier 1 Support verified',
      ]);
    } finally {
      await gateway.close();
      rmSync(spool, { recursive: true, force: true });
    }
  });
});
