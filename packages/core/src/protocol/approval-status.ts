import { z } from 'zod';

/**
 * Where an approval request is: waiting for a person (`pending`), answered (`approved`,
 * `rejected`), past its deadline unanswered (`expired`), or withdrawn by the side that asked
 * (`cancelled`). Only `pending` changes, and only once: the first answer wins.
 */
export const APPROVAL_STATUSES = ['pending', 'approved', 'rejected', 'expired', 'cancelled'] as const;
export const ApprovalStatusSchema = z.enum(APPROVAL_STATUSES);
export type ApprovalStatus = z.infer<typeof ApprovalStatusSchema>;
