import type { CheckContext, CheckRequest } from '../protocol/check-request';
import type { Decision, Effect } from '../protocol/decision';
import type { AdapterCheckRequest } from './adapter-kit';
import type { Guard } from './guard';
import { canJudge } from './judging-guard';

/**
 * Something that ran where MeshGuard could not stop it (a hosted tool on the provider's side, a
 * hand-off inside AWS), seen afterwards: recorded as `observed`, with what policy says of it.
 */
export interface ObservedCall extends AdapterCheckRequest {
  /** What it did (a search query, code), recorded and judged. */
  context?: CheckContext;
  /**
   * What policy judges, each on its own, when that is not `context` as a whole: one per search
   * query of a call that ran several. It counts as allowed only if every one is.
   */
  judge?: CheckContext[];
  /**
   * Where it ran, the start of the recorded reason, e.g. `observed in the Bedrock trace: it ran
   * inside AWS, where MeshGuard cannot stop it`.
   */
  notGated: string;
  /** A stable event id, so that recording the same call twice records it once. */
  id?: string;
  /** Set when the call itself failed. */
  error?: string;
}

/** What policy says of an observed call: the effect to record, and the reason that says so. */
export interface ObservedVerdict {
  effect: Effect;
  /** `effect` is `allow`: policy would have allowed it as it ran. */
  policyAllows: boolean;
  reason: string;
}

type Explaining = Guard & { explain(request: CheckRequest): { decision: Decision } };

/** The embedded guard explains without recording (a remote guard judges: see `JudgingGuard`). */
function explains(guard: Guard): guard is Explaining {
  return typeof (guard as Partial<Explaining>).explain === 'function';
}

const RANK: Record<Effect, number> = { allow: 0, require_approval: 1, deny: 2 };

/**
 * What policy would have decided for a call that already ran, recording nothing: judged as it ran,
 * with its context (a query condition holds or not), by the embedded guard's engine or, behind a
 * gateway, by the gateway (`POST /v1/judge`). A guard that can do neither (one the host wrote)
 * tells only whether policy could allow the action at all (conditions on the context count as
 * satisfiable). A policy that cannot be consulted counts as not allowing it.
 */
export async function judgeObservedCall(
  call: ObservedCall,
  stamp: Pick<CheckRequest, 'framework' | 'source'>,
): Promise<ObservedVerdict> {
  const { guard, notGated } = call;
  const request: CheckRequest = {
    action: call.action,
    agent: call.agent,
    kind: call.kind,
    traceId: call.traceId,
    ...stamp,
  };
  if (call.delegation && call.delegation.length > 0) request.delegation = call.delegation;
  let verdict: { effect: Effect; reason: string };
  try {
    const judgeWith: ((context: CheckContext) => Promise<Pick<Decision, 'effect' | 'reason'>>) | undefined =
      explains(guard)
        ? async (context) => guard.explain({ ...request, context }).decision
        : canJudge(guard)
          ? (context) => guard.judge({ ...request, context })
          : undefined;
    if (judgeWith) {
      const contexts = call.judge && call.judge.length > 0 ? call.judge : [call.context ?? {}];
      let worst: Pick<Decision, 'effect' | 'reason'> | undefined;
      for (const context of contexts) {
        const judged = await judgeWith(context);
        if (!worst || RANK[judged.effect] > RANK[worst.effect]) worst = judged;
      }
      verdict = { effect: worst!.effect, reason: worst!.reason };
    } else {
      const reach = await guard.reachable(request);
      verdict = { effect: reach.reachable ? 'allow' : 'deny', reason: reach.reason };
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      effect: 'deny',
      policyAllows: false,
      reason: `${notGated}; policy could not be consulted: ${message}`,
    };
  }
  switch (verdict.effect) {
    case 'allow':
      return { effect: 'allow', policyAllows: true, reason: notGated };
    case 'require_approval':
      return {
        effect: 'require_approval',
        policyAllows: false,
        reason: `${notGated}; policy would have required approval, which nobody could give: ${verdict.reason}`,
      };
    default:
      return {
        effect: 'deny',
        policyAllows: false,
        reason: `${notGated}; policy would not allow it: ${verdict.reason}`,
      };
  }
}
