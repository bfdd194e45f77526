import {
  approvalEventBody,
  approvalRef,
  newApprovalRequest,
  resumeWithApproval,
  traceIdOf,
} from '../approvals/approval-flow';
import type { ApprovalStore } from '../approvals/approval-store';
import type { PolicyEngine } from '../policy/policy-engine';
import type { ApprovalRequest } from '../protocol/approval';
import type { AuditEventBody } from '../protocol/audit-event';
import type { ParsedCheckRequest } from '../protocol/check-request';
import type { Decision } from '../protocol/decision';
import { failedCheckReason } from './adapter-contract';
import { decisionEventBodies, type EventDefaults } from './guard-event-bodies';

// What the embedded guard records for a check: the decision's events, and for `require_approval`
// the request it opens (or the approval it uses). No I/O but the approval store's.

/** A decision made, before its events are built. */
export interface Decided {
  req: ParsedCheckRequest;
  decision: Decision;
  now: number;
}

/** A decision and the events it is recorded as. */
export interface Made {
  decision: Decision;
  bodies: AuditEventBody[];
  /** The approval request this decision opens (stored already, or to journal with `bodies`). */
  opened?: ApprovalRequest;
}

/** A deny in place of `decision` because something it needed failed (fail closed). */
function failedDecision(decision: Decision, reason: string): Decision {
  const { approval: _approval, shadow: _shadow, ...rest } = decision;
  return { ...rest, allowed: false, effect: 'deny', reason };
}

/**
 * Builds the events of decisions. `keeper`: where approval requests live (none: a
 * `require_approval` opens none); `journaled`: the store takes a new request in the write of its
 * events (one line, one commit), so it is not created apart.
 */
export function createCheckRecorder(parts: {
  engine: PolicyEngine;
  defaults: EventDefaults;
  keeper: ApprovalStore | undefined;
  journaled: boolean;
}) {
  const { engine, defaults, keeper, journaled } = parts;

  /** The events a decision is recorded as (the decision, a shadow verdict, then `extra`). */
  const eventsOf = (d: Decided, extra: AuditEventBody[] = []): Made => {
    const bodies = decisionEventBodies(d.req, d.decision, d.now, defaults);
    if (extra.length > 0) bodies.push(...extra);
    return { decision: d.decision, bodies };
  };

  /**
   * The events of a decision that opened `approval`: the decision, then `approval_requested`
   * (which a journaling store records itself, from the request journaled with the decision).
   */
  const withOpened = (d: Decided, approval: ApprovalRequest): Made => {
    const decision: Decision = { ...d.decision, approval: approvalRef(approval) };
    const bodies = decisionEventBodies(d.req, decision, d.now, defaults);
    // Built after the decision's events, so its id sorts after theirs.
    if (!journaled) bodies.push(approvalEventBody(approval, d.now));
    return { decision, bodies, opened: approval };
  };

  const newRequest = ({ req, decision, now }: Decided): ApprovalRequest =>
    newApprovalRequest(req, decision, engine.approvalPolicy(decision), traceIdOf(req, decision), now);

  const withApproval = async (store: ApprovalStore, d: Decided): Promise<Made> => {
    const { req, decision, now } = d;
    if (req.approvalId !== undefined) {
      const resumed = await resumeWithApproval(store, req, decision, req.approvalId, now).catch(
        (error: unknown) => ({
          decision: failedDecision(decision, failedCheckReason('the approval could not be read', error)),
          events: [],
        }),
      );
      return eventsOf({ ...d, decision: resumed.decision }, resumed.events);
    }
    const approval = newRequest(d);
    try {
      await store.createApproval(approval);
    } catch (error) {
      const reason = failedCheckReason('the approval request could not be stored', error);
      return eventsOf({ ...d, decision: failedDecision(decision, reason) });
    }
    return withOpened(d, approval);
  };

  /** The events to record for a decision; a `require_approval` opens or uses its approval. */
  return (d: Decided): Made | Promise<Made> => {
    if (d.decision.effect !== 'require_approval' || !keeper) return eventsOf(d);
    if (journaled && d.req.approvalId === undefined) return withOpened(d, newRequest(d));
    return withApproval(keeper, d);
  };
}
