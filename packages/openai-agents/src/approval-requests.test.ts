import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileParking } from '@meshguard/core';
import { Agent, Runner } from '@openai/agents';
import { assistantMessage, functionCall, ScriptedModel } from '@openai/agents/testing';
import { describe, expect, it } from 'vitest';
import { governAgent } from './govern-agent';
import { runGoverned } from './governed-run';
import { parkedApprovals } from './parked-runs';
import {
  REFUND_APPROVAL_POLICY,
  seedGuard,
  seedGuardWithoutApprovals,
  supportOptions,
  supportTools,
  trail,
} from './support-fixtures';

const HANDOFF_APPROVAL = `
name: handoff-approvals
version: "1"
appliesTo: { tags: [support] }
rules:
  - effect: require_approval
    actions: ["handoff:Billing Specialist"]
`;

describe('approval requests nobody can answer', () => {
  it('a handoff policy sends for approval is refused at once, and its request withdrawn from the inbox', async () => {
    const { guard, store } = seedGuard([HANDOFF_APPROVAL]);
    const model = new ScriptedModel([
      [functionCall('transfer_to_Billing_Specialist', {}, { callId: 'call_h1' })],
      [assistantMessage('I cannot transfer you yet.')],
    ]);
    const billing = new Agent({ name: 'Billing Specialist', instructions: 'Billing.', model });
    const tier1 = new Agent({ name: 'Tier 1 Support', instructions: 'Triage.', model, handoffs: [billing] });
    const options = supportOptions(guard, 'trace_handoff_approval');
    const result = await new Runner({ tracingDisabled: true }).run(
      governAgent(tier1, options),
      'Billing please',
    );
    expect(result.finalOutput).toBe('I cannot transfer you yet.');
    expect(result.lastAgent?.name).toBe('Tier 1 Support');
    const { approvals } = await guard.approvals!.list();
    expect(approvals).toHaveLength(1);
    expect(approvals[0]).toMatchObject({ status: 'cancelled', answeredBy: 'meshguard' });
    const events = (await store.query({ traceId: 'trace_handoff_approval', order: 'asc' })).events;
    expect(trail(events)).toContain('approval_cancelled Tier 1 Support handoff:Billing Specialist deny');
  });
});

describe('parking with a guard that keeps no approval requests', () => {
  it('parks nothing: the interruptions are the host’s, as before', async () => {
    const { guard } = seedGuardWithoutApprovals([REFUND_APPROVAL_POLICY]);
    const parking = createFileParking(join(mkdtempSync(join(tmpdir(), 'mg-oa-noapr-')), 'parked'));
    const model = new ScriptedModel([
      [
        functionCall(
          'process_refund',
          { order_id: 'ORD-7', amount: 79.99, reason: 'damaged' },
          { callId: 'c1' },
        ),
      ],
    ]);
    const tools = supportTools();
    const options = supportOptions(guard, 'trace_no_parking');
    const agent = new Agent({
      name: 'Customer Support Agent',
      instructions: 'x',
      model,
      tools: [tools.processRefund],
    });
    const result = await runGoverned(governAgent(agent, options), 'Refund', {
      ...options,
      runner: new Runner({ tracingDisabled: true }),
      parking,
    });
    expect(result.interruptions).toHaveLength(1);
    expect(parkedApprovals(result)).toEqual([]);
    expect(await parking.list()).toEqual([]);
    expect(tools.ran).toEqual([]);
  });
});
