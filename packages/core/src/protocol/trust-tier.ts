import { z } from 'zod';

/** Trust tiers, lowest first. Order matters: `trust_tier_min` compares positions in this list. */
export const TRUST_TIERS = ['untrusted', 'basic', 'verified', 'trusted', 'privileged'] as const;
export const TrustTierSchema = z.enum(TRUST_TIERS);
export type TrustTier = z.infer<typeof TrustTierSchema>;

const TIER_RANK: Record<TrustTier, number> = {
  untrusted: 0,
  basic: 1,
  verified: 2,
  trusted: 3,
  privileged: 4,
};

/** The position of a tier in {@link TRUST_TIERS} (0 = untrusted). */
export function tierRank(tier: TrustTier): number {
  return TIER_RANK[tier];
}
