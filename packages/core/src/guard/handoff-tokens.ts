import type { HandoffToken } from '../protocol/gateway-agent-wire';

/**
 * Delegated tokens a gateway issued on allowed handoffs, held in this process so the target
 * agent's remote guard carries them. A gateway answers an allowed `handoff:<target>` check with
 * `handoffToken`, bound to the target agent; its checks made with that token are decided with the
 * delegation chain the token carries, whatever the request body says. The target's guard (a
 * remote guard holding the target's own token, at the same gateway) sends the delegated token
 * instead of its own for checks made after the handoff: those that carry a delegation chain, in
 * the same trace.
 */

const held = new Map<string, { token: string; expiresAt: number }>();
const subjects = new Map<string, string | undefined>();

const keyOf = (base: string, agentId: string, traceId: string | undefined) =>
  `${base}\u0000${agentId}\u0000${traceId ?? ''}`;

/** The `sub` of a JWT, read without verifying it: only to find a token issued for the same agent. */
function subjectOf(token: string): string | undefined {
  if (subjects.has(token)) return subjects.get(token);
  let sub: string | undefined;
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    sub = typeof payload?.sub === 'string' ? payload.sub : undefined;
  } catch {
    sub = undefined;
  }
  if (subjects.size >= 1000) subjects.clear();
  subjects.set(token, sub);
  return sub;
}

/** Keeps the delegated token a gateway's check reply carries, if it carries one. */
export function keepHandoffToken(
  base: string,
  request: { traceId?: string | undefined },
  handoffToken: HandoffToken | undefined,
): void {
  if (!handoffToken?.token) return;
  const { token, agent, expiresAt } = handoffToken;
  // Bounded: tokens an hour past their expiry go once there are many (their runs are over).
  const stale = Date.now() - 3_600_000;
  if (held.size >= 1000) for (const [key, entry] of held) if (entry.expiresAt <= stale) held.delete(key);
  held.set(keyOf(base, agent.id, request.traceId), { token, expiresAt: Date.parse(expiresAt) });
}

/**
 * The bearer token a check carries: a delegated token held for this guard's agent in this trace
 * when the check carries a delegation chain (the agent acts after a handoff), else its own.
 */
export function bearerFor(
  base: string,
  ownToken: string,
  request: { traceId?: string | undefined; delegation?: readonly unknown[] | undefined },
): string {
  if (!request.delegation || request.delegation.length === 0) return ownToken;
  const sub = subjectOf(ownToken);
  if (!sub) return ownToken;
  // An expired token is still sent: the gateway refuses it and the check is denied (fail closed),
  // rather than the agent escaping its chain by acting on its own token again.
  return held.get(keyOf(base, sub, request.traceId))?.token ?? ownToken;
}
