import type {
  ApprovalPage,
  ApprovalRequest,
  ApprovalTransition,
  ParsedApprovalListQuery,
} from '../protocol/approval';

/** What answering a request came to: whether this answer moved it, and the request as it now is. */
export interface ApprovalAnswered {
  /** True for the first answer to a pending request; false when it had an answer already. */
  changed: boolean;
  approval: ApprovalRequest;
}

/**
 * Where approval requests live: beside the trail, in the same database (the SQLite and PostgreSQL
 * stores of `@meshguard/store`, and the memory store). Every change of status is atomic: of two
 * answers to one request the first wins, the second sees `changed: false`. The arguments are kept
 * apart from the (redacted) trail and never enter the hash chain.
 *
 * The store keeps requests; the guard or gateway that changes one records the change in the trail.
 */
export interface ApprovalStore {
  /** Stores a pending request; an id it already holds is left as it is (a retried create). */
  createApproval(request: ApprovalRequest): Promise<void>;
  getApproval(id: string): Promise<ApprovalRequest | undefined>;
  /** Requests newest first, filtered; a page at a time. */
  listApprovals(query: ParsedApprovalListQuery): Promise<ApprovalPage>;
  /**
   * Moves a pending request to the transition's status, atomically (undefined when there is no
   * such request). A request that is no longer pending is returned as it is, with `changed: false`.
   */
  answerApproval(id: string, transition: ApprovalTransition): Promise<ApprovalAnswered | undefined>;
  /**
   * Marks an approved request as used by its call, once: true for the first use, false when it
   * was used already or is not approved. An approval lets its call through exactly once.
   */
  useApproval(id: string, at: string): Promise<boolean>;
  /** Moves every pending request whose `expiresAt` is at or before `now` to `expired`; returns them. */
  expireApprovals(now: string): Promise<ApprovalRequest[]>;
  /**
   * Drops the arguments of requests that ended (answered, expired, cancelled) before `before`,
   * keeping their hash; returns how many were purged.
   */
  purgeApprovalArguments(before: string): Promise<number>;
}

/** Whether `store` keeps approval requests (see `ApprovalStore`). */
export function canKeepApprovals(store: object): store is ApprovalStore {
  const s = store as Partial<ApprovalStore>;
  return typeof s.createApproval === 'function' && typeof s.answerApproval === 'function';
}

/**
 * An approval store that tells when another process changes a request (PostgreSQL:
 * LISTEN/NOTIFY), so a waiter on one replica wakes when an approver answers on another.
 */
export interface NotifyingApprovalStore extends ApprovalStore {
  /** Calls `listener` with the id of a request another process changed; returns the unsubscribe. */
  onApprovalChange(listener: (id: string) => void): () => void;
}

/** Whether `store` tells of approval changes (see `NotifyingApprovalStore`). */
export function canNotifyApprovals(store: ApprovalStore): store is NotifyingApprovalStore {
  return typeof (store as Partial<NotifyingApprovalStore>).onApprovalChange === 'function';
}
