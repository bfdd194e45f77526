import type { ApprovalPage, ApprovalRequest, ParsedApprovalListQuery } from '../protocol/approval';
import type { ApprovalStore } from './approval-store';

/**
 * Approval requests in memory (the memory store's): each change is atomic because it runs
 * without awaiting anything. Copies go in and out, so a caller cannot edit what is stored.
 */
export function createMemoryApprovals(): ApprovalStore {
  const byId = new Map<string, ApprovalRequest>();
  // Ids in creation order: a listing walks it backwards (newest first).
  const order: string[] = [];
  const copy = (approval: ApprovalRequest): ApprovalRequest => structuredClone(approval);

  return {
    async createApproval(request) {
      if (byId.has(request.id)) return;
      byId.set(request.id, copy(request));
      order.push(request.id);
    },
    async getApproval(id) {
      const found = byId.get(id);
      return found && copy(found);
    },
    async listApprovals(query: ParsedApprovalListQuery): Promise<ApprovalPage> {
      const start = query.cursor === undefined ? order.length - 1 : order.indexOf(query.cursor) - 1;
      const approvals: ApprovalRequest[] = [];
      for (let i = start; i >= 0; i--) {
        const approval = byId.get(order[i]!)!;
        if (query.status && approval.status !== query.status) continue;
        if (query.agent && approval.agent.id !== query.agent) continue;
        if (query.traceId && approval.traceId !== query.traceId) continue;
        if (approvals.length === query.limit) return { approvals, nextCursor: approvals.at(-1)!.id };
        approvals.push(copy(approval));
      }
      return { approvals };
    },
    async answerApproval(id, transition) {
      const approval = byId.get(id);
      if (!approval) return undefined;
      if (approval.status !== 'pending') return { changed: false, approval: copy(approval) };
      approval.status = transition.status;
      approval.answeredBy = transition.by;
      approval.answeredAt = transition.at;
      if (transition.comment !== undefined) approval.comment = transition.comment;
      return { changed: true, approval: copy(approval) };
    },
    async useApproval(id, at) {
      const approval = byId.get(id);
      if (approval?.status !== 'approved' || approval.usedAt !== undefined) return false;
      approval.usedAt = at;
      return true;
    },
    async expireApprovals(now) {
      const limit = Date.parse(now);
      const expired: ApprovalRequest[] = [];
      for (const approval of byId.values()) {
        if (approval.status !== 'pending' || Date.parse(approval.expiresAt) > limit) continue;
        approval.status = 'expired';
        approval.answeredBy = 'meshguard';
        approval.answeredAt = now;
        expired.push(copy(approval));
      }
      return expired;
    },
    async purgeApprovalArguments(before) {
      const limit = Date.parse(before);
      let purged = 0;
      for (const approval of byId.values()) {
        if (approval.status === 'pending' || approval.argumentsPurgedAt !== undefined) continue;
        if (Date.parse(approval.answeredAt ?? approval.expiresAt) >= limit) continue;
        approval.arguments = {};
        approval.argumentsPurgedAt = new Date().toISOString();
        purged++;
      }
      return purged;
    },
  };
}
