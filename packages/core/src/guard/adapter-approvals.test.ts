import { describe, expect, it } from 'vitest';
import type { ApprovalState, ApprovalStatusOptions } from '../approvals/approval-flow';
import { MeshGuardError } from '../errors/meshguard-error';
import { answeredAtGateway, awaitApprovalAnswer, notApprovedReason } from './adapter-approvals';
import type { Guard } from './guard';

/** A guard that reads requests it cannot answer (a gateway's), answering reads from `states`. */
function reading(states: Array<ApprovalState | undefined | Error>) {
  const waits: number[] = [];
  const guard = {
    mode: 'remote',
    async approvalStatus(_id: string, options?: ApprovalStatusOptions) {
      waits.push(options?.waitMs ?? 0);
      const next = states.length > 1 ? states.shift() : states[0];
      if (next instanceof Error) throw next;
      return next;
    },
  } as unknown as Guard;
  return { guard, waits };
}

const state = (status: ApprovalState['status'], expiresAt: string): ApprovalState => ({
  id: 'apr_1',
  status,
  expiresAt,
  reason: status === 'approved' ? 'Approved by maria (approval apr_1)' : 'a person looks',
});

describe('waiting for an answer given at a gateway', () => {
  it("long-polls while pending, 25 s at most each (under proxies' 60 s idle limit), and returns the answer", async () => {
    const expiresAt = new Date(Date.now() + 30 * 60_000).toISOString();
    const { guard, waits } = reading([state('pending', expiresAt), state('approved', expiresAt)]);
    expect(answeredAtGateway(guard)).toBe(true);
    expect(await awaitApprovalAnswer(guard, 'apr_1', expiresAt)).toMatchObject({ status: 'approved' });
    expect(waits).toEqual([25_000, 25_000]);
  });

  it('stops at the expiry (and its grace) with the request as last read: pending lets nothing through', async () => {
    const expiresAt = new Date(Date.now() - 60_000).toISOString();
    const { guard, waits } = reading([state('pending', expiresAt)]);
    const last = await awaitApprovalAnswer(guard, 'apr_1', expiresAt);
    expect(last?.status).toBe('pending');
    expect(waits).toEqual([0]);
    expect(notApprovedReason(last, 'apr_1', expiresAt)).toBe(
      `Approval apr_1 was not answered before it expired at ${expiresAt}`,
    );
    expect(notApprovedReason(undefined, 'apr_1', expiresAt)).toBe(
      'Denied: there is no approval request apr_1',
    );
  });

  it('reads again after a momentary failure (no answer, a 5xx), and throws a final one (a 403)', async () => {
    const expiresAt = new Date(Date.now() + 30 * 60_000).toISOString();
    const unreachable = new MeshGuardError('no answer', { code: 'gateway_unreachable' });
    const busy = Object.assign(new MeshGuardError('busy', { code: 'gateway_refused' }), { status: 503 });
    const { guard, waits } = reading([unreachable, busy, state('approved', expiresAt)]);
    const started = Date.now();
    expect(await awaitApprovalAnswer(guard, 'apr_1', expiresAt)).toMatchObject({ status: 'approved' });
    expect(waits).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_900); // paused 1 s, then 2 s
    const forbidden = Object.assign(new MeshGuardError('no', { code: 'forbidden' }), { status: 403 });
    await expect(awaitApprovalAnswer(reading([forbidden]).guard, 'apr_1', expiresAt)).rejects.toBe(forbidden);
  }, 10_000);

  it('never spins on a guard that answers pending at once, and reads once an expiry that is no time', async () => {
    const soon = new Date(Date.now() + 1_500 - 10_000).toISOString(); // the deadline: 1.5 s from now
    const { guard, waits } = reading([state('pending', soon)]);
    expect((await awaitApprovalAnswer(guard, 'apr_1', soon))?.status).toBe('pending');
    expect(waits.length).toBeLessThanOrEqual(4);
    const once = reading([state('pending', 'soon')]);
    expect((await awaitApprovalAnswer(once.guard, 'apr_1', 'soon'))?.status).toBe('pending');
    expect(once.waits).toEqual([0]);
  }, 10_000);

  it('stops at `until` when it comes first', async () => {
    const expiresAt = new Date(Date.now() + 30 * 60_000).toISOString();
    const { guard } = reading([state('pending', expiresAt)]);
    const started = Date.now();
    expect(
      (await awaitApprovalAnswer(guard, 'apr_1', expiresAt, { until: Date.now() + 1_200 }))?.status,
    ).toBe('pending');
    expect(Date.now() - started).toBeLessThan(5_000);
  }, 10_000);

  it('is no gateway guard that answers here, or an embedded one without approvals', () => {
    const embedded = { mode: 'embedded', approvalStatus: async () => undefined } as unknown as Guard;
    expect(answeredAtGateway(embedded)).toBe(false);
    const answering = {
      mode: 'embedded',
      approvalStatus: async () => undefined,
      approvals: { answer: async () => undefined },
    } as unknown as Guard;
    expect(answeredAtGateway(answering)).toBe(false);
  });
});
