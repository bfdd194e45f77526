import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Content, FunctionDeclaration } from '@google/genai';
import type { Content as LegacyContent } from '@google-cloud/vertexai';
import {
  type AuditEvent,
  createEmbeddedGuard,
  createFileParking,
  createPolicyEngine,
  parsePolicies,
} from '@meshguard/core';
import { describe, expect, it } from 'vitest';
import { type GovernFunctionsOptions, governFunctions } from './govern-functions';
import { runGovernedChat } from './governed-chat';
import { resumeParkedChat } from './resume-parked-chat';
import {
  chatOf,
  genaiClient,
  lastFunctionResponses,
  MODEL,
  relay,
  SUPPORT_IDENTITY,
  supportFunctions,
  supportGuard,
  useEmulator,
} from './support-fixtures';
import { functionCallPart } from './vertex-emulator';

const emulators = useEmulator();

const APPROVAL_POLICY = `
name: refund-approvals
version: "1"
appliesTo: { tags: [vertex] }
rules:
  - id: big-refunds-need-a-manager
    effect: require_approval
    actions: ["write:refund"]
    conditions: { amount_min: 50 }
    reason: "Refunds over $50 need a manager"
`;

const row = (e: AuditEvent) =>
  [e.type, e.action, e.outcome ? `${e.effect}/${e.outcome}` : e.effect, e.actor].filter(Boolean).join(' ');

const refundCall = (id: string, amount = 60, order = 'ORD-7') =>
  functionCallPart('process_refund', { order_id: order, amount }, { id, thoughtSignature: `sig-${id}` });

/** The support guard with the approval rule, parking in a temp folder, and functions to govern. */
function setup(traceId: string) {
  const { guard, store, clock } = supportGuard([APPROVAL_POLICY]);
  const parking = createFileParking(join(mkdtempSync(join(tmpdir(), 'meshguard-vertex-parked-')), 'parked'));
  const { ran, functions } = supportFunctions();
  const govern = (extra: Partial<GovernFunctionsOptions<FunctionDeclaration>> = {}) =>
    governFunctions({ guard, identity: SUPPORT_IDENTITY, functions, ...extra });
  const governed = govern({ traceId });
  const trail = async () => (await store.query({ traceId, order: 'asc' })).events.map(row);
  return { guard, store, clock, parking, ran, functions, govern, governed, trail };
}

describe('approvals a person answers, with @google/genai', () => {
  it('in process: the approver path records who, the approved call runs once, the rejected one never', async () => {
    const { guard, ran, govern, trail } = setup('trace_in_process');
    const emulator = await emulators.start({
      script: [{ parts: [refundCall('c1'), refundCall('c2', 70, 'ORD-8')] }, relay],
    });
    const governed = govern({
      traceId: 'trace_in_process',
      onApprovalRequired: ({ args }) =>
        args.amount === 60
          ? { approve: true, by: 'maria' }
          : { approve: false, by: 'maria', message: 'ORD-8 was refunded already.' },
    });
    const result = await runGovernedChat({
      chat: chatOf(emulator, governed),
      message: 'Refund ORD-7 and ORD-8',
      functions: governed,
    });
    expect(result.text).toBe('Done: process_refund Sorry: ORD-8 was refunded already.');
    expect(ran).toEqual(['process_refund ORD-7 60']);
    expect(emulator.problems).toEqual([]);
    const rows = await trail();
    expect(rows).toEqual([
      'decision write:refund require_approval',
      'approval_requested write:refund require_approval',
      'approval_granted write:refund allow maria',
      'decision write:refund require_approval',
      'approval_requested write:refund require_approval',
      'approval_rejected write:refund deny maria',
      'decision write:refund allow',
      'decision write:refund deny',
      'outcome write:refund allow/success',
      'outcome write:refund deny/blocked',
    ]);
    const approvals = await guard.approvals!.list();
    expect(approvals.approvals.map((a) => [a.status, a.answeredBy, a.usedAt !== undefined])).toEqual([
      ['rejected', 'maria', false],
      ['approved', 'maria', true],
    ]);
  });

  it('parks the chat, resumes it once approved: the handler runs once, all under one trace', async () => {
    const { guard, parking, ran, govern, governed, trail } = setup('trace_park');
    const emulator = await emulators.start({ script: [{ parts: [refundCall('c1')] }, relay] });
    const paused = await runGovernedChat({
      chat: chatOf(emulator, governed),
      message: 'Refund $60 on ORD-7',
      functions: governed,
      parking,
    });
    expect(paused).toMatchObject({
      status: 'awaiting_approval',
      traceId: 'trace_park',
      text: '',
      pendingApprovals: [
        { name: 'process_refund', id: 'c1', args: { order_id: 'ORD-7', amount: 60 }, action: 'write:refund' },
      ],
    });
    const id = paused.pendingApprovals[0]!.approvalId;
    expect(ran).toEqual([]);
    expect(await parking.list()).toEqual([id]);
    expect((await parking.get(id))?.framework).toBe('vertex');

    // Another process would build its own functions (and trace id) and chat.
    const resumeOptions = {
      functions: govern(),
      parking,
      chat: (history: Content[]) => chatOf(emulator, governed, history),
    };
    await expect(resumeParkedChat(id, resumeOptions)).rejects.toMatchObject({ code: 'approval_pending' });
    expect(emulator.requests).toHaveLength(1);

    await guard.approvals!.answer(id, { approve: true, by: 'maria', comment: 'known customer' });
    const resumed = await resumeParkedChat(id, resumeOptions);
    expect(resumed).toMatchObject({
      status: 'completed',
      text: 'Done: process_refund',
      traceId: 'trace_park',
    });
    expect(ran).toEqual(['process_refund ORD-7 60']);
    // The model's call came back verbatim (id, thought signature), answered with its id.
    expect(emulator.problems).toEqual([]);
    expect(lastFunctionResponses(emulator.requests[1]!.body.contents)).toEqual([
      {
        id: 'c1',
        name: 'process_refund',
        response: { status: 'refunded', order_id: 'ORD-7', amount: 60, ref: 'REF-0001' },
      },
    ]);
    await expect(resumeParkedChat(id, resumeOptions)).rejects.toMatchObject({ code: 'run_not_parked' });
    expect(ran).toHaveLength(1);
    expect(await trail()).toEqual([
      'decision write:refund require_approval',
      'approval_requested write:refund require_approval',
      'approval_granted write:refund allow maria',
      'decision write:refund allow',
      'outcome write:refund allow/success',
    ]);
  });

  it('of two resumers, one runs the call', async () => {
    const { guard, parking, ran, govern, governed } = setup('trace_race');
    const emulator = await emulators.start({ script: [{ parts: [refundCall('c1')] }, relay] });
    const paused = await runGovernedChat({
      chat: chatOf(emulator, governed),
      message: 'Refund $60 on ORD-7',
      functions: governed,
      parking,
    });
    const id = paused.pendingApprovals[0]!.approvalId;
    await guard.approvals!.answer(id, { approve: true, by: 'maria' });
    const options = { functions: govern(), parking, chat: (h: Content[]) => chatOf(emulator, governed, h) };
    const both = await Promise.allSettled([resumeParkedChat(id, options), resumeParkedChat(id, options)]);
    expect(both.map((r) => (r.status === 'fulfilled' ? r.value.status : r.reason.code)).sort()).toEqual([
      'completed',
      'run_not_parked',
    ]);
    expect(ran).toHaveLength(1);
    expect(emulator.requests).toHaveLength(2);
  });

  it('a rejection is sent as the function response: the model hears who and why, nothing runs', async () => {
    const { guard, parking, ran, govern, governed, trail } = setup('trace_reject');
    const emulator = await emulators.start({ script: [{ parts: [refundCall('c1')] }, relay] });
    const paused = await runGovernedChat({
      chat: chatOf(emulator, governed),
      message: 'Refund $60 on ORD-7',
      functions: governed,
      parking,
    });
    const id = paused.pendingApprovals[0]!.approvalId;
    await guard.approvals!.answer(id, { approve: false, by: 'maria', comment: 'refunded last week' });
    const resumed = await resumeParkedChat(id, {
      functions: govern(),
      parking,
      chat: (h: Content[]) => chatOf(emulator, governed, h),
    });
    expect(resumed.text).toBe(
      `Sorry: Blocked by policy: Rejected by maria (approval ${id}): refunded last week`,
    );
    expect(ran).toEqual([]);
    expect(emulator.problems).toEqual([]);
    expect(await trail()).toEqual([
      'decision write:refund require_approval',
      'approval_requested write:refund require_approval',
      'approval_rejected write:refund deny maria',
      'decision write:refund deny',
      'outcome write:refund deny/blocked',
    ]);
  });

  it('an approval past its deadline cannot be given, and resuming answers with the expiry', async () => {
    const { guard, clock, parking, ran, govern, governed, trail } = setup('trace_expire');
    const emulator = await emulators.start({ script: [{ parts: [refundCall('c1')] }, relay] });
    const paused = await runGovernedChat({
      chat: chatOf(emulator, governed),
      message: 'Refund $60 on ORD-7',
      functions: governed,
      parking,
    });
    const id = paused.pendingApprovals[0]!.approvalId;
    clock.advance(61 * 60_000);
    await expect(guard.approvals!.answer(id, { approve: true, by: 'maria' })).rejects.toMatchObject({
      code: 'approval_conflict',
    });
    const resumed = await resumeParkedChat(id, {
      functions: govern(),
      parking,
      chat: (h: Content[]) => chatOf(emulator, governed, h),
    });
    expect(resumed.text).toMatch(
      new RegExp(`^Sorry: Blocked by policy: Approval ${id} expired at .* without an answer$`),
    );
    expect(ran).toEqual([]);
    expect(await trail()).toEqual([
      'decision write:refund require_approval',
      'approval_requested write:refund require_approval',
      'approval_expired write:refund deny meshguard',
      'decision write:refund deny',
      'outcome write:refund deny/blocked',
    ]);
  });

  it('answers the other calls of the turn at once, and sends every response together, in order', async () => {
    const { guard, parking, ran, govern, governed } = setup('trace_mixed');
    const emulator = await emulators.start({
      script: [
        {
          parts: [
            functionCallPart('lookup_customer', { email: 'john@example.com' }, { id: 'a' }),
            refundCall('b'),
            refundCall('c', 70, 'ORD-9'),
          ],
        },
        relay,
      ],
    });
    const paused = await runGovernedChat({
      chat: chatOf(emulator, governed),
      message: 'Look up John; refund ORD-7 and ORD-9',
      functions: governed,
      parking,
    });
    expect(ran).toEqual(['lookup_customer john@example.com']);
    expect(paused.pendingApprovals.map((p) => p.id)).toEqual(['b', 'c']);
    const [b, c] = paused.pendingApprovals.map((p) => p.approvalId);
    await guard.approvals!.answer(b!, { approve: true, by: 'maria' });
    const options = { functions: govern(), parking, chat: (h: Content[]) => chatOf(emulator, governed, h) };
    await expect(resumeParkedChat(b!, options)).rejects.toMatchObject({
      code: 'approval_pending',
      message: expect.stringContaining(c!),
    });
    await guard.approvals!.answer(c!, { approve: false, by: 'li' });
    const resumed = await resumeParkedChat(c!, options);
    expect(lastFunctionResponses(emulator.requests[1]!.body.contents).map((r) => r.id)).toEqual([
      'a',
      'b',
      'c',
    ]);
    expect(resumed.text).toBe(
      `Done: lookup_customer Done: process_refund Sorry: Blocked by policy: Rejected by li (approval ${c})`,
    );
    expect(ran).toEqual(['lookup_customer john@example.com', 'process_refund ORD-7 60']);
    expect(emulator.problems).toEqual([]);
  });

  it('runs nothing when the call is no longer the one approved, or policy now denies it', async () => {
    const { guard, store, clock, parking, ran, functions, governed } = setup('trace_changed');
    const emulator = await emulators.start({
      script: [{ parts: [refundCall('c1')] }, relay, { parts: [refundCall('c2')] }, relay],
    });
    const chat = chatOf(emulator, governed);
    const first = await runGovernedChat({ chat, message: 'Refund ORD-7', functions: governed, parking });
    const id1 = first.pendingApprovals[0]!.approvalId;
    await guard.approvals!.answer(id1, { approve: true, by: 'maria' });
    // The resumer maps the arguments to another context: not what was approved.
    const changed = governFunctions({
      guard,
      identity: SUPPORT_IDENTITY,
      functions,
      context: (args) => ({ ...args, amount: 61 }),
    });
    const afterChange = await resumeParkedChat(id1, {
      functions: changed,
      parking,
      chat: (h: Content[]) => chatOf(emulator, governed, h),
    });
    expect(afterChange.text).toContain('Sorry: Blocked by policy: Denied: the arguments differ');

    const second = await runGovernedChat({
      chat: chatOf(emulator, governed),
      message: 'Refund ORD-7 again',
      functions: governed,
      parking,
    });
    const id2 = second.pendingApprovals[0]!.approvalId;
    await guard.approvals!.answer(id2, { approve: true, by: 'maria' });
    const frozen = createEmbeddedGuard({
      engine: createPolicyEngine(
        parsePolicies(`
name: frozen
version: "1"
appliesTo: { tags: [vertex] }
rules:
  - effect: deny
    actions: ["write:refund"]
    reason: Refunds are frozen
`),
        { clock },
      ),
      store,
      clock,
    });
    const afterFreeze = await resumeParkedChat(id2, {
      functions: governFunctions({ guard: frozen, identity: SUPPORT_IDENTITY, functions }),
      parking,
      chat: (h: Content[]) => chatOf(emulator, governed, h),
    });
    expect(afterFreeze.text).toMatch(/^Sorry: Blocked by policy: Refunds are frozen/);
    expect(ran).toEqual([]);
    expect(emulator.problems).toEqual([]);
  });

  it('keeps the parked chat private (0600), out of the trail', async () => {
    const { governed, store } = setup('trace_private');
    const dir = mkdtempSync(join(tmpdir(), 'meshguard-vertex-private-'));
    const own = createFileParking(join(dir, 'parked'));
    const emulator = await emulators.start({ script: [{ parts: [refundCall('c1')] }] });
    const paused = await runGovernedChat({
      chat: chatOf(emulator, governed),
      message: 'Refund $60 on ORD-7, my card ends 4242',
      functions: governed,
      parking: own,
    });
    const id = paused.pendingApprovals[0]!.approvalId;
    expect(readdirSync(join(dir, 'parked'))).toEqual([`${id}.json`]);
    expect(statSync(join(dir, 'parked', `${id}.json`)).mode & 0o777).toBe(0o600);
    expect(JSON.stringify(store.events)).not.toContain('card ends 4242');
  });
});

describe('parking with the other chats', () => {
  it('a history chat the caller keeps', async () => {
    const { guard, parking, ran, govern, governed } = setup('trace_history');
    const emulator = await emulators.start({ script: [{ parts: [refundCall('h1')] }, relay] });
    const ai = genaiClient(emulator);
    const historyChat = (history: Content[]) => ({
      history,
      generateContent: (contents: Content[]) =>
        ai.models.generateContent({ model: MODEL, contents, config: { tools: [governed.tool] } }),
    });
    const paused = await runGovernedChat({
      chat: historyChat([]),
      message: 'Refund $60 on ORD-7',
      functions: governed,
      parking,
    });
    const id = paused.pendingApprovals[0]!.approvalId;
    await guard.approvals!.answer(id, { approve: true, by: 'maria' });
    const resumed = await resumeParkedChat(id, { functions: govern(), parking, chat: historyChat });
    expect(resumed.text).toBe('Done: process_refund');
    expect(ran).toHaveLength(1);
    expect(emulator.problems).toEqual([]);
  });

  it('@google-cloud/vertexai (legacy, over TLS): startChat({ history })', async () => {
    const { guard, parking, ran, govern, governed } = setup('trace_legacy_park');
    const emulator = await emulators.start({ tls: true, script: [{ parts: [refundCall('l1')] }, relay] });
    const model = emulators.legacyModel(emulator, governed);
    const paused = await runGovernedChat({
      chat: model.startChat({}),
      message: 'Refund $60 on ORD-7',
      functions: governed,
      parking,
    });
    const id = paused.pendingApprovals[0]!.approvalId;
    await guard.approvals!.answer(id, { approve: true, by: 'maria' });
    const resumed = await resumeParkedChat(id, {
      functions: govern(),
      parking,
      chat: (history: LegacyContent[]) => model.startChat({ history }),
    });
    expect(resumed.text).toBe('Done: process_refund');
    expect(ran).toHaveLength(1);
    expect(emulator.problems).toEqual([]);
  });
});
