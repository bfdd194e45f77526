import { Agent, Runner, RunState } from '@openai/agents';
import { assistantMessage, functionCall, ScriptedModel } from '@openai/agents/testing';
import { describe, expect, it } from 'vitest';
import { governAgent } from './govern-agent';
import { approvalDecision, approveToolCall, rejectToolCall, runGoverned } from './governed-run';
import {
  REFUND_APPROVAL_POLICY,
  seedGuard,
  seedGuardWithoutApprovals,
  supportOptions,
  supportTools,
  trail,
} from './support-fixtures';

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

/** The tool outputs the model received on its last call. */
function toolOutputs(model: ScriptedModel): string {
  const input = model.lastCall!.request.input as Array<{ type: string; output?: unknown }>;
  return JSON.stringify(input.filter((i) => i.type === 'function_call_result'));
}

describe('approval interruptions, answered on the approval request', () => {
  it('approved after a RunState round trip: the approval is recorded with who, the refund runs once under it', async () => {
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
    const asked = approvalDecision(first.state, first.interruptions[0]!);
    expect(asked).toMatchObject({
      effect: 'require_approval',
      rule: { id: 'refunds-over-50' },
      approval: { status: 'pending' },
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
    // The approval is the request's; the call is checked again with it when it runs (a deny since
    // would still win) and the outcome joins that allow.
    expect(trail(events)).toEqual([
      'decision Customer Support Agent write:refund require_approval',
      'approval_requested Customer Support Agent write:refund require_approval',
      'approval_granted Customer Support Agent write:refund allow',
      'decision Customer Support Agent write:refund allow',
      'outcome Customer Support Agent write:refund allow/success',
    ]);
    const id = asked!.approval!.id;
    expect(events[0]).toMatchObject({ approvalId: id, spanId: 'call:call_a1' });
    expect(events[2]).toMatchObject({ actor: 'manager@acme.test', approvalId: id });
    expect(events[3]).toMatchObject({ approvalId: id, spanId: 'call:call_a1' });
    expect(events[4]!.decisionId).toBe(events[3]!.decisionId);
    expect(await guard.approvals!.get(id)).toMatchObject({ status: 'approved', usedAt: expect.any(String) });
  });

  it('rejected after a RunState round trip: the model reads who rejected it and why, the refund never runs', async () => {
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
    await rejectToolCall(state, state.getInterruptions()[0]!, { by: 'manager@acme.test' }, options);
    const second = await runner.run(governed, state);
    expect(second.finalOutput).toBe('The refund was not approved.');
    expect(toolOutputs(model)).toMatch(
      /Blocked by policy: Rejected by manager@acme.test \(approval apr_\w+\)/,
    );
    expect(tools.ran).toEqual([]);

    const events = (await store.query({ traceId: 'trace_rejected', order: 'asc' })).events;
    expect(trail(events)).toEqual([
      'decision Customer Support Agent write:refund require_approval',
      'approval_requested Customer Support Agent write:refund require_approval',
      'approval_rejected Customer Support Agent write:refund deny',
    ]);
    expect(events[2]).toMatchObject({ actor: 'manager@acme.test' });
  });

  it('runGoverned answers approvals through a callback: the trail has the request, who approved, the allow, the outcome', async () => {
    const { guard, store } = seedGuard([REFUND_APPROVAL_POLICY]);
    const model = new ScriptedModel([refundCall('call_c1'), [assistantMessage('First refund approved.')]]);
    const { tools, agent } = refundAgent(model);
    const options = supportOptions(guard, 'trace_callback');
    const asked: string[] = [];
    const result = await runGoverned(governAgent(agent, options), 'Refund ORD-7', {
      ...options,
      runner: new Runner({ tracingDisabled: true }),
      onApprovalRequired: (item, decision) => {
        asked.push(`${item.toolName ?? ''} ${decision?.effect} ${decision?.approval?.status}`);
        return { approve: true, by: 'oncall@acme.test', message: 'known customer' };
      },
    });
    expect(result.finalOutput).toBe('First refund approved.');
    expect(asked).toEqual(['process_refund require_approval pending']);
    expect(tools.ran).toEqual(['process_refund ORD-7 79.99']);
    const events = (await store.query({ traceId: 'trace_callback', order: 'asc' })).events;
    expect(trail(events)).toEqual([
      'decision Customer Support Agent write:refund require_approval',
      'approval_requested Customer Support Agent write:refund require_approval',
      'approval_granted Customer Support Agent write:refund allow',
      'decision Customer Support Agent write:refund allow',
      'outcome Customer Support Agent write:refund allow/success',
    ]);
    const approvalId = events[0]!.approvalId;
    expect(events[2]).toMatchObject({ actor: 'oncall@acme.test', approvalId });
    expect(events[3]).toMatchObject({
      approvalId,
      reason: expect.stringContaining('Approved by oncall@acme.test'),
    });
    expect(events[4]!.decisionId).toBe(events[3]!.decisionId);
    expect((await guard.approvals!.get(approvalId!))?.comment).toBe('known customer');
  });

  it('runGoverned rejecting through the callback: the model reads the message, the tool never runs', async () => {
    const { guard, store } = seedGuard([REFUND_APPROVAL_POLICY]);
    const model = new ScriptedModel([refundCall('call_d1'), [assistantMessage('Sorry, not approved.')]]);
    const { tools, agent } = refundAgent(model);
    const options = supportOptions(guard, 'trace_callback_reject');
    const result = await runGoverned(governAgent(agent, options), 'Refund ORD-7', {
      ...options,
      runner: new Runner({ tracingDisabled: true }),
      onApprovalRequired: () => ({ approve: false, by: 'maria', message: 'Refund already issued' }),
    });
    expect(result.finalOutput).toBe('Sorry, not approved.');
    expect(toolOutputs(model)).toContain('Refund already issued');
    expect(tools.ran).toEqual([]);
    const events = (await store.query({ traceId: 'trace_callback_reject', order: 'asc' })).events;
    expect(trail(events)).toEqual([
      'decision Customer Support Agent write:refund require_approval',
      'approval_requested Customer Support Agent write:refund require_approval',
      'approval_rejected Customer Support Agent write:refund deny',
    ]);
    expect(events[2]).toMatchObject({
      actor: 'maria',
      reason: expect.stringContaining('Refund already issued'),
    });
  });

  it('a request answered first elsewhere wins: approving a rejected one tells the model why, the tool never runs', async () => {
    const { guard, store } = seedGuard([REFUND_APPROVAL_POLICY]);
    const model = new ScriptedModel([refundCall('call_e1'), [assistantMessage('It was rejected.')]]);
    const { tools, agent } = refundAgent(model);
    const options = supportOptions(guard, 'trace_conflict');
    const result = await runGoverned(governAgent(agent, options), 'Refund ORD-7', {
      ...options,
      runner: new Runner({ tracingDisabled: true }),
      onApprovalRequired: async (_item, decision) => {
        // Someone answered on the request (the CLI, another process) before this callback did.
        await guard.approvals!.answer(decision!.approval!.id, { approve: false, by: 'li', comment: 'fraud' });
        return { approve: true, by: 'oncall' };
      },
    });
    expect(result.finalOutput).toBe('It was rejected.');
    expect(toolOutputs(model)).toMatch(/Blocked by policy: Rejected by li \(approval apr_\w+\): fraud/);
    expect(tools.ran).toEqual([]);
    expect(await guard.query({ traceId: 'trace_conflict', type: 'approval_granted' })).toEqual([]);
    const events = (await store.query({ traceId: 'trace_conflict', order: 'asc' })).events;
    expect(events.at(-1)).toMatchObject({ type: 'approval_rejected', actor: 'li' });
  });

  it('approved in the SDK only (state.approve), the request still pending: the call is refused and the request withdrawn', async () => {
    const { guard, store } = seedGuard([REFUND_APPROVAL_POLICY]);
    const model = new ScriptedModel([refundCall('call_f1'), [assistantMessage('Could not refund.')]]);
    const { tools, agent } = refundAgent(model);
    const options = supportOptions(guard, 'trace_sdk_only');
    const governed = governAgent(agent, options);
    const runner = new Runner({ tracingDisabled: true });
    const first = await runner.run(governed, 'Refund ORD-7');
    const id = approvalDecision(first.state, first.interruptions[0]!)!.approval!.id;
    first.state.approve(first.interruptions[0]!);
    await runner.run(governed, first.state);
    expect(tools.ran).toEqual([]);
    expect(toolOutputs(model)).toContain('approved in the run, but not through MeshGuard');
    expect(await guard.approvals!.get(id)).toMatchObject({ status: 'cancelled', answeredBy: 'meshguard' });
    const events = (await store.query({ traceId: 'trace_sdk_only', order: 'asc' })).events;
    expect(trail(events)).toEqual([
      'decision Customer Support Agent write:refund require_approval',
      'approval_requested Customer Support Agent write:refund require_approval',
      'decision Customer Support Agent write:refund require_approval',
      'approval_cancelled Customer Support Agent write:refund deny',
      'outcome Customer Support Agent write:refund require_approval/blocked',
    ]);
  });
});

describe('approval interruptions, with a store that keeps no approval requests', () => {
  it('approved after a RunState round trip: who approved is recorded and the refund runs once', async () => {
    const { guard, store } = seedGuardWithoutApprovals([REFUND_APPROVAL_POLICY]);
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
    expect(approvalDecision(first.state, first.interruptions[0]!)?.approval).toBeUndefined();

    const state = await RunState.fromString(governed, first.state.toString());
    await approveToolCall(state, state.getInterruptions()[0]!, { by: 'manager@acme.test' }, options);
    const second = await runner.run(governed, state);
    expect(second.finalOutput).toBe('Refund done after approval.');
    expect(tools.ran).toEqual(['process_refund ORD-7 79.99']);

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
  });

  it('rejected: the model gets the message, the rejection is recorded as an outcome', async () => {
    const { guard, store } = seedGuardWithoutApprovals([REFUND_APPROVAL_POLICY]);
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
    await runner.run(governed, state);
    expect(toolOutputs(model)).toContain('Not covered by warranty');
    expect(tools.ran).toEqual([]);
    const events = (await store.query({ traceId: 'trace_rejected', order: 'asc' })).events;
    expect(trail(events)).toEqual([
      'decision Customer Support Agent write:refund require_approval',
      'outcome Customer Support Agent write:refund require_approval/rejected',
    ]);
    expect(events[1]).toMatchObject({ actor: 'manager@acme.test', reason: 'Not covered by warranty' });
  });

  it('runGoverned answers through the callback in the same process', async () => {
    const { guard, store } = seedGuardWithoutApprovals([REFUND_APPROVAL_POLICY]);
    const model = new ScriptedModel([refundCall('call_c1'), [assistantMessage('First refund approved.')]]);
    const { tools, agent } = refundAgent(model);
    const options = supportOptions(guard, 'trace_callback');
    const result = await runGoverned(governAgent(agent, options), 'Refund ORD-7', {
      ...options,
      runner: new Runner({ tracingDisabled: true }),
      onApprovalRequired: () => ({ approve: true, by: 'oncall@acme.test' }),
    });
    expect(result.finalOutput).toBe('First refund approved.');
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
