import { isoTime, uuidv7 } from '../ids/uuidv7';
import type { AgentIdentity } from '../protocol/agent-identity';
import type { AuditEventBody } from '../protocol/audit-event';
import type { ParsedCheckRequest } from '../protocol/check-request';
import type { Decision } from '../protocol/decision';
import type { ParsedOutcomeEvent } from '../protocol/outcome-event';

/** What an embedded guard stamps on events whose request or outcome does not say. */
export interface EventDefaults {
  framework: string;
  source: { name: string; version: string } | undefined;
}

/** The events a decision is recorded as: the decision, and its shadow verdict if any. */
export function decisionEventBodies(
  req: ParsedCheckRequest,
  decision: Decision,
  now: number,
  defaults: EventDefaults,
): AuditEventBody[] {
  const body: AuditEventBody = {
    v: 1,
    id: uuidv7(now),
    ts: isoTime(now),
    type: 'decision',
    traceId: req.traceId ?? `trace_${decision.decisionId.replaceAll('-', '')}`,
    agent: req.agent,
    framework: req.framework ?? defaults.framework,
    kind: req.kind ?? 'custom',
    action: req.action,
    effect: decision.effect,
    reason: decision.reason,
    mode: 'enforce',
    decisionId: decision.decisionId,
  };
  if (req.spanId) body.spanId = req.spanId;
  if (req.delegation && req.delegation.length > 0) body.delegation = req.delegation;
  if (decision.policy) body.policy = decision.policy;
  if (decision.rule) body.rule = decision.rule;
  const source = req.source ?? defaults.source;
  if (source) body.source = source;
  if (req.context) body.context = req.context;
  if (decision.approval) body.approvalId = decision.approval.id;
  const bodies = [body];
  if (decision.shadow) {
    const shadow: AuditEventBody = {
      ...body,
      id: uuidv7(now),
      effect: decision.shadow.effect,
      reason: decision.shadow.reason,
      mode: 'shadow',
    };
    delete shadow.policy;
    delete shadow.rule;
    if (decision.shadow.policy) shadow.policy = decision.shadow.policy;
    if (decision.shadow.rule) shadow.rule = decision.shadow.rule;
    bodies.push(shadow);
  }
  return bodies;
}

/**
 * The event an outcome is recorded as. `decided` is the guard's own record of the decision, if it
 * still holds it; `agent` and `action` are already resolved (the decision's win over the event's).
 */
export function outcomeEventBody(
  event: ParsedOutcomeEvent,
  decided: AuditEventBody | undefined,
  agent: AgentIdentity,
  action: string,
  now: number,
  defaults: EventDefaults,
): AuditEventBody {
  const decisionId = event.decisionId ?? uuidv7(now);
  const body: AuditEventBody = {
    v: 1,
    id: event.id ?? uuidv7(now),
    ts: event.ts ?? isoTime(now),
    type: event.type ?? 'outcome',
    traceId: decided?.traceId ?? event.traceId ?? `trace_${decisionId.replaceAll('-', '')}`,
    agent,
    framework: decided?.framework ?? event.framework ?? defaults.framework,
    kind: decided?.kind ?? event.kind ?? 'custom',
    action,
    effect:
      decided?.effect ??
      event.effect ??
      (event.outcome === 'blocked' || event.outcome === 'rejected' ? 'deny' : 'allow'),
    mode: 'enforce',
    decisionId,
    outcome: event.outcome,
  };
  const spanId = event.spanId ?? decided?.spanId;
  if (spanId) body.spanId = spanId;
  const delegation = decided?.delegation ?? event.delegation;
  if (delegation && delegation.length > 0) body.delegation = delegation;
  if (decided?.policy) body.policy = decided.policy;
  if (decided?.rule) body.rule = decided.rule;
  const reason = event.reason ?? decided?.reason;
  if (reason) body.reason = reason;
  if (event.durationMs !== undefined) body.durationMs = event.durationMs;
  if (event.actor) body.actor = event.actor;
  if (event.error) body.error = event.error;
  if (event.deliveredAt) body.deliveredAt = event.deliveredAt;
  const source = event.source ?? defaults.source;
  if (source) body.source = source;
  if (event.context) body.context = event.context;
  return body;
}
