import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BedrockAgentRuntimeClient, InvokeAgentCommand } from '@aws-sdk/client-bedrock-agent-runtime';
import {
  type AuditEvent,
  createEmbeddedGuard,
  createFileParking,
  createPolicyEngine,
  parsePolicies,
} from '@meshguard/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createGovernedAgent, type GovernedAgentOptions } from './governed-agent';
import { resumeParkedTurn } from './resume-parked-turn';
import {
  creditGroups,
  emulatorClient,
  SUPPORT_IDENTITY,
  supportActionGroups,
  supportGuard,
  useEmulator,
} from './support-fixtures';
import {
  type BedrockEmulatorRequest,
  bedrockChunk,
  bedrockFunctionInput,
  bedrockReturnControl,
  startBedrockEmulator,
} from './testing';

const startEmulator = useEmulator();

afterEach(() => {
  vi.useRealTimers();
});

/** The scripted model relays what each result said, with its confirmation state. */
const relay = (request: BedrockEmulatorRequest) => [
  bedrockChunk(`The action said: ${request.results.map((r) => r.confirmationState ?? r.body).join(' | ')}`),
];

const credit = (invocationType?: 'USER_CONFIRMATION') =>
  bedrockFunctionInput(
    'Accounts',
    'credit_account',
    { customer_id: 'CUST-001', amount: 25 },
    invocationType ? { invocationType } : {},
  );

const row = (e: AuditEvent) =>
  [e.type, e.action, e.outcome ? `${e.effect}/${e.outcome}` : e.effect, e.actor].filter(Boolean).join(' ');

/** The support agent with parking, against an emulator playing `script`. */
async function parked(
  script: Parameters<typeof startEmulator>[0],
  options: Partial<GovernedAgentOptions> = {},
) {
  const emulator = await startEmulator(script);
  const { guard, clock, store } = supportGuard();
  const parking = createFileParking(mkdtempSync(join(tmpdir(), 'meshguard-bedrock-parked-')));
  const credited: unknown[] = [];
  const actionGroups = { ...supportActionGroups().actionGroups, ...creditGroups(credited) };
  const agentOptions = {
    client: emulatorClient(emulator),
    agentId: 'SUPPORT001',
    agentAliasId: 'LIVE001',
    guard,
    identity: SUPPORT_IDENTITY,
    actionGroups,
    parking,
    ...options,
  } satisfies GovernedAgentOptions;
  const agent = createGovernedAgent(agentOptions);
  return { emulator, guard, clock, store, parking, credited, agent, agentOptions };
}

describe('parking a turn on an approval, and resuming it', () => {
  it('parks the return of control, resumes once approved: the handler runs once, all under one trace', async () => {
    const { emulator, guard, parking, credited, agent, agentOptions } = await parked([
      [bedrockReturnControl([credit()], 'inv-credit-1')],
      relay,
    ]);
    const paused = await agent.invoke({ sessionId: 'session-park', inputText: 'Credit John $25' });
    expect(paused.status).toBe('awaiting_approval');
    expect(paused.decisions.map((d) => [d.decision.effect, d.outcome])).toEqual([
      ['require_approval', 'awaiting_approval'],
    ]);
    const [pending] = paused.pendingApprovals;
    expect(pending).toMatchObject({
      approvalId: expect.stringMatching(/^apr_/),
      call: { action: 'write:account_credit', invocationId: 'inv-credit-1', args: { amount: 25 } },
    });
    const id = pending!.approvalId;
    expect(Date.parse(pending!.resumeBy) - Date.now()).toBeGreaterThan(590_000);
    expect(credited).toEqual([]);
    expect(emulator.requests).toHaveLength(1);
    expect(await parking.list()).toEqual([id]);
    const parkedRun = (await parking.get(id))!;
    expect(parkedRun.framework).toBe('bedrock');
    expect(parkedRun.state).toMatchObject({ sessionId: 'session-park', invocationId: 'inv-credit-1' });

    // Not answered yet: nothing runs, nothing is sent, the turn stays parked.
    await expect(resumeParkedTurn(id, agentOptions)).rejects.toMatchObject({
      code: 'approval_pending',
      message: expect.stringContaining(`approval ${id} (until `),
    });
    expect(emulator.requests).toHaveLength(1);
    expect(await parking.list()).toEqual([id]);

    await guard.approvals!.answer(id, { approve: true, by: 'maria', comment: 'known customer' });
    const resumed = await resumeParkedTurn(id, agentOptions);
    expect(resumed).toMatchObject({ status: 'completed', text: 'The action said: Credited $25.00' });
    expect(resumed!.traceId).toBe(paused.traceId);
    expect(resumed!.decisions[0]).toMatchObject({
      outcome: 'success',
      approval: { approved: true, by: 'maria', message: 'known customer' },
      decision: { effect: 'allow', approval: { id } },
    });
    expect(credited).toEqual([{ customer_id: 'CUST-001', amount: 25 }]);
    expect(emulator.requests[1]!.body.sessionState).toMatchObject({
      invocationId: 'inv-credit-1',
      returnControlInvocationResults: [
        { functionResult: { actionGroup: 'Accounts', function: 'credit_account', agentId: 'SUPPORT001' } },
      ],
    });
    expect(emulator.problems).toEqual([]);
    expect(await parking.list()).toEqual([]);
    // Resumed once: a second resume finds nothing.
    await expect(resumeParkedTurn(id, agentOptions)).rejects.toMatchObject({ code: 'run_not_parked' });
    expect(credited).toHaveLength(1);

    expect((await guard.query({ traceId: paused.traceId, order: 'asc' })).map(row)).toEqual([
      'decision write:account_credit require_approval',
      'approval_requested write:account_credit require_approval',
      'approval_granted write:account_credit allow maria',
      'decision write:account_credit allow',
      'outcome write:account_credit allow/success',
    ]);
  });

  it('of two resumers, one runs the call', async () => {
    const { emulator, guard, credited, agent, agentOptions } = await parked([
      [bedrockReturnControl([credit()])],
      relay,
    ]);
    const paused = await agent.invoke({ sessionId: 'session-race', inputText: 'Credit John $25' });
    const id = paused.pendingApprovals[0]!.approvalId;
    await guard.approvals!.answer(id, { approve: true, by: 'maria' });
    const both = await Promise.allSettled([
      resumeParkedTurn(id, agentOptions),
      resumeParkedTurn(id, agentOptions),
    ]);
    expect(both.map((r) => (r.status === 'fulfilled' ? r.value.status : r.reason.code)).sort()).toEqual([
      'completed',
      'run_not_parked',
    ]);
    expect(credited).toHaveLength(1);
    expect(emulator.requests).toHaveLength(2);
    expect(emulator.problems).toEqual([]);
  });

  it('a rejection is answered as the result: the agent hears who and why, and the handler never runs', async () => {
    const { emulator, guard, credited, agent, agentOptions } = await parked([
      [bedrockReturnControl([credit()])],
      relay,
    ]);
    const paused = await agent.invoke({ sessionId: 'session-reject', inputText: 'Credit John $25' });
    const id = paused.pendingApprovals[0]!.approvalId;
    await guard.approvals!.answer(id, { approve: false, by: 'maria', comment: 'already credited last week' });
    const resumed = await resumeParkedTurn(id, agentOptions);
    expect(resumed!.text).toBe(
      `The action said: Blocked by policy: Rejected by maria (approval ${id}): already credited last week`,
    );
    expect(credited).toEqual([]);
    const sent = emulator.requests[1]!.body.sessionState as { returnControlInvocationResults: unknown[] };
    expect(sent.returnControlInvocationResults[0]).toMatchObject({
      functionResult: { responseState: 'REPROMPT' },
    });
    expect(emulator.problems).toEqual([]);
    expect((await guard.query({ traceId: paused.traceId, order: 'asc' })).map(row)).toEqual([
      'decision write:account_credit require_approval',
      'approval_requested write:account_credit require_approval',
      'approval_rejected write:account_credit deny maria',
      'decision write:account_credit deny',
      'outcome write:account_credit deny/blocked',
    ]);
  });

  it('an approval past its deadline cannot be given, and resuming answers with the expiry', async () => {
    const { emulator, guard, clock, credited, agent, agentOptions } = await parked([
      [bedrockReturnControl([credit()])],
      relay,
    ]);
    const paused = await agent.invoke({ sessionId: 'session-expire', inputText: 'Credit John $25' });
    const id = paused.pendingApprovals[0]!.approvalId;
    clock.advance(61 * 60_000); // the rule's default: 1 hour
    await expect(guard.approvals!.answer(id, { approve: true, by: 'maria' })).rejects.toMatchObject({
      code: 'approval_conflict',
    });
    const resumed = await resumeParkedTurn(id, agentOptions);
    expect(resumed!.status).toBe('completed');
    expect(resumed!.text).toMatch(
      new RegExp(`^The action said: Blocked by policy: Approval ${id} expired at .* without an answer$`),
    );
    expect(resumed!.decisions[0]).toMatchObject({ outcome: 'blocked', decision: { effect: 'deny' } });
    expect(credited).toEqual([]);
    expect(emulator.problems).toEqual([]);
    expect((await guard.query({ traceId: paused.traceId, order: 'asc' })).map(row)).toEqual([
      'decision write:account_credit require_approval',
      'approval_requested write:account_credit require_approval',
      'approval_expired write:account_credit deny meshguard',
      'decision write:account_credit deny',
      'outcome write:account_credit deny/blocked',
    ]);
  });

  it('answers the other inputs of the round at once and sends every result together on resume', async () => {
    const { emulator, guard, credited, agent, agentOptions } = await parked([
      [
        bedrockReturnControl([
          bedrockFunctionInput('CustomerSupport', 'lookup_customer', { email: 'john@example.com' }),
          credit(),
          bedrockFunctionInput('CustomerSupport', 'process_refund', { order_id: 'ORD-9', amount: 500 }),
        ]),
      ],
      relay,
    ]);
    const paused = await agent.invoke({ sessionId: 'session-mixed', inputText: 'Look up John, credit him' });
    expect(paused.decisions.map((d) => `${d.call.function} ${d.outcome}`)).toEqual([
      'lookup_customer success',
      'credit_account awaiting_approval',
      'process_refund blocked',
    ]);
    await guard.approvals!.answer(paused.pendingApprovals[0]!.approvalId, { approve: true, by: 'maria' });
    const resumed = await resumeParkedTurn(paused.pendingApprovals[0]!.approvalId, agentOptions);
    expect(resumed!.text).toBe(
      'The action said: Customer found: John Doe (john@example.com), ID: CUST-001, Gold tier | Credited $25.00 | Blocked by policy: Refunds over $100 require manager approval (rule large-refunds)',
    );
    expect(credited).toHaveLength(1);
    expect(emulator.problems).toEqual([]);
  });

  it('waits for every approval of the round, then resumes from any of them', async () => {
    const { emulator, guard, credited, agent, agentOptions } = await parked([
      [
        bedrockReturnControl([
          credit(),
          bedrockFunctionInput('Accounts', 'credit_account', { customer_id: 'CUST-002', amount: 25 }),
        ]),
      ],
      relay,
    ]);
    const paused = await agent.invoke({ sessionId: 'session-two', inputText: 'Credit both' });
    const [first, second] = paused.pendingApprovals.map((p) => p.approvalId);
    await guard.approvals!.answer(first!, { approve: true, by: 'maria' });
    await expect(resumeParkedTurn(first!, agentOptions)).rejects.toMatchObject({
      code: 'approval_pending',
      message: expect.stringContaining(`approval ${second} (until`),
    });
    expect(credited).toEqual([]);
    await guard.approvals!.answer(second!, { approve: false, by: 'li' });
    const resumed = await resumeParkedTurn(second!, agentOptions);
    expect(resumed!.text).toBe(
      `The action said: Credited $25.00 | Blocked by policy: Rejected by li (approval ${second})`,
    );
    expect(credited).toEqual([{ customer_id: 'CUST-001', amount: 25 }]);
    await expect(resumeParkedTurn(first!, agentOptions)).rejects.toMatchObject({ code: 'run_not_parked' });
    expect(emulator.problems).toEqual([]);
  });

  it('confirmation inputs: CONFIRM once approved, DENY with the reason once rejected', async () => {
    const { emulator, guard, agent, agentOptions } = await parked([
      [bedrockReturnControl([credit('USER_CONFIRMATION')])],
      relay,
      [bedrockReturnControl([credit('USER_CONFIRMATION')])],
      relay,
    ]);
    const one = await agent.invoke({ sessionId: 'session-confirm', inputText: 'Credit John' });
    await guard.approvals!.answer(one.pendingApprovals[0]!.approvalId, { approve: true, by: 'maria' });
    const confirmed = await resumeParkedTurn(one.pendingApprovals[0]!.approvalId, agentOptions);
    expect(confirmed!.text).toBe('The action said: CONFIRM');
    expect(confirmed!.decisions[0]!.outcome).toBe('confirmed');
    const two = await agent.invoke({ sessionId: 'session-confirm', inputText: 'Again' });
    await guard.approvals!.answer(two.pendingApprovals[0]!.approvalId, { approve: false, by: 'maria' });
    const denied = await resumeParkedTurn(two.pendingApprovals[0]!.approvalId, agentOptions);
    expect(denied!.text).toBe('The action said: DENY');
    const sent = emulator.requests[3]!.body.sessionState as { returnControlInvocationResults: unknown[] };
    expect(sent.returnControlInvocationResults[0]).toMatchObject({
      functionResult: {
        confirmationState: 'DENY',
        responseBody: { TEXT: { body: expect.stringContaining('Blocked by policy: Rejected by maria') } },
      },
    });
    expect(emulator.problems).toEqual([]);
  });

  it('runs nothing when the call is no longer the one approved, or policy now denies it', async () => {
    const { emulator, guard, store, clock, credited, agent, agentOptions } = await parked([
      [bedrockReturnControl([credit()])],
      relay,
      [bedrockReturnControl([credit()])],
      relay,
    ]);
    // Changed arguments: the resumer's context differs from what was approved.
    const changed = await agent.invoke({ sessionId: 'session-changed', inputText: 'Credit John' });
    await guard.approvals!.answer(changed.pendingApprovals[0]!.approvalId, { approve: true, by: 'maria' });
    const changedGroups = creditGroups(credited);
    const spec = changedGroups.Accounts!.functions!.credit_account as { context?: unknown };
    spec.context = (args: Record<string, unknown>) => ({ ...args, amount: 2500 });
    const afterChange = await resumeParkedTurn(changed.pendingApprovals[0]!.approvalId, {
      ...agentOptions,
      actionGroups: changedGroups,
    });
    expect(afterChange!.text).toContain('The action said: Blocked by policy: Denied: the arguments differ');

    // A policy that now denies wins over the approval.
    const frozen = await agent.invoke({ sessionId: 'session-frozen', inputText: 'Credit John' });
    await guard.approvals!.answer(frozen.pendingApprovals[0]!.approvalId, { approve: true, by: 'maria' });
    const stricter = createEmbeddedGuard({
      engine: createPolicyEngine(
        parsePolicies(`
name: frozen
version: "1"
appliesTo: { tags: [support] }
rules:
  - effect: deny
    actions: ["write:account_credit"]
    reason: Credits are frozen
`),
        { clock },
      ),
      store,
      clock,
    });
    const afterFreeze = await resumeParkedTurn(frozen.pendingApprovals[0]!.approvalId, {
      ...agentOptions,
      guard: stricter,
    });
    expect(afterFreeze!.text).toMatch(/^The action said: Blocked by policy: Credits are frozen/);
    expect(credited).toEqual([]);
    expect(emulator.problems).toEqual([]);
  });
});

describe('the Bedrock session idle timeout', () => {
  it('refuses a resume after the session idled out, saying so, and sends nothing', async () => {
    const { emulator, guard, parking, credited, agent, agentOptions } = await parked([
      [bedrockReturnControl([credit()])],
      relay,
    ]);
    const paused = await agent.invoke({ sessionId: 'session-idle', inputText: 'Credit John $25' });
    const id = paused.pendingApprovals[0]!.approvalId;
    await guard.approvals!.answer(id, { approve: true, by: 'maria' });
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 601_000);
    const resumed = await resumeParkedTurn(id, agentOptions);
    expect(resumed).toMatchObject({ status: 'session_ended', text: '' });
    expect(resumed!.reason).toMatch(
      /^the Bedrock session session-idle has ended: it had been idle since .*, past the agent's idle session timeout/,
    );
    expect(resumed!.decisions[0]).toMatchObject({ outcome: 'blocked', decision: { effect: 'deny' } });
    expect(credited).toEqual([]);
    expect(emulator.requests).toHaveLength(1);
    expect(await parking.list()).toEqual([]);
    const events = await guard.query({ traceId: paused.traceId, order: 'asc' });
    expect(events.map(row)).toEqual([
      'decision write:account_credit require_approval',
      'approval_requested write:account_credit require_approval',
      'approval_granted write:account_credit allow maria',
      'outcome write:account_credit require_approval/blocked',
    ]);
    expect(events[3]!.reason).toBe(resumed!.reason);
    // The approval was never used: nothing ran under it.
    expect((await guard.approvals!.get(id))?.usedAt).toBeUndefined();
  });

  it('a shorter idleSessionTTLInSeconds counts, and a pending approval is withdrawn with the session', async () => {
    const { guard, agentOptions, agent } = await parked([[bedrockReturnControl([credit()])]], {
      idleSessionTTLInSeconds: 60,
    });
    const paused = await agent.invoke({ sessionId: 'session-short', inputText: 'Credit John $25' });
    const id = paused.pendingApprovals[0]!.approvalId;
    expect(Date.parse(paused.pendingApprovals[0]!.resumeBy) - Date.now()).toBeLessThanOrEqual(60_000);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 61_000);
    expect((await resumeParkedTurn(id, agentOptions))!.status).toBe('session_ended');
    expect((await guard.approvals!.get(id))?.status).toBe('cancelled');
  });

  it('the emulator enforces it: results sent after the timeout find no invocation waiting', async () => {
    let now = Date.parse('2026-03-02T09:00:00Z');
    const emulator = await startBedrockEmulator({
      script: [[bedrockReturnControl([credit()], 'inv-idle')], relay],
      idleSessionTTLInSeconds: 600,
      clock: () => now,
    });
    try {
      const client = new BedrockAgentRuntimeClient(emulator.clientConfig);
      const invoke = async (body: Record<string, unknown>) => {
        const response = await client.send(
          new InvokeAgentCommand({
            agentId: 'SUPPORT001',
            agentAliasId: 'LIVE001',
            sessionId: 'session-gone',
            ...body,
          }),
        );
        for await (const _ of response.completion ?? []) {
          // drain
        }
      };
      await invoke({ inputText: 'Credit John' });
      now += 601_000;
      const error = await invoke({
        sessionState: {
          invocationId: 'inv-idle',
          returnControlInvocationResults: [
            {
              functionResult: {
                actionGroup: 'Accounts',
                function: 'credit_account',
                agentId: 'SUPPORT001',
                responseBody: { TEXT: { body: 'Credited' } },
              },
            },
          ],
        },
      }).catch((e: unknown) => e);
      expect(String(error)).toContain('Unknown invocationId: inv-idle');
      expect(String(error)).toContain('session session-gone expired: idle for 601 s');
    } finally {
      await emulator.close();
    }
  });
});

describe('where parked turns live', () => {
  it('one private file per approval, never in the trail', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshguard-bedrock-private-'));
    const { agent, store } = await parked([[bedrockReturnControl([credit()])]], {
      parking: createFileParking(join(dir, 'parked')),
    });
    const paused = await agent.invoke({
      sessionId: 'session-private',
      inputText: 'Credit John $25',
      sessionState: { sessionAttributes: { customer_secret: 'pin-4242' } },
    });
    const id = paused.pendingApprovals[0]!.approvalId;
    expect(readdirSync(join(dir, 'parked'))).toEqual([`${id}.json`]);
    expect(statSync(join(dir, 'parked', `${id}.json`)).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'parked')).mode & 0o777).toBe(0o700);
    expect(JSON.stringify(store.events)).not.toContain('pin-4242');
  });
});
