// Approvals behind a real gateway: an approver answers at the gateway (the agent's process
// cannot), and the turn either waits for that answer or is parked and resumed by a fresh guard.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileParking, createRemoteGuard, type Guard } from '@meshguard/core';
import { startTestGateway } from '@meshguard/gateway/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { createGovernedAgent, type GovernedAgentOptions } from './governed-agent';
import { resumeParkedTurn } from './resume-parked-turn';
import {
  creditGroups,
  emulatorClient,
  SUPPORT_IDENTITY,
  SUPPORT_POLICY_TEXT,
  supportActionGroups,
  useEmulator,
} from './support-fixtures';
import {
  type BedrockEmulatorRequest,
  bedrockChunk,
  bedrockFunctionInput,
  bedrockReturnControl,
} from './testing';

const startEmulator = useEmulator();
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const relay = (request: BedrockEmulatorRequest) => [
  bedrockChunk(`The action said: ${request.results.map((r) => r.body).join(' | ')}`),
];
const credit = bedrockFunctionInput('Accounts', 'credit_account', { customer_id: 'CUST-001', amount: 25 });

/** A gateway with the support policy, its agent's and approver's tokens, and agent processes. */
async function gatewayWorld(script: Parameters<typeof startEmulator>[0]) {
  const gateway = await startTestGateway([{ name: 'support.yaml', text: SUPPORT_POLICY_TEXT }]);
  cleanups.push(() => gateway.close());
  const agentToken = await gateway.agentToken({ name: 'support-agent', tags: ['support'] });
  const approverToken = await gateway.approverToken('maria');
  const emulator = await startEmulator(script);
  const spool = mkdtempSync(join(tmpdir(), 'mg-bedrock-gw-'));
  cleanups.push(() => rmSync(spool, { recursive: true, force: true }));
  const credited: unknown[] = [];
  let processes = 0;
  /** One process of the agent's side: its own guard over the gateway. */
  const options = (extra: Partial<GovernedAgentOptions> = {}): GovernedAgentOptions => {
    const guard = createRemoteGuard({
      url: gateway.url,
      agentToken,
      spoolDir: join(spool, String(++processes)),
    });
    cleanups.push(() => guard.close());
    return {
      client: emulatorClient(emulator),
      agentId: 'SUPPORT001',
      agentAliasId: 'LIVE001',
      guard,
      identity: SUPPORT_IDENTITY,
      actionGroups: { ...supportActionGroups().actionGroups, ...creditGroups(credited) },
      ...extra,
    };
  };
  return { gateway, approverToken, emulator, credited, options };
}

describe('Bedrock approvals behind a gateway', () => {
  it('waits for the approver where onApprovalRequired approved: the handler runs once, the app approved nothing', async () => {
    const w = await gatewayWorld([[bedrockReturnControl([credit], 'inv-gw-1')], relay]);
    const agent = createGovernedAgent(
      w.options({
        onApprovalRequired: (_call, decision) => {
          const id = decision.approval!.id;
          setTimeout(() => void w.gateway.answer(id, 'approve', w.approverToken, 'known customer'), 300);
          return { approve: true, by: 'the app' };
        },
      }),
    );
    const result = await agent.invoke({
      sessionId: 's-gw-1',
      inputText: 'Credit $25',
      traceId: 'trace_bgw_wait',
    });
    expect(result.text).toBe('The action said: Credited $25.00');
    expect(w.credited).toHaveLength(1);
    expect(result.decisions[0]).toMatchObject({
      outcome: 'success',
      approval: { approved: true, by: 'maria', message: 'known customer' },
      decision: { effect: 'allow' },
    });
    const steps = (await w.gateway.trail('trace_bgw_wait')).map((e) =>
      [e.type, e.outcome ?? e.effect, e.actor].filter(Boolean).join(' '),
    );
    expect(steps).toEqual([
      'decision require_approval',
      'approval_requested require_approval',
      'approval_granted allow maria',
      'decision allow',
      'outcome success',
    ]);
    expect(w.emulator.problems).toEqual([]);
  }, 30_000);

  it('answers with the rejection when the approver rejects at the gateway; the handler never runs', async () => {
    const w = await gatewayWorld([[bedrockReturnControl([credit], 'inv-gw-2')], relay]);
    const agent = createGovernedAgent(
      w.options({
        onApprovalRequired: (_call, decision) => {
          const id = decision.approval!.id;
          setTimeout(() => void w.gateway.answer(id, 'reject', w.approverToken, 'not this week'), 200);
          return { approve: true, by: 'the app' };
        },
      }),
    );
    const result = await agent.invoke({ sessionId: 's-gw-2', inputText: 'Credit $25' });
    expect(result.text).toMatch(
      /^The action said: Blocked by policy: Rejected by maria \(approval apr_\w+\): not this week$/,
    );
    expect(w.credited).toEqual([]);
  }, 30_000);

  it('stops waiting before the Bedrock session idles out: refused with why, the handler never runs', async () => {
    const w = await gatewayWorld([[bedrockReturnControl([credit], 'inv-gw-4')], relay]);
    // A 32 s idle timeout: the call may wait 2 s (it stops 30 s before the session is gone).
    const agent = createGovernedAgent(
      w.options({
        idleSessionTTLInSeconds: 32,
        onApprovalRequired: () => ({ approve: true, by: 'the app' }),
      }),
    );
    const started = Date.now();
    const result = await agent.invoke({ sessionId: 's-gw-4', inputText: 'Credit $25' });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result.text).toMatch(/was not answered before the Bedrock session would idle out/);
    expect(w.credited).toEqual([]);
  }, 30_000);

  it('refuses, whatever the app answers, a request its guard can neither answer nor read', async () => {
    const w = await gatewayWorld([[bedrockReturnControl([credit], 'inv-gw-5')], relay]);
    const base = w.options({ onApprovalRequired: () => ({ approve: true, by: 'the app' }) });
    const remote = base.guard;
    // A guard written by hand around the gateway's, without approvalStatus.
    const wrapped: Guard = {
      check: (request) => remote.check(request),
      reachable: (request) => remote.reachable(request),
      record: (event) => remote.record(event),
      query: (filter) => remote.query(filter),
      close: () => remote.close(),
    };
    const result = await createGovernedAgent({ ...base, guard: wrapped }).invoke({
      sessionId: 's-gw-5',
      inputText: 'Credit $25',
    });
    expect(result.text).toMatch(/can be neither answered nor read through this guard/);
    expect(w.credited).toEqual([]);
  }, 30_000);

  it('parks the turn; approved at the gateway, a fresh guard resumes it and the handler runs once', async () => {
    const w = await gatewayWorld([[bedrockReturnControl([credit], 'inv-gw-3')], relay]);
    const parking = createFileParking(mkdtempSync(join(tmpdir(), 'mg-bedrock-gw-park-')));
    const paused = await createGovernedAgent(w.options({ parking })).invoke({
      sessionId: 's-gw-3',
      inputText: 'Credit $25',
    });
    expect(paused.status).toBe('awaiting_approval');
    const id = paused.pendingApprovals[0]!.approvalId;
    await expect(resumeParkedTurn(id, w.options({ parking }))).rejects.toMatchObject({
      code: 'approval_pending',
    });
    expect(await w.gateway.answer(id, 'approve', w.approverToken)).toBe(200);
    const resumed = await resumeParkedTurn(id, w.options({ parking }));
    expect(resumed).toMatchObject({ status: 'completed', text: 'The action said: Credited $25.00' });
    expect(w.credited).toHaveLength(1);
    await expect(resumeParkedTurn(id, w.options({ parking }))).rejects.toMatchObject({
      code: 'run_not_parked',
    });
    expect(w.credited).toHaveLength(1);
  }, 30_000);
});
