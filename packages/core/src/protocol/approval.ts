import { z } from 'zod';
import { sha256Hex } from '../audit/audit-chain';
import { canonicalJson } from '../audit/canonical-json';
import { AgentIdentitySchema } from './agent-identity';
import { type ApprovalStatus, ApprovalStatusSchema } from './approval-status';
import { ActionKindSchema, ContextSchema } from './check-request';
import { PolicyRefSchema, RuleRefSchema } from './decision';

export { APPROVAL_STATUSES, type ApprovalStatus, ApprovalStatusSchema } from './approval-status';

/** The statuses an answer can move a pending request to. */
export type ApprovalEnd = Exclude<ApprovalStatus, 'pending'>;

const IsoTime = z.iso.datetime({ offset: true });

/**
 * A `require_approval` decision waiting for (or given) a person's answer. The arguments are the
 * exact ones the approver judges: they live beside the trail, not in it (the trail holds them
 * redacted), are never in the hash chain, and are dropped after the retention
 * (`argumentsPurgedAt`); `argumentsHash` stays, so the approved call can still be matched.
 */
export const ApprovalRequestSchema = z.object({
  id: z.string().min(1).max(256),
  /** The decision that asked for it (its event in the trail). */
  decisionId: z.string().min(1),
  traceId: z.string(),
  agent: AgentIdentitySchema,
  framework: z.string().optional(),
  kind: ActionKindSchema.optional(),
  action: z.string().min(1),
  /** The call's arguments and metadata as checked, unredacted; `{}` once purged. */
  arguments: ContextSchema,
  /** `sha256` of the canonical JSON of the arguments (hex): what an approval is bound to. */
  argumentsHash: z.string().regex(/^[0-9a-f]{64}$/),
  /** When the arguments were dropped (retention); absent while they are kept. */
  argumentsPurgedAt: IsoTime.optional(),
  policy: PolicyRefSchema.optional(),
  rule: RuleRefSchema.optional(),
  /** The deciding rule's reason: why a person must look. */
  reason: z.string(),
  status: ApprovalStatusSchema,
  requestedAt: IsoTime,
  expiresAt: IsoTime,
  /** Who may answer: approver tags or roles (empty: any approver, and always the admin). */
  approvers: z.array(z.string().min(1)),
  /** The notification channels named by the rule (gateway webhooks). */
  notify: z.array(z.string().min(1)),
  answeredBy: z.string().optional(),
  answeredAt: IsoTime.optional(),
  comment: z.string().max(4096).optional(),
  /** When an approved call was let through (each approval lets its call through once). */
  usedAt: IsoTime.optional(),
});
export type ApprovalRequest = z.infer<typeof ApprovalRequestSchema>;

/** What a person (or the side that asked) answers, as an approval store records it. */
export interface ApprovalTransition {
  status: ApprovalEnd;
  /** Who: an approver's name, `admin`, or `meshguard` for an expiry. */
  by: string;
  at: string;
  comment?: string | undefined;
}

/**
 * The arguments hash an approval is bound to: `sha256(canonicalJson(args))` in hex, so the same
 * arguments in any key order hash alike and any changed value does not.
 *
 * @example
 * argumentsHash({ amount: 150, order: 'A-1' }) === argumentsHash({ order: 'A-1', amount: 150 }); // true
 */
export function argumentsHash(args: Record<string, unknown> | undefined): string {
  return sha256Hex(canonicalJson(args ?? {}));
}

/** The filter of an approvals listing: a status, newest first, a page at a time. */
export const ApprovalListQuerySchema = z.object({
  status: ApprovalStatusSchema.optional(),
  agent: z.string().min(1).optional(),
  traceId: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  /** From the previous page's `nextCursor`. */
  cursor: z.string().min(1).optional(),
});
export type ApprovalListQuery = z.input<typeof ApprovalListQuerySchema>;
export type ParsedApprovalListQuery = z.output<typeof ApprovalListQuerySchema>;

/** One page of approval requests, newest first. */
export interface ApprovalPage {
  approvals: ApprovalRequest[];
  nextCursor?: string;
}
