import { MeshGuardError } from '../errors/meshguard-error';
import { parseWithSchema } from '../errors/parse-with-schema';
import { isoTime } from '../ids/uuidv7';
import type { Clock } from '../policy/policy-engine';
import {
  type ApprovalListQuery,
  ApprovalListQuerySchema,
  type ApprovalPage,
  type ApprovalRequest,
} from '../protocol/approval';
import type { AuditEventBody } from '../protocol/audit-event';
import {
  ApprovalConflictError,
  type Approver,
  approvalEventBody,
  approverRefusal,
  expireOne,
} from './approval-flow';
import { type ApprovalStore, canNotifyApprovals } from './approval-store';

/** A person's answer to an approval request, as `approvals.answer` takes it. */
export interface ApprovalDecisionInput {
  approve: boolean;
  /** Who answers (recorded as the actor). */
  by: string;
  /** Why: shown to the agent or model on a rejection, kept with the request. */
  comment?: string | undefined;
}

/** How long `approvals.wait` waits, and what can stop it early. */
export interface ApprovalWaitOptions {
  /** Default 30 s; the request is returned as it is then (still `pending` if unanswered). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * The approval requests a guard opened: read them, answer them, wait for an answer. An answer
 * moves a pending request once (the first wins; another gets an `ApprovalConflictError`) and is
 * recorded in the trail (`approval_granted`, `approval_rejected`...). A request past its deadline
 * is expired when it is next read.
 */
export interface GuardApprovals {
  get(id: string): Promise<ApprovalRequest | undefined>;
  /** Newest first; `{ status: 'pending' }` is the inbox. */
  list(query?: ApprovalListQuery): Promise<ApprovalPage>;
  /**
   * Approves or rejects a pending request. With `approver`, refuses (`approval_forbidden`) one the
   * request's rule does not name; without it the caller is trusted (it holds the database).
   */
  answer(id: string, answer: ApprovalDecisionInput, approver?: Approver): Promise<ApprovalRequest>;
  /** Withdraws a pending request (the side that asked no longer needs it). */
  cancel(id: string, by: string, comment?: string): Promise<ApprovalRequest>;
  /** Resolves once the request is no longer pending, or at the timeout with it as it is then. */
  wait(id: string, options?: ApprovalWaitOptions): Promise<ApprovalRequest>;
  /** Expires every pending request past its deadline (the gateway's sweeper); returns them. */
  expire(): Promise<ApprovalRequest[]>;
  /**
   * Drops the arguments of requests that ended more than `retentionMs` ago (default 30 days),
   * keeping their hash and everything else; returns how many.
   */
  purgeArguments(retentionMs?: number): Promise<number>;
}

/** How long the arguments of an ended request are kept by default: 30 days. */
export const DEFAULT_ARGUMENTS_RETENTION_MS = 30 * 86_400_000;

/** How often a waiter looks at the store when nothing tells it of a change (another process's answer). */
const WAIT_POLL_MS = 250;
const DEFAULT_WAIT_MS = 30_000;

/**
 * The approvals of a guard over its store. `record` appends trail events (the guard's own
 * durable path); `onChange`, if given, hears every change made here (the gateway's live feeds).
 */
export function createGuardApprovals(parts: {
  store: ApprovalStore;
  record: (bodies: AuditEventBody[]) => Promise<void>;
  clock?: Clock;
  /** Hears every step recorded here (an answer, an expiry, a cancel), after it is recorded. */
  onStep?: ((approval: ApprovalRequest) => void) | undefined;
}): GuardApprovals & { changed(id: string): void; close(): void } {
  const { store, record } = parts;
  const clock = parts.clock ?? Date.now;
  const waiters = new Map<string, Set<() => void>>();
  const changed = (id: string) => {
    for (const wake of waiters.get(id) ?? []) wake();
  };
  // Answers given by other processes: PostgreSQL says so at once; elsewhere waiters poll.
  const unsubscribe = canNotifyApprovals(store) ? store.onApprovalChange(changed) : undefined;

  const recordStep = async (approval: ApprovalRequest) => {
    try {
      await record([approvalEventBody(approval, clock())]);
    } catch (error) {
      throw new MeshGuardError(
        `approval ${approval.id} is ${approval.status}, but the trail could not record it: ${error instanceof Error ? error.message : String(error)}`,
        { code: 'approval_not_recorded', cause: error },
      );
    }
    parts.onStep?.(approval);
  };

  /** The request, expired first if it is pending past its deadline (and that recorded). */
  const current = async (id: string): Promise<ApprovalRequest | undefined> => {
    const approval = await store.getApproval(id);
    if (approval?.status !== 'pending') return approval;
    const now = clock();
    if (Date.parse(approval.expiresAt) > now) return approval;
    const expired = await expireOne(store, approval, now);
    if (expired.changed) {
      await recordStep(expired.approval);
      changed(id);
    }
    return expired.approval;
  };

  const transition = async (
    id: string,
    status: 'approved' | 'rejected' | 'cancelled',
    by: string,
    comment: string | undefined,
    approver?: Approver,
  ): Promise<ApprovalRequest> => {
    const before = await current(id);
    if (!before)
      throw new MeshGuardError(`there is no approval request ${id}`, { code: 'approval_not_found' });
    if (approver) {
      const refusal = approverRefusal(before, approver);
      if (refusal) throw new MeshGuardError(refusal, { code: 'approval_forbidden' });
    }
    if (before.status !== 'pending') throw new ApprovalConflictError(before);
    const answered = await store.answerApproval(id, {
      status,
      by,
      at: isoTime(clock()),
      ...(comment !== undefined ? { comment } : {}),
    });
    if (!answered)
      throw new MeshGuardError(`there is no approval request ${id}`, { code: 'approval_not_found' });
    if (!answered.changed) throw new ApprovalConflictError(answered.approval);
    changed(id);
    await recordStep(answered.approval);
    return answered.approval;
  };

  return {
    changed,
    close: () => unsubscribe?.(),
    get: current,
    async list(query = {}) {
      const parsed = parseWithSchema(ApprovalListQuerySchema, query, 'query');
      // The inbox shows what can still be answered: expire what has run out first.
      await this.expire();
      return store.listApprovals(parsed);
    },
    answer(id, answer, approver) {
      if (!answer.by)
        throw new MeshGuardError('an answer needs `by`: who answered', { code: 'validation_failed' });
      return transition(id, answer.approve ? 'approved' : 'rejected', answer.by, answer.comment, approver);
    },
    cancel(id, by, comment) {
      return transition(id, 'cancelled', by, comment);
    },
    async wait(id, options = {}) {
      // The wait is timed in real time (a test's frozen clock would never end it); the request's
      // deadline in the guard's clock, as every expiry is.
      const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_WAIT_MS);
      for (;;) {
        const approval = await current(id);
        if (!approval)
          throw new MeshGuardError(`there is no approval request ${id}`, { code: 'approval_not_found' });
        if (approval.status !== 'pending' || options.signal?.aborted) return approval;
        const left = Math.min(deadline - Date.now(), Date.parse(approval.expiresAt) + 1 - clock());
        if (left <= 0) return (await current(id)) ?? approval;
        await new Promise<void>((resolve) => {
          const set = waiters.get(id) ?? new Set<() => void>();
          waiters.set(id, set);
          const done = () => {
            clearTimeout(timer);
            options.signal?.removeEventListener('abort', done);
            set.delete(done);
            if (set.size === 0) waiters.delete(id);
            resolve();
          };
          const timer = setTimeout(done, Math.min(left, WAIT_POLL_MS));
          set.add(done);
          options.signal?.addEventListener('abort', done, { once: true });
        });
      }
    },
    purgeArguments(retentionMs = DEFAULT_ARGUMENTS_RETENTION_MS) {
      return store.purgeApprovalArguments(isoTime(clock() - retentionMs));
    },
    async expire() {
      const expired = await store.expireApprovals(isoTime(clock()));
      for (const approval of expired) {
        await recordStep(approval);
        changed(approval.id);
      }
      return expired;
    },
  };
}
