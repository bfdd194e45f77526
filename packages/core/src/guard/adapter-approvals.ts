import { setTimeout as sleep } from 'node:timers/promises';
import createDebug from 'debug';
import type { ApprovalState, ApprovalStatusOptions } from '../approvals/approval-flow';
import type { GuardApprovals } from '../approvals/guard-approvals';
import { ConfigError, MeshGuardError } from '../errors/meshguard-error';
import type { Decision } from '../protocol/decision';
import type { Guard } from './guard';

// What every adapter does with the approval requests core opens for `require_approval`
// decisions, written once: find who can answer here, withdraw a request nobody can act on, read
// one as the side that asked.

const debug = createDebug('meshguard:approvals');

/**
 * The guard's approval requests when it can answer them here (an embedded guard over a store that
 * keeps them). A gateway guard cannot: its requests are answered at the gateway, by an approver
 * (an agent token gets 403 there); the adapters wait for that answer (`awaitApprovalAnswer`) or
 * park the run.
 */
export function approvalsOf(guard: Guard): GuardApprovals | undefined {
  const approvals = (guard as { approvals?: GuardApprovals }).approvals;
  return approvals && typeof approvals.answer === 'function' ? approvals : undefined;
}

/** Only an allow runs anything, whatever else a guard may answer. */
export function isAllowed(decision: Decision): boolean {
  return decision.effect === 'allow' && decision.allowed === true;
}

/**
 * Withdraws an approval request nobody can act on any more (the call was refused here), so it
 * leaves the approvers' inbox; recorded as `approval_cancelled` by `meshguard`. Best effort: a
 * request answered meanwhile stays as it is.
 */
export async function withdrawApproval(guard: Guard, approvalId: string, why: string): Promise<void> {
  const approvals = approvalsOf(guard);
  if (!approvals) return;
  try {
    await approvals.cancel(approvalId, 'meshguard', why);
  } catch (error) {
    debug('withdrawing approval %s failed: %O', approvalId, error);
  }
}

/** An approval request as the side that asked sees it (embedded or remote guard). */
export async function approvalStateOf(
  guard: Guard,
  approvalId: string,
  options?: ApprovalStatusOptions,
): Promise<ApprovalState | undefined> {
  if (typeof guard.approvalStatus !== 'function') {
    throw new ConfigError(
      'resuming an approved call needs a guard that reads approval requests (createGuard() from @meshguard/core)',
      { code: 'approval_unsupported' },
    );
  }
  return guard.approvalStatus(approvalId, options);
}

/**
 * Whether this guard's approval requests are answered elsewhere, not in this process: a gateway
 * guard's (or any guard that reads requests it cannot answer), by an approver at the gateway.
 */
export function answeredAtGateway(guard: Guard): boolean {
  return (
    !approvalsOf(guard) &&
    typeof guard.approvalStatus === 'function' &&
    (guard as { mode?: string }).mode !== 'embedded'
  );
}

/**
 * The longest one read of a request waits at the gateway: under the 60 s idle limit of common
 * proxies and load balancers, which would cut a longer poll with a 504.
 */
const LONG_POLL_MS = 25_000;
/** How long past `expiresAt` a request may still read pending (the gateway sweeps every second). */
const EXPIRY_GRACE_MS = 10_000;
/** A read that fails for a moment (the gateway restarting, a 5xx) is tried again after 1 s, then up to 10 s. */
const RETRY_MS = { first: 1_000, most: 10_000 };
/** A pending answer that came back sooner than this is read again only after it (never a busy loop). */
const MIN_READ_MS = 1_000;

/** How long `awaitApprovalAnswer` waits, and what stops it. */
export interface AwaitApprovalOptions {
  signal?: AbortSignal;
  /** Stop waiting at this time (epoch ms) if it comes before the request's expiry. */
  until?: number;
}

/**
 * Waits for a person's answer to an approval request this process cannot answer (a gateway
 * guard's), reading it as the side that asked: long polls while it is pending, until it is
 * answered, cancelled or expired. Past `expiresAt` (and a grace for the gateway's sweep), or past
 * `until`, it stops waiting and returns the request as it last read it, still pending: only an
 * approved request lets a call through. A read that fails for a moment (no answer, a 5xx, a 408 or
 * 429) is tried again with a growing pause until then; any other failure, or one at the deadline,
 * is thrown (the caller refuses the call). Undefined when there is no such request.
 */
export async function awaitApprovalAnswer(
  guard: Guard,
  approvalId: string,
  expiresAt: string,
  options: AwaitApprovalOptions = {},
): Promise<ApprovalState | undefined> {
  const { signal } = options;
  const expiry = Date.parse(expiresAt);
  // An expiry that is no time: nothing to wait for (one read, then whatever it says).
  const deadline = Number.isFinite(expiry)
    ? Math.min(expiry + EXPIRY_GRACE_MS, options.until ?? Number.POSITIVE_INFINITY)
    : Date.now();
  let retry = RETRY_MS.first;
  for (;;) {
    signal?.throwIfAborted();
    const left = deadline - Date.now();
    const waitMs = Math.max(0, Math.min(LONG_POLL_MS, left));
    const started = Date.now();
    let state: ApprovalState | undefined;
    try {
      state = await approvalStateOf(guard, approvalId, { waitMs, ...(signal ? { signal } : {}) });
    } catch (error) {
      if (!isMomentary(error) || left <= 0) throw error;
      debug('reading approval %s failed, trying again in %d ms: %O', approvalId, retry, error);
      await sleep(Math.min(retry, left), undefined, signal ? { signal } : {});
      retry = Math.min(retry * 2, RETRY_MS.most);
      continue;
    }
    retry = RETRY_MS.first;
    if (state?.status !== 'pending' || left <= 0) return state;
    const early = Math.min(waitMs, MIN_READ_MS) - (Date.now() - started);
    if (early > 0) await sleep(early, undefined, signal ? { signal } : {});
  }
}

/** The gateway did not answer in time, or could not be reached: worth reading again. */
const NO_ANSWER: ReadonlySet<string> = new Set([
  'gateway_timeout',
  'gateway_unreachable',
  'gateway_not_json',
]);

/** A failure worth reading again: no answer at all, or the gateway's 5xx, 408 or 429. */
function isMomentary(error: unknown): boolean {
  if (!MeshGuardError.isInstance(error)) return false;
  const status = (error as { status?: unknown }).status;
  if (typeof status === 'number') return status >= 500 || status === 408 || status === 429;
  return NO_ANSWER.has(error.code);
}

/**
 * Why a call whose request (read by `awaitApprovalAnswer`) did not let it through does not run:
 * the answer in words, or that none came before the request expired.
 */
export function notApprovedReason(
  state: ApprovalState | undefined,
  approvalId: string,
  expiresAt: string,
): string {
  if (!state) return `Denied: there is no approval request ${approvalId}`;
  if (state.status === 'pending')
    return `Approval ${approvalId} was not answered before it expired at ${expiresAt}`;
  return state.reason;
}
