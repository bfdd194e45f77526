import { describe, expect, it } from 'vitest';
import type { ApprovalState, ApprovalStatusOptions } from '../approvals/approval-flow';
import { answeredAtGateway, awaitApprovalAnswer, notApprovedReason } from './adapter-approvals';
import type { Guard } from './guard';

/** A guard that reads requests it cannot answer (a gateway's), answering reads from `states`. */
function reading(states: Array<ApprovalState | undefined>) {
  const waits: number[] = [];
  const guard = {
    mode: 'remote',
    async approvalStatus(_id: string, options?: ApprovalStatusOptions) {
      waits.push(options?.waitMs ?? 0);
      return states.length > 1 ? states.shift() : states[0];
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
  it('long-polls while pending, a minute at most each, and returns the answer', async () => {
    const expiresAt = new Date(Date.now() + 30 * 60_000).toISOString();
    const { guard, waits } = reading([state('pending', expiresAt), state('approved', expiresAt)]);
    expect(answeredAtGateway(guard)).toBe(true);
    expect(await awaitApprovalAnswer(guard, 'apr_1', expiresAt)).toMatchObject({ status: 'approved' });
    expect(waits).toEqual([60_000, 60_000]);
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
