import { type AgentIdentity, AgentIdentitySchema } from '@meshguard/core';
import { TrustTierSchema } from '@meshguard/core/internal';
import { z } from 'zod';

/** The longest delegation chain a token may carry (the check request's own limit). */
export const MAX_DELEGATION_CHAIN = 64;

/**
 * One actor of a delegated token, as RFC 8693 (section 4.1) nests them: `sub` is the agent that
 * handed off, and its own `act`, if any, the agent that handed off to it. The most recent actor
 * is the outermost. MeshGuard adds each actor's name, tags and tier, which policies match on.
 */
export interface ActClaim {
  sub: string;
  name: string;
  tags: string[];
  tier: AgentIdentity['tier'];
  act?: ActClaim;
}

const ActorSchema = z.object({
  sub: AgentIdentitySchema.shape.id,
  name: AgentIdentitySchema.shape.name,
  tags: z.array(z.string().min(1).max(128)).max(64),
  tier: TrustTierSchema,
  act: z.unknown().optional(),
});

/** The `act` claim for a delegation chain (root first), or undefined for an empty chain. */
export function actClaim(chain: readonly AgentIdentity[]): ActClaim | undefined {
  let claim: ActClaim | undefined;
  for (const agent of chain) {
    const actor: ActClaim = { sub: agent.id, name: agent.name, tags: [...agent.tags], tier: agent.tier };
    if (claim) actor.act = claim;
    claim = actor;
  }
  return claim;
}

/**
 * The delegation chain (root first) an `act` claim names; undefined when there is none. Throws
 * when the claim is malformed or deeper than `MAX_DELEGATION_CHAIN` (the token is then refused).
 */
export function chainFromActClaim(act: unknown): AgentIdentity[] | undefined {
  if (act === undefined) return undefined;
  const chain: AgentIdentity[] = [];
  let node: unknown = act;
  while (node !== undefined) {
    if (chain.length >= MAX_DELEGATION_CHAIN) throw new Error('the act claim is too deep');
    const actor = ActorSchema.safeParse(node);
    if (!actor.success) throw new Error('the act claim is malformed');
    const { sub, name, tags, tier } = actor.data;
    chain.push({ id: sub, name, tags, tier });
    node = actor.data.act;
  }
  return chain.reverse();
}
