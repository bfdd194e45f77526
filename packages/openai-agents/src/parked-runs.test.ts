import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApprovalConflictError,
  createEmbeddedGuard,
  createFileParking,
  createPolicyEngine,
  type EmbeddedGuard,
  parsePolicies,
  type RunParking,
} from '@meshguard/core';
import { Agent, Runner } from '@openai/agents';
import { assistantMessage, functionCall, ScriptedModel } from '@openai/agents/testing';
import { describe, expect, it } from 'vitest';
import { governAgent } from './govern-agent';
import type { GovernanceOptions } from './governance-context';
import { runGoverned } from './governed-run';
import { parkedApprovals } from './parked-runs';
import { resumeParkedRun } from './resume-parked-run';
import { REFUND_APPROVAL_POLICY, seedGuard, supportOptions, supportTools, trail } from './support-fixtures';

const FROZEN = `
name: refunds-frozen
version: "1"
appliesTo: { tags: [support] }
rules:
  - effect: deny
    actions: ["write:refund"]
    reason: Refunds are frozen
`;

const refund = (callId: string, amount: number) =>
  functionCall('process_refund', { order_id: 'ORD-7', amount, reason: 'damaged' }, { callId });

/**
 * One database and one parking folder, and "processes" over them: each has its own guard (same
 * store and clock), its own agent graph and model, as a process started later would.
 */
function world() {
  const seeded = seedGuard([REFUND_APPROVAL_POLICY]);
  const parking = createFileParking(join(mkdtempSync(join(tmpdir(), 'mg-oa-park-')), 'parked'));
  const process = (
    script: ConstructorParameters<typeof ScriptedModel>[0],
    extraPolicy?: string,
    traceId?: string,
  ) => {
    const policies = [...seeded.guard.engine.policies, ...(extraPolicy ? parsePolicies(extraPolicy) : [])];
    const guard: EmbeddedGuard = createEmbeddedGuard({
      engine: createPolicyEngine(policies, { clock: seeded.clock }),
      store: seeded.store,
      clock: seeded.clock,
      framework: 'test',
    });
    // Only the first process names a trace: a resumed run's decisions join it by themselves.
    const { traceId: _, ...untraced } = supportOptions(guard, 'unused');
    const options = traceId ? { ...untraced, traceId } : untraced;
    const model = new ScriptedModel(script);
    const tools = supportTools();
    const agent = governAgent(
      new Agent({
        name: 'Customer Support Agent',
        instructions: 'Process refunds.',
        model,
        tools: [tools.processRefund],
      }),
      options,
    );
    const runner = new Runner({ tracingDisabled: true });
    return {
      guard,
      options: { ...options, runner } as GovernanceOptions & { runner: Runner },
      model,
      tools,
      agent,
    };
  };
  return { ...seeded, parking, process };
}

async function parkOne(w: ReturnType<typeof world>, amount = 79.99) {
  const first = w.process([[refund('call_p1', amount)]], undefined, 'trace_parked');
  const result = await runGoverned(first.agent, `Refund $${amount} for ORD-7`, {
    ...first.options,
    parking: w.parking,
  });
  expect(result.interruptions).toHaveLength(1);
  const [id] = parkedApprovals(result);
  expect(id).toMatch(/^apr_/);
  expect(first.tools.ran).toEqual([]);
  return { first, result, id: id! };
}

function resume(
  w: ReturnType<typeof world>,
  id: string,
  p: ReturnType<ReturnType<typeof world>['process']>,
  parking: RunParking = w.parking,
) {
  return resumeParkedRun(id, { ...p.options, agent: p.agent, parking });
}

/** The text of the tool outputs a model received on its last call. */
function toolOutputs(model: ScriptedModel): string {
  const input = model.lastCall!.request.input as Array<{ type: string; output?: unknown }>;
  return JSON.stringify(input.filter((i) => i.type === 'function_call_result'));
}

describe('parking a run on an approval, resuming it elsewhere', () => {
  it('parks privately; approved from elsewhere, a fresh process resumes it: the refund runs once, in one trace', async () => {
    const w = world();
    const { id } = await parkOne(w);
    expect(await w.parking.list()).toEqual([id]);
    const parked = (await w.parking.get(id))!;
    expect(parked).toMatchObject({ framework: 'openai-agents', state: { v: 1, traceId: 'trace_parked' } });
    // The serialized run (with the call's arguments) never reaches the trail.
    const runState = (parked.state as { runState: string }).runState;
    expect(runState).toContain('ORD-7');
    expect(JSON.stringify(w.store.events)).not.toContain('Process refunds.');

    const approver = w.process([]);
    await approver.guard.approvals!.answer(id, { approve: true, by: 'maria', comment: 'known customer' });

    const later = w.process([[assistantMessage('Refunded $79.99.')]]);
    const result = await resume(w, id, later);
    expect(result.finalOutput).toBe('Refunded $79.99.');
    expect(later.tools.ran).toEqual(['process_refund ORD-7 79.99']);
    expect(parkedApprovals(result)).toEqual([]);
    expect(await w.parking.list()).toEqual([]);
    later.model.assertComplete();

    const events = (await w.store.query({ traceId: 'trace_parked', order: 'asc' })).events;
    expect(trail(events)).toEqual([
      'decision Customer Support Agent write:refund require_approval',
      'approval_requested Customer Support Agent write:refund require_approval',
      'approval_granted Customer Support Agent write:refund allow',
      'decision Customer Support Agent write:refund allow',
      'outcome Customer Support Agent write:refund allow/success',
    ]);
    expect(events[2]).toMatchObject({ actor: 'maria', approvalId: id });
    expect(events[3]).toMatchObject({ approvalId: id, spanId: 'call:call_p1' });
    expect(events[4]!.decisionId).toBe(events[3]!.decisionId);
  });

  it('parks in private files (0600 in a 0700 folder)', async () => {
    const w = world();
    const dir = join(mkdtempSync(join(tmpdir(), 'mg-oa-park-')), 'parked');
    w.parking = createFileParking(dir);
    const { id } = await parkOne(w);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, `${id}.json`)).mode & 0o777).toBe(0o600);
  });

  it('two resumers at once: one resumes, the other is told; resuming again finds nothing parked', async () => {
    const w = world();
    const { id } = await parkOne(w);
    await w.guard.approvals!.answer(id, { approve: true, by: 'maria' });
    const a = w.process([[assistantMessage('Refunded (a).')]]);
    const b = w.process([[assistantMessage('Refunded (b).')]]);
    const settled = await Promise.allSettled([resume(w, id, a), resume(w, id, b)]);
    const won = settled.filter((s) => s.status === 'fulfilled');
    const lost = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toMatchObject({ code: 'run_not_parked' });
    expect([...a.tools.ran, ...b.tools.ran]).toEqual(['process_refund ORD-7 79.99']);
    const third = w.process([[assistantMessage('again')]]);
    await expect(resume(w, id, third)).rejects.toMatchObject({
      code: 'run_not_parked',
      message: expect.stringContaining('resumed already'),
    });
    expect(third.tools.ran).toEqual([]);
  });

  it('a run resumed twice from the same state (a restored copy) runs the call once: the second is denied', async () => {
    const w = world();
    const { id } = await parkOne(w);
    const copy = (await w.parking.get(id))!;
    await w.guard.approvals!.answer(id, { approve: true, by: 'maria' });
    const once = w.process([[assistantMessage('Refunded.')]]);
    await resume(w, id, once);
    await w.parking.park({ approvalId: id, framework: copy.framework, state: copy.state });
    const twice = w.process([[assistantMessage('It was refunded already.')]]);
    const result = await resume(w, id, twice);
    expect(result.finalOutput).toBe('It was refunded already.');
    expect([...once.tools.ran, ...twice.tools.ran]).toEqual(['process_refund ORD-7 79.99']);
    expect(toolOutputs(twice.model)).toContain('has let its call through already');
    const decisions = await w.guard.query({ traceId: 'trace_parked', type: 'decision', order: 'asc' });
    expect(decisions.map((d) => d.effect)).toEqual(['require_approval', 'allow', 'deny']);
  });

  it('still pending: resuming puts the run back and says so, and opens no other request', async () => {
    const w = world();
    const { id } = await parkOne(w);
    const early = w.process([[assistantMessage('never')]]);
    await expect(resume(w, id, early)).rejects.toMatchObject({
      code: 'approval_pending',
      message: expect.stringContaining(`approval ${id} is still pending`),
    });
    expect(await w.parking.list()).toEqual([id]);
    expect(early.tools.ran).toEqual([]);
    expect((await w.guard.approvals!.list({ status: 'pending' })).approvals.map((a) => a.id)).toEqual([id]);
  });

  it('approving after the deadline is refused; resuming tells the model it expired, the refund never runs', async () => {
    const w = world();
    const { id } = await parkOne(w);
    w.clock.advance(60 * 60_000); // the rule's default: 1h
    await expect(w.guard.approvals!.answer(id, { approve: true, by: 'maria' })).rejects.toBeInstanceOf(
      ApprovalConflictError,
    );
    const later = w.process([[assistantMessage('The approval expired.')]]);
    const result = await resume(w, id, later);
    expect(result.finalOutput).toBe('The approval expired.');
    expect(toolOutputs(later.model)).toMatch(/Blocked by policy: Approval apr_\w+ expired at/);
    expect(later.tools.ran).toEqual([]);
    expect(await w.parking.list()).toEqual([]);
    const events = (await w.store.query({ traceId: 'trace_parked', order: 'asc' })).events;
    expect(trail(events).at(-1)).toBe('approval_expired Customer Support Agent write:refund deny');
  });

  it('rejected: the model reads who rejected it and why', async () => {
    const w = world();
    const { id } = await parkOne(w);
    await w.guard.approvals!.answer(id, { approve: false, by: 'maria', comment: 'refund issued already' });
    const later = w.process([[assistantMessage('Not refunded.')]]);
    await resume(w, id, later);
    expect(toolOutputs(later.model)).toMatch(
      /Blocked by policy: Rejected by maria \(approval apr_\w+\): refund issued already/,
    );
    expect(later.tools.ran).toEqual([]);
  });

  it('changed arguments (a tampered parked state) are denied, and the approval stays unused', async () => {
    const w = world();
    const { id } = await parkOne(w);
    await w.guard.approvals!.answer(id, { approve: true, by: 'maria' });
    const parked = (await w.parking.get(id))!;
    const state = parked.state as { runState: string };
    const tampered = state.runState.replaceAll('\\"amount\\":79.99', '\\"amount\\":99.99');
    expect(tampered).not.toBe(state.runState);
    await w.parking.park({
      approvalId: id,
      framework: parked.framework,
      state: { ...state, runState: tampered },
    });
    const later = w.process([[assistantMessage('Could not refund.')]]);
    await resume(w, id, later);
    expect(later.tools.ran).toEqual([]);
    expect(toolOutputs(later.model)).toContain('the arguments differ from those approval');
    expect((await w.guard.approvals!.get(id))?.usedAt).toBeUndefined();
  });

  it('a policy that now denies wins over the approval', async () => {
    const w = world();
    const { id } = await parkOne(w);
    await w.guard.approvals!.answer(id, { approve: true, by: 'maria' });
    const later = w.process([[assistantMessage('Refunds are frozen.')]], FROZEN);
    await resume(w, id, later);
    expect(later.tools.ran).toEqual([]);
    expect(toolOutputs(later.model)).toContain('Blocked by policy: Refunds are frozen');
    expect((await w.guard.approvals!.get(id))?.usedAt).toBeUndefined();
  });

  it('a run waiting on two approvals is parked once; each answered in turn, it goes on as far as it can', async () => {
    const w = world();
    const first = w.process([[refund('call_m1', 60), refund('call_m2', 90)]], undefined, 'trace_two');
    const parked = await runGoverned(first.agent, 'Refund both', { ...first.options, parking: w.parking });
    const [one, two] = parkedApprovals(parked);
    expect(parkedApprovals(parked)).toHaveLength(2);
    expect((await w.parking.list()).sort()).toEqual([one, two].sort());
    expect(await w.parking.get(two!)).toMatchObject({ state: { parkedWith: one } });

    // Only the second is answered: resuming through the first waits; through the second, it goes on.
    await w.guard.approvals!.answer(two!, { approve: true, by: 'maria' });
    await expect(resume(w, one!, w.process([]))).rejects.toMatchObject({ code: 'approval_pending' });
    const middle = w.process([]);
    const halfway = await resume(w, two!, middle);
    expect(middle.tools.ran).toEqual(['process_refund ORD-7 90']);
    expect(halfway.interruptions).toHaveLength(1);
    expect(parkedApprovals(halfway)).toEqual([one]);
    expect(await w.parking.list()).toEqual([one]);

    await w.guard.approvals!.answer(one!, { approve: false, by: 'maria', comment: 'too much' });
    const last = w.process([[assistantMessage('One refund done, one rejected.')]]);
    const done = await resume(w, one!, last);
    expect(done.finalOutput).toBe('One refund done, one rejected.');
    expect(last.tools.ran).toEqual([]);
    expect(await w.parking.list()).toEqual([]);
    const decisions = await w.guard.query({ traceId: 'trace_two', type: 'decision' });
    // Asked twice; the second let through once; the first asked again (pending) while the run waited.
    expect(decisions.map((d) => d.effect).sort()).toEqual([
      'allow',
      'require_approval',
      'require_approval',
      'require_approval',
    ]);
  });

  it("resumed with onApprovalRequired, the run's other approval is answered in that process", async () => {
    const w = world();
    const first = w.process([[refund('call_n1', 60), refund('call_n2', 90)]], undefined, 'trace_next');
    const parked = await runGoverned(first.agent, 'Refund both', { ...first.options, parking: w.parking });
    const [one, two] = parkedApprovals(parked);
    await w.guard.approvals!.answer(one!, { approve: true, by: 'maria' });
    const later = w.process([[assistantMessage('Both refunded.')]]);
    const asked: string[] = [];
    const result = await resumeParkedRun(one!, {
      ...later.options,
      agent: later.agent,
      parking: w.parking,
      onApprovalRequired: (_item, decision) => {
        asked.push(decision?.approval?.id ?? 'none');
        return { approve: true, by: 'oncall' };
      },
    });
    expect(asked).toEqual([two]);
    expect(result.finalOutput).toBe('Both refunded.');
    expect(later.tools.ran.sort()).toEqual(['process_refund ORD-7 60', 'process_refund ORD-7 90']);
    expect(await w.parking.list()).toEqual([]);
    const granted = await w.guard.query({ traceId: 'trace_next', type: 'approval_granted', order: 'asc' });
    expect(granted.map((e) => `${e.approvalId} ${e.actor}`)).toEqual([`${one} maria`, `${two} oncall`]);
  });

  it('refuses an agent graph that is not governed, and puts the run back', async () => {
    const w = world();
    const { id } = await parkOne(w);
    await w.guard.approvals!.answer(id, { approve: true, by: 'maria' });
    const later = w.process([[assistantMessage('x')]]);
    const raw = new Agent({
      name: 'Customer Support Agent',
      instructions: 'Process refunds.',
      tools: [later.tools.processRefund],
    });
    await expect(
      resumeParkedRun(id, { ...later.options, agent: raw, parking: w.parking }),
    ).rejects.toMatchObject({
      code: 'not_governed',
    });
    expect(later.tools.ran).toEqual([]);
    expect(await w.parking.list()).toEqual([id]);
  });
});
