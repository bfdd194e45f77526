import { Agent, Runner, RunState } from '@openai/agents';
import { assistantMessage, functionCall, ScriptedModel } from '@openai/agents/testing';
import { describe, expect, it } from 'vitest';
import { governAgent } from './govern-agent';
import { approvalDecision, approveToolCall, rejectToolCall, runGoverned } from './governed-run';
import { REFUND_APPROVAL_POLICY, seedGuard, supportOptions, supportTools, trail } from './support-fixtures';

function refundAgent(model: ScriptedModel) {
  const tools = supportTools();
  const agent = new Agent({
    name: 'Customer Support Agent',
    instructions: 'Process refunds.',
    model,
    tools: [tools.processRefund],
  });
  return { tools, agent };
}

const refundCall = (callId: string, amount = 79.99) => [
  functionCall('process_refund', { order_id: 'ORD-7', amount, reason: 'damaged' }, { callId }),
];

describe('approval interruptions', () => {
  it('approved after a RunState round trip: who approved is recorded and the refund runs once', async () => {
    const { guard, store } = seedGuard([REFUND_APPROVAL_POLICY]);
    const model = new ScriptedModel([
      refundCall('call_a1'),
      [assistantMessage('Refund done after approval.')],
    ]);
    const { tools, agent } = refundAgent(model);
    const options = supportOptions(guard, 'trace_approved');
    const governed = governAgent(agent, options);
    const runner = new Runner({ tracingDisabled: true });

    const first = await runner.run(governed, 'Refund $79.99 for ORD-7');
    expect(first.interruptions).toHaveLength(1);
    expect(approvalDecision(first.state, first.interruptions[0]!)).toMatchObject({
      effect: 'require_approval',
      rule: { id: 'refunds-over-50' },
    });
    expect(tools.ran).toEqual([]);

    // Another process picks the run up from its serialized state.
    const state = await RunState.fromString(governed, first.state.toString());
    const item = state.getInterruptions()[0]!;
    await approveToolCall(state, item, { by: 'manager@acme.test' }, options);
    const second = await runner.run(governed, state);
    expect(second.finalOutput).toBe('Refund done after approval.');
    expect(tools.ran).toEqual(['process_refund ORD-7 79.99']);
    model.assertComplete();

    const events = (await store.query({ traceId: 'trace_approved', order: 'asc' })).events;
    // Checked again when the approved call runs (a deny since would still win); the approval and
    // the outcome join the decision that was approved.
    expect(trail(events)).toEqual([
      'decision Customer Support Agent write:refund require_approval',
      'outcome Customer Support Agent write:refund require_approval/approved',
      'decision Customer Support Agent write:refund require_approval',
      'outcome Customer Support Agent write:refund require_approval/success',
    ]);
    expect(events[1]).toMatchObject({ actor: 'manager@acme.test', decisionId: events[0]!.decisionId });
    expect(events[3]!.decisionId).toBe(events[0]!.decisionId);
    expect(events[0]!.spanId).toBe('call:call_a1');
  });

  it('rejected after a RunState round trip: the model gets the message, the refund never runs', async () => {
    const { guard, store } = seedGuard([REFUND_APPROVAL_POLICY]);
    const model = new ScriptedModel([
      refundCall('call_b1'),
      [assistantMessage('The refund was not approved.')],
    ]);
    const { tools, agent } = refundAgent(model);
    const options = supportOptions(guard, 'trace_rejected');
    const governed = governAgent(agent, options);
    const runner = new Runner({ tracingDisabled: true });

    const first = await runner.run(governed, 'Refund $79.99 for ORD-7');
    const state = await RunState.fromString(governed, first.state.toString());
    await rejectToolCall(
      state,
      state.getInterruptions()[0]!,
      { by: 'manager@acme.test', message: 'Not covered by warranty' },
      options,
    );
    const second = await runner.run(governed, state);
    expect(second.finalOutput).toBe('The refund was not approved.');
    const toolOutput = model.lastCall!.request.input as Array<{ type: string; output?: unknown }>;
    expect(JSON.stringify(toolOutput.filter((i) => i.type === 'function_call_result'))).toContain(
      'Not covered by warranty',
    );
    expect(tools.ran).toEqual([]);

    const events = (await store.query({ traceId: 'trace_rejected', order: 'asc' })).events;
    expect(trail(events)).toEqual([
      'decision Customer Support Agent write:refund require_approval',
      'outcome Customer Support Agent write:refund require_approval/rejected',
    ]);
    expect(events[1]).toMatchObject({ actor: 'manager@acme.test', reason: 'Not covered by warranty' });
  });

  it('runGoverned answers approvals through a callback in the same process', async () => {
    const { guard, store } = seedGuard([REFUND_APPROVAL_POLICY]);
    const model = new ScriptedModel([refundCall('call_c1'), [assistantMessage('First refund approved.')]]);
    const { tools, agent } = refundAgent(model);
    const options = supportOptions(guard, 'trace_callback');
    const asked: string[] = [];
    const result = await runGoverned(governAgent(agent, options), 'Refund ORD-7', {
      ...options,
      runner: new Runner({ tracingDisabled: true }),
      onApprovalRequired: (item, decision) => {
        asked.push(`${item.toolName ?? ''} ${decision?.effect}`);
        return { approve: true, by: 'oncall@acme.test' };
      },
    });
    expect(result.finalOutput).toBe('First refund approved.');
    expect(asked).toEqual(['process_refund require_approval']);
    expect(tools.ran).toEqual(['process_refund ORD-7 79.99']);
    const events = (await store.query({ traceId: 'trace_callback', order: 'asc' })).events;
    expect(trail(events)).toEqual([
      'decision Customer Support Agent write:refund require_approval',
      'outcome Customer Support Agent write:refund require_approval/approved',
      'outcome Customer Support Agent write:refund require_approval/success',
    ]);
    expect(events[1]!.actor).toBe('oncall@acme.test');
  });
});
