import { sha256Hex } from '../audit/audit-chain';
import { MeshGuardError } from '../errors/meshguard-error';
import { isoTime, uuidv7 } from '../ids/uuidv7';
import type { ApprovalPolicy } from '../policy/compiled-policy';
import { type ApprovalRequest, type ApprovalStatus, argumentsHash } from '../protocol/approval';
import type { AuditEventBody, AuditEventType } from '../protocol/audit-event';
import type { ParsedCheckRequest } from '../protocol/check-request';
import type { Decision } from '../protocol/decision';
import type { ApprovalStore } from './approval-store';

// What a guard (embedded, or the gateway's) does with a `require_approval` decision: open a
// request, and later let exactly that call through once a person approved it.

/**
 * Refused: the approval request was answered already (the first answer wins), or has ended
 * (expired, cancelled). `current` is the request as it is.
 */
export class ApprovalConflictError extends MeshGuardError {
  readonly current: ApprovalRequest;
  constructor(current: ApprovalRequest) {
    super(
      `approval ${current.id} is ${current.status}${current.answeredBy ? ` (by ${current.answeredBy})` : ''}: only a pending request can be answered`,
      { code: 'approval_conflict' },
    );
    this.name = 'ApprovalConflictError';
    this.current = current;
  }
}

/** The request a `require_approval` decision opens, pending until `policy.expiresInMs` from now. */
export function newApprovalRequest(
  req: ParsedCheckRequest,
  decision: Decision,
  policy: ApprovalPolicy,
  traceId: string,
  now: number,
): ApprovalRequest {
  const args = req.context ?? {};
  const request: ApprovalRequest = {
    id: `apr_${uuidv7(now).replaceAll('-', '')}`,
    decisionId: decision.decisionId,
    traceId,
    agent: req.agent,
    action: req.action,
    arguments: args,
    argumentsHash: argumentsHash(args),
    reason: decision.reason,
    status: 'pending',
    requestedAt: isoTime(now),
    // Not through isoTime's cache of the current millisecond: the decision's events read it next.
    expiresAt: new Date(now + policy.expiresInMs).toISOString(),
    approvers: [...policy.approvers],
    notify: policy.notify ? [...policy.notify] : [],
  };
  if (req.framework) request.framework = req.framework;
  if (req.kind) request.kind = req.kind;
  if (decision.policy) request.policy = decision.policy;
  if (decision.rule) request.rule = decision.rule;
  return request;
}

/** The trace a check is recorded under (the request's, else one named after the decision). */
export function traceIdOf(req: ParsedCheckRequest, decision: Decision): string {
  return req.traceId ?? `trace_${decision.decisionId.replaceAll('-', '')}`;
}

const EVENT_OF: Record<Exclude<ApprovalStatus, 'pending'>, AuditEventType> = {
  approved: 'approval_granted',
  rejected: 'approval_rejected',
  expired: 'approval_expired',
  cancelled: 'approval_cancelled',
};

/**
 * The trail's event for a step of an approval: `approval_requested` while pending, else the
 * answer (`actor` is who gave it). Never the arguments: the event's context is left out, the
 * decision event beside it holds them redacted.
 */
export function approvalEventBody(approval: ApprovalRequest, now: number): AuditEventBody {
  return approvalEvent(approval, uuidv7(now), isoTime(now));
}

/**
 * The `approval_requested` event of a request a guard opened, as a journaling store records it
 * beside the request (see `JournalingStore.journal`): the request's own uuid is its id and its
 * `requestedAt` its time, so a journal line replayed after a crash records the same event again
 * (appends are idempotent by id).
 */
export function approvalRequestedBody(approval: ApprovalRequest): AuditEventBody {
  const hex = /^apr_([0-9a-f]{32})$/.exec(approval.id)?.[1] ?? sha256Hex(approval.id).slice(0, 32);
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return approvalEvent({ ...approval, status: 'pending' }, id, approval.requestedAt);
}

function approvalEvent(approval: ApprovalRequest, id: string, ts: string): AuditEventBody {
  const type: AuditEventType =
    approval.status === 'pending' ? 'approval_requested' : EVENT_OF[approval.status];
  const body: AuditEventBody = {
    v: 1,
    id,
    ts,
    type,
    traceId: approval.traceId,
    agent: approval.agent,
    framework: approval.framework ?? 'custom',
    kind: approval.kind ?? 'custom',
    action: approval.action,
    effect:
      approval.status === 'approved' ? 'allow' : approval.status === 'pending' ? 'require_approval' : 'deny',
    reason: approvalReason(approval),
    mode: 'enforce',
    decisionId: approval.decisionId,
    approvalId: approval.id,
  };
  if (approval.policy) body.policy = approval.policy;
  if (approval.rule) body.rule = approval.rule;
  if (approval.answeredBy) body.actor = approval.answeredBy;
  return body;
}

/** What a step of an approval says, for the trail and for a deny. */
export function approvalReason(approval: ApprovalRequest): string {
  const comment = approval.comment ? `: ${approval.comment}` : '';
  switch (approval.status) {
    case 'pending':
      return `${approval.reason} (approval ${approval.id} pending until ${approval.expiresAt})`;
    case 'approved':
      return `Approved by ${approval.answeredBy ?? 'an approver'} (approval ${approval.id})${comment}`;
    case 'rejected':
      return `Rejected by ${approval.answeredBy ?? 'an approver'} (approval ${approval.id})${comment}`;
    case 'expired':
      return `Approval ${approval.id} expired at ${approval.expiresAt} without an answer`;
    case 'cancelled':
      return `Approval ${approval.id} was cancelled${approval.answeredBy ? ` by ${approval.answeredBy}` : ''}${comment}`;
  }
}

/** The decision's `approval` field for a request. */
export function approvalRef(approval: ApprovalRequest): NonNullable<Decision['approval']> {
  const ref: NonNullable<Decision['approval']> = {
    id: approval.id,
    expiresAt: approval.expiresAt,
    status: approval.status,
  };
  if (approval.answeredBy) ref.answeredBy = approval.answeredBy;
  return ref;
}

/**
 * An approval request as the side that asked sees it: its status and what to tell the agent or
 * model, never the arguments (it sent them). What `guard.approvalStatus` answers, embedded or
 * remote, and what the gateway's `GET /v1/agent/approvals/{id}` returns.
 */
export interface ApprovalState {
  id: string;
  status: ApprovalRequest['status'];
  expiresAt: string;
  /** The rule that asked for approval while pending; the answer, in words, after. */
  reason: string;
  answeredBy?: string;
  answeredAt?: string;
  comment?: string;
}

export function approvalState(approval: ApprovalRequest): ApprovalState {
  const state: ApprovalState = {
    id: approval.id,
    status: approval.status,
    expiresAt: approval.expiresAt,
    reason: approvalReason(approval),
  };
  if (approval.answeredBy) state.answeredBy = approval.answeredBy;
  if (approval.answeredAt) state.answeredAt = approval.answeredAt;
  if (approval.comment) state.comment = approval.comment;
  return state;
}

/** How long `approvalStatus` may wait for an answer, and what stops it early. */
export interface ApprovalStatusOptions {
  /** Wait up to this long (ms) while the request is pending; default 0 (answer at once). */
  waitMs?: number;
  signal?: AbortSignal;
}

/** What a check naming an approval comes to, and the trail events of any step it took. */
export interface Resumed {
  decision: Decision;
  /** An expiry noticed on the way (recorded with the decision). */
  events: AuditEventBody[];
}

/**
 * Decides a call checked again with the `approvalId` of its approval request. The policy in force
 * decides first: a deny wins and an allow needs no approval. Only when it still asks for approval
 * does the approval count, and only for exactly this call (same agent, action and arguments hash),
 * approved, unexpired and unused: then it is allowed, once.
 */
export async function resumeWithApproval(
  store: ApprovalStore,
  req: ParsedCheckRequest,
  decided: Decision,
  approvalId: string,
  now: number,
): Promise<Resumed> {
  if (decided.effect !== 'require_approval') return { decision: decided, events: [] };
  const deny = (reason: string, approval?: ApprovalRequest): Resumed => ({
    decision: {
      ...decided,
      allowed: false,
      effect: 'deny',
      reason,
      ...(approval ? { approval: approvalRef(approval) } : {}),
    },
    events: [],
  });
  let approval = await store.getApproval(approvalId);
  if (!approval) return deny(`Denied: there is no approval request ${approvalId}`);
  if (approval.agent.id !== req.agent.id || approval.action !== req.action) {
    return deny(
      `Denied: approval ${approval.id} is for "${approval.action}" by agent "${approval.agent.id}", not this call`,
    );
  }
  if (approval.argumentsHash !== argumentsHash(req.context)) {
    return deny(
      `Denied: the arguments differ from those approval ${approval.id} was asked for (an approval covers exactly one call)`,
      approval,
    );
  }
  const events: AuditEventBody[] = [];
  if (approval.status === 'pending' && Date.parse(approval.expiresAt) <= now) {
    const expired = await expireOne(store, approval, now);
    approval = expired.approval;
    if (expired.changed) events.push(approvalEventBody(approval, now));
  }
  switch (approval.status) {
    case 'pending':
      return {
        decision: { ...decided, reason: approvalReason(approval), approval: approvalRef(approval) },
        events,
      };
    case 'approved': {
      if (!(await store.useApproval(approval.id, isoTime(now)))) {
        return deny(
          `Denied: approval ${approval.id} has let its call through already (each approval covers one call)`,
          approval,
        );
      }
      return {
        decision: {
          ...decided,
          allowed: true,
          effect: 'allow',
          reason: `${approvalReason(approval)}: ${decided.reason}`,
          approval: approvalRef(approval),
        },
        events,
      };
    }
    default:
      return { decision: deny(`Denied: ${approvalReason(approval)}`, approval).decision, events };
  }
}

/** Moves a pending request past its deadline to `expired` (by `meshguard`). */
export async function expireOne(
  store: ApprovalStore,
  approval: ApprovalRequest,
  now: number,
): Promise<{ changed: boolean; approval: ApprovalRequest }> {
  const answered = await store.answerApproval(approval.id, {
    status: 'expired',
    by: 'meshguard',
    at: isoTime(now),
  });
  return answered ?? { changed: false, approval };
}

/** Who asks to answer: an approver's name and tags, or the admin (who may answer anything). */
export interface Approver {
  name: string;
  tags: readonly string[];
  admin?: boolean;
}

/** Why `approver` may not answer `approval` (its rule names approvers they are not), if so. */
export function approverRefusal(approval: ApprovalRequest, approver: Approver): string | undefined {
  if (approver.admin || approval.approvers.length === 0) return undefined;
  if (approver.tags.some((tag) => approval.approvers.includes(tag))) return undefined;
  return `approval ${approval.id} may be answered only by approvers tagged ${approval.approvers.join(' or ')}`;
}
