import type { CheckRequest } from '../protocol/check-request';
import type { Judgement } from '../protocol/judgement';
import type { Guard } from './guard';

/**
 * A guard that can judge a request with its context without recording a decision (a remote
 * guard asks the gateway's `POST /v1/judge`). Used for calls that ran where nothing could stop
 * them: what policy says of them is recorded as what was observed, not as a decision.
 */
export interface JudgingGuard extends Guard {
  /**
   * What policy decides for `request` as given (context, clock, delegation), recording nothing.
   * Fails closed: a policy that cannot be consulted is a deny saying why.
   *
   * @example
   * const { effect } = await guard.judge({ action: 'read:web_search', agent, context: { query } });
   */
  judge(request: CheckRequest): Promise<Judgement>;
}

/** Whether `guard` can judge with context (see `JudgingGuard`). */
export function canJudge(guard: Guard): guard is JudgingGuard {
  return typeof (guard as Partial<JudgingGuard>).judge === 'function';
}
