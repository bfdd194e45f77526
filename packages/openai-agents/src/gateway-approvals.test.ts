// Approvals behind a real gateway: the agent's process cannot answer its own request (its token
// gets 403 on the approval routes); an approver answers at the gateway, and the run either waits
// for that answer or is parked and resumed by a fresh process with a fresh guard.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileParking, createRemoteGuard, type RemoteGuard } from '@meshguard/core';
import { startTestGateway } from '@meshguard/gateway/testing';
import { Agent, Runner, shellTool } from '@openai/agents';
import { assistantMessage, functionCall, ScriptedModel } from '@openai/agents/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { governAgent } from './govern-agent';
import { approvalDecision, approveToolCall, runGoverned } from './governed-run';
import { parkedApprovals } from './parked-runs';
import { resumeParkedRun } from './resume-parked-run';
import { SUPPORT_ACTIONS, supportTools } from './support-fixtures';

const POLICY = `
name: refunds
version: "1"
rules:
  - id: big-refunds
    effect: require_approval
    actions: ["write:refund"]
    conditions: { amount_min: 100.01 }
    reason: Refunds over $100 need a manager
    approval: { expiresIn: 10m }
  - effect: allow
    actions: ["write:refund"]
  - id: shell-needs-a-person
    effect: require_approval
    actions: ["execute:shell"]
`;

const refund = (callId: string, amount: number) =>
  functionCall('process_refund', { order_id: 'ORD-7', amount, reason: 'damaged' }, { callId });

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A gateway on 127.0.0.1 with an agent token and an approver token, and the agent's processes. */
async function gatewayWorld() {
  const gateway = await startTestGateway([{ name: 'refunds.yaml', text: POLICY }]);
  cleanups.push(() => gateway.close());
  const agentToken = await gateway.agentToken({ name: 'support-bot' });
  const approverToken = await gateway.approverToken('maria');
  const spool = mkdtempSync(join(tmpdir(), 'mg-oa-gw-approvals-'));
  cleanups.push(() => rmSync(spool, { recursive: true, force: true }));
  let processes = 0;
  /** A process of the agent's side: its own guard, agent graph and model. */
  const agentProcess = (script: ConstructorParameters<typeof ScriptedModel>[0], traceId?: string) => {
    const spoolDir = join(spool, String(++processes));
    const guard: RemoteGuard = createRemoteGuard({ url: gateway.url, agentToken, spoolDir });
    cleanups.push(() => guard.close());
    const options = {
      guard,
      identities: { 'Customer Support Agent': agentToken },
      actions: SUPPORT_ACTIONS,
      runner: new Runner({ tracingDisabled: true }),
      // Only a first process names its trace: a resumed run's decisions join it by themselves.
      ...(traceId ? { traceId } : {}),
    };
    const model = new ScriptedModel(script);
    const tools = supportTools();
    const agent = governAgent(
      new Agent({
        name: 'Customer Support Agent',
        instructions: 'Refunds.',
        model,
        tools: [tools.processRefund],
      }),
      options,
    );
    return { guard, options, model, tools, agent };
  };
  return { gateway, agentToken, approverToken, agentProcess };
}

describe('approvals behind a gateway', () => {
  it('waits for the approver where onApprovalRequired approved, and the refund runs once', async () => {
    const w = await gatewayWorld();
    const p = w.agentProcess([[refund('call_w1', 150)], [assistantMessage('Refunded.')]], 'trace_gw_wait');
    let asked: string | undefined;
    const result = await runGoverned(p.agent, 'Refund $150 for ORD-7', {
      ...p.options,
      onApprovalRequired: (_item, decision) => {
        asked = decision?.approval?.id;
        // The manager answers at the gateway a moment later (as from the CLI or the console).
        setTimeout(() => void w.gateway.answer(asked!, 'approve', w.approverToken, 'ok'), 300);
        return { approve: true, by: 'the app' };
      },
    });
    expect(asked).toMatch(/^apr_/);
    expect(result.finalOutput).toBe('Refunded.');
    expect(p.tools.ran).toEqual(['process_refund ORD-7 150']);
    const events = await w.gateway.trail('trace_gw_wait');
    const steps = events.map((e) => `${e.type}:${e.effect ?? ''}:${e.actor ?? ''}`);
    expect(steps).toContain('approval_granted:allow:maria');
    // The app's "approve" is no answer: nothing in the trail says the app approved.
    expect(events.some((e) => e.type === 'outcome' && e.outcome === 'approved')).toBe(false);
    expect(
      events.filter((e) => e.type === 'decision' && e.effect === 'allow' && e.approvalId === asked),
    ).toHaveLength(1);
  }, 30_000);

  it('waits for the approver for a built-in tool too (a local shell): it runs only once approved there', async () => {
    const w = await gatewayWorld();
    const ran: string[] = [];
    const shell = shellTool({
      shell: {
        run: async (action: { commands: string[] }) => {
          ran.push(...action.commands);
          return { output: [] };
        },
      } as never,
    });
    const model = new ScriptedModel([
      [
        {
          type: 'shell_call',
          callId: 'sh_1',
          status: 'completed',
          action: { commands: ['uptime'], timeoutMs: 1000 },
        },
      ],
      [assistantMessage('Ran it.')],
    ]);
    const p = w.agentProcess([]);
    const agent = governAgent(
      new Agent({ name: 'Customer Support Agent', instructions: 'Shell.', model, tools: [shell] }),
      p.options,
    );
    const result = await runGoverned(agent, 'Uptime?', {
      ...p.options,
      onApprovalRequired: (_item, decision) => {
        const id = decision!.approval!.id;
        setTimeout(() => void w.gateway.answer(id, 'approve', w.approverToken), 300);
        expect(ran).toEqual([]);
        return { approve: true, by: 'the app' };
      },
    });
    expect(result.finalOutput).toBe('Ran it.');
    expect(ran).toEqual(['uptime']);
  }, 30_000);

  it('tells the model why when the approver rejects at the gateway; the refund never runs', async () => {
    const w = await gatewayWorld();
    const p = w.agentProcess([[refund('call_w2', 150)], [assistantMessage('Could not refund.')]]);
    await runGoverned(p.agent, 'Refund $150 for ORD-7', {
      ...p.options,
      onApprovalRequired: (_item, decision) => {
        const id = decision!.approval!.id;
        setTimeout(() => void w.gateway.answer(id, 'reject', w.approverToken, 'not this customer'), 200);
        return { approve: true, by: 'the app' };
      },
    });
    expect(p.tools.ran).toEqual([]);
    expect(JSON.stringify(p.model.lastCall!.request.input)).toContain('Rejected by maria');
  }, 30_000);

  it("refuses an in-process approval of a request still pending at the gateway: an agent's process cannot approve its own", async () => {
    const w = await gatewayWorld();
    const p = w.agentProcess([[refund('call_w3', 150)], [assistantMessage('Done.')]]);
    const result = await runGoverned(p.agent, 'Refund $150 for ORD-7', p.options);
    expect(result.interruptions).toHaveLength(1);
    const item = result.interruptions[0]!;
    await expect(approveToolCall(result.state, item, { by: 'the app' }, p.options)).rejects.toMatchObject({
      code: 'approval_pending',
    });
    // And the agent token cannot answer it at the gateway either.
    const id = approvalDecision(result.state, item)?.approval?.id;
    expect(id).toMatch(/^apr_/);
    expect(await w.gateway.answer(id!, 'approve', w.agentToken)).toBe(403);
    // Approved by the approver, the host's approval goes through, and the refund runs once.
    expect(await w.gateway.answer(id!, 'approve', w.approverToken)).toBe(200);
    await approveToolCall(result.state, item, { by: 'the app' }, p.options);
    const done = await p.options.runner.run(p.agent, result.state);
    expect(done.finalOutput).toBe('Done.');
    expect(p.tools.ran).toEqual(['process_refund ORD-7 150']);
  }, 30_000);

  it('parks the run; approved at the gateway, a fresh process with a fresh guard resumes it: the refund runs once', async () => {
    const w = await gatewayWorld();
    const parking = createFileParking(join(mkdtempSync(join(tmpdir(), 'mg-oa-gw-park-')), 'parked'));
    const first = w.agentProcess([[refund('call_p1', 150)]], 'trace_gw_parked');
    const parked = await runGoverned(first.agent, 'Refund $150 for ORD-7', { ...first.options, parking });
    const [id] = parkedApprovals(parked);
    expect(id).toMatch(/^apr_/);
    await first.guard.close();

    const early = w.agentProcess([]);
    await expect(
      resumeParkedRun(id!, { ...early.options, agent: early.agent, parking }),
    ).rejects.toMatchObject({
      code: 'approval_pending',
    });
    expect(await w.gateway.answer(id!, 'approve', w.approverToken, 'known customer')).toBe(200);
    const second = w.agentProcess([[assistantMessage('Refunded after approval.')]]);
    const result = await resumeParkedRun(id!, { ...second.options, agent: second.agent, parking });
    expect(result.finalOutput).toBe('Refunded after approval.');
    expect(second.tools.ran).toEqual(['process_refund ORD-7 150']);
    // Resumed again (a copy of the state): the approval was used, the refund does not run twice.
    await expect(
      resumeParkedRun(id!, { ...second.options, agent: second.agent, parking }),
    ).rejects.toMatchObject({
      code: 'run_not_parked',
    });
    const steps = (await w.gateway.trail('trace_gw_parked')).map((e) => `${e.type}:${e.outcome ?? e.effect}`);
    expect(steps).toEqual([
      'decision:require_approval',
      'approval_requested:require_approval',
      'approval_granted:allow',
      'decision:allow',
      'outcome:success',
    ]);
  }, 30_000);
});
