// Approvals behind a real gateway: an approver answers at the gateway (the agent's process
// cannot), and the chat either waits for that answer or is parked and resumed with a fresh guard.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Content, FunctionDeclaration } from '@google/genai';
import { createFileParking, createRemoteGuard } from '@meshguard/core';
import { startTestGateway } from '@meshguard/gateway/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type GovernFunctionsOptions, governFunctions } from './govern-functions';
import { runGovernedChat } from './governed-chat';
import { resumeParkedChat } from './resume-parked-chat';
import { chatOf, relay, SUPPORT_IDENTITY, supportFunctions, useEmulator } from './support-fixtures';
import { functionCallPart } from './vertex-emulator';

const emulators = useEmulator();
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const POLICY = `
name: refund-approvals
version: "1"
rules:
  - id: big-refunds-need-a-manager
    effect: require_approval
    actions: ["write:refund"]
    conditions: { amount_min: 50 }
    reason: "Refunds over $50 need a manager"
`;

const refundCall = (id: string) =>
  functionCallPart(
    'process_refund',
    { order_id: 'ORD-7', amount: 60 },
    { id, thoughtSignature: `sig-${id}` },
  );

/** A gateway with the approval rule, its agent's and approver's tokens, and agent processes. */
async function gatewayWorld() {
  const gateway = await startTestGateway([{ name: 'refunds.yaml', text: POLICY }]);
  cleanups.push(() => gateway.close());
  const agentToken = await gateway.agentToken({ name: 'support-agent', tags: ['vertex', 'support'] });
  const approverToken = await gateway.approverToken('maria');
  const spool = mkdtempSync(join(tmpdir(), 'mg-vertex-gw-'));
  cleanups.push(() => rmSync(spool, { recursive: true, force: true }));
  const { ran, functions } = supportFunctions();
  let processes = 0;
  /** The functions one process of the agent's side governs, with its own guard over the gateway. */
  const govern = (extra: Partial<GovernFunctionsOptions<FunctionDeclaration>> = {}) => {
    const guard = createRemoteGuard({
      url: gateway.url,
      agentToken,
      spoolDir: join(spool, String(++processes)),
    });
    cleanups.push(() => guard.close());
    return governFunctions({ guard, identity: SUPPORT_IDENTITY, functions, ...extra });
  };
  return { gateway, approverToken, ran, govern };
}

describe('Gemini approvals behind a gateway', () => {
  it('waits for the approver where onApprovalRequired approved: the refund runs once, the app approved nothing', async () => {
    const w = await gatewayWorld();
    const emulator = await emulators.start({ script: [{ parts: [refundCall('c1')] }, relay] });
    const governed = w.govern({
      traceId: 'trace_vgw_wait',
      onApprovalRequired: ({ decision }) => {
        const id = decision.approval!.id;
        setTimeout(() => void w.gateway.answer(id, 'approve', w.approverToken), 300);
        return { approve: true, by: 'the app' };
      },
    });
    const result = await runGovernedChat({
      chat: chatOf(emulator, governed),
      message: 'Refund',
      functions: governed,
    });
    expect(result.text).toBe('Done: process_refund');
    expect(w.ran).toEqual(['process_refund ORD-7 60']);
    const steps = (await w.gateway.trail('trace_vgw_wait')).map((e) =>
      [e.type, e.outcome ?? e.effect, e.actor].filter(Boolean).join(' '),
    );
    expect(steps).toEqual([
      'decision require_approval',
      'approval_requested require_approval',
      'approval_granted allow maria',
      'decision allow',
      'outcome success',
    ]);
  }, 30_000);

  it('answers with the rejection when the approver rejects at the gateway; nothing runs', async () => {
    const w = await gatewayWorld();
    const emulator = await emulators.start({ script: [{ parts: [refundCall('c2')] }, relay] });
    const governed = w.govern({
      onApprovalRequired: ({ decision }) => {
        const id = decision.approval!.id;
        setTimeout(() => void w.gateway.answer(id, 'reject', w.approverToken, 'refunded already'), 200);
        return { approve: true, by: 'the app' };
      },
    });
    const result = await runGovernedChat({
      chat: chatOf(emulator, governed),
      message: 'Refund',
      functions: governed,
    });
    expect(w.ran).toEqual([]);
    expect(result.text).toMatch(/Rejected by maria \(approval apr_\w+\): refunded already/);
  }, 30_000);

  it('parks the chat; approved at the gateway, a fresh guard resumes it and the refund runs once', async () => {
    const w = await gatewayWorld();
    const emulator = await emulators.start({ script: [{ parts: [refundCall('c3')] }, relay] });
    const parking = createFileParking(join(mkdtempSync(join(tmpdir(), 'mg-vertex-gw-park-')), 'parked'));
    const governed = w.govern({ traceId: 'trace_vgw_park' });
    const paused = await runGovernedChat({
      chat: chatOf(emulator, governed),
      message: 'Refund',
      functions: governed,
      parking,
    });
    expect(paused.status).toBe('awaiting_approval');
    const id = paused.pendingApprovals[0]!.approvalId;
    const later = () => {
      const functions = w.govern();
      return { functions, parking, chat: (history: Content[]) => chatOf(emulator, functions, history) };
    };
    await expect(resumeParkedChat(id, later())).rejects.toMatchObject({ code: 'approval_pending' });
    expect(await w.gateway.answer(id, 'approve', w.approverToken)).toBe(200);
    const resumed = await resumeParkedChat(id, later());
    expect(resumed).toMatchObject({ status: 'completed', text: 'Done: process_refund' });
    expect(w.ran).toEqual(['process_refund ORD-7 60']);
    await expect(resumeParkedChat(id, later())).rejects.toMatchObject({ code: 'run_not_parked' });
    expect(w.ran).toHaveLength(1);
  }, 30_000);
});
