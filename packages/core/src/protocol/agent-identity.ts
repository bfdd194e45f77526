import { z } from 'zod';
import { TrustTierSchema } from './trust-tier';

/** Who acts: declared by the host in-process; behind the gateway, taken only from a verified token. */
export const AgentIdentitySchema = z.object({
  id: z.string().min(1).max(256),
  name: z.string().min(1).max(256),
  tags: z.array(z.string().min(1).max(128)).max(64).default([]),
  tier: TrustTierSchema.default('basic'),
});
export type AgentIdentity = z.output<typeof AgentIdentitySchema>;
export type AgentIdentityInput = z.input<typeof AgentIdentitySchema>;
