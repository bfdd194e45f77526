import type { AgentIdentity } from '../protocol/agent-identity';
import type { CompiledPolicy } from './compiled-policy';

/**
 * The policies of a pool filed under the one key each requires of an agent: a policy with
 * `appliesTo.tags` under each tag (an agent must have one of them), else under each of its
 * `agents`, else under each of its `tiers`; a policy without `appliesTo` applies to all. The
 * policies filed under an agent's keys are the only ones that can apply to it; each is still
 * tested in full.
 */
export interface ApplicabilityIndex {
  readonly universal: readonly CompiledPolicy[];
  readonly byTag: ReadonlyMap<string, readonly CompiledPolicy[]>;
  readonly byAgent: ReadonlyMap<string, readonly CompiledPolicy[]>;
  readonly byTier: ReadonlyMap<string, readonly CompiledPolicy[]>;
  /** The policies of the pool with `defaultEffect: allow`. */
  readonly defaultAllow: ReadonlySet<CompiledPolicy>;
}

export function indexApplicability(pool: readonly CompiledPolicy[]): ApplicabilityIndex {
  const universal: CompiledPolicy[] = [];
  const byTag = new Map<string, CompiledPolicy[]>();
  const byAgent = new Map<string, CompiledPolicy[]>();
  const byTier = new Map<string, CompiledPolicy[]>();
  const file = (map: Map<string, CompiledPolicy[]>, keys: readonly string[], policy: CompiledPolicy) => {
    for (const key of new Set(keys)) {
      const list = map.get(key);
      if (list) list.push(policy);
      else map.set(key, [policy]);
    }
  };
  for (const policy of pool) {
    const to = policy.loaded.document.appliesTo;
    if (to?.tags) file(byTag, to.tags, policy);
    else if (to?.agents) file(byAgent, to.agents, policy);
    else if (to?.tiers) file(byTier, to.tiers, policy);
    else universal.push(policy);
  }
  return {
    universal,
    byTag,
    byAgent,
    byTier,
    defaultAllow: new Set(pool.filter((p) => p.defaultEffect === 'allow')),
  };
}

/** The first policy of the pool (in load order) that applies to `agent`, if any. */
export function firstApplicable(index: ApplicabilityIndex, agent: AgentIdentity): CompiledPolicy | undefined {
  let first = earliest(index.universal, agent, undefined);
  if (index.byTag.size > 0) {
    const tags = agent.tags;
    for (let i = 0; i < tags.length; i++) {
      const list = index.byTag.get(tags[i]!);
      if (list) first = earliest(list, agent, first);
    }
  }
  if (index.byAgent.size > 0) {
    const byId = index.byAgent.get(agent.id);
    if (byId) first = earliest(byId, agent, first);
    const byName = agent.name === agent.id ? undefined : index.byAgent.get(agent.name);
    if (byName) first = earliest(byName, agent, first);
  }
  if (index.byTier.size > 0) {
    const byTier = index.byTier.get(agent.tier);
    if (byTier) first = earliest(byTier, agent, first);
  }
  return first;
}

function earliest(
  list: readonly CompiledPolicy[],
  agent: AgentIdentity,
  first: CompiledPolicy | undefined,
): CompiledPolicy | undefined {
  for (let i = 0; i < list.length; i++) {
    const policy = list[i]!;
    if (first !== undefined && policy.order >= first.order) break; // lists are in load order
    if (policy.applies(agent)) return policy;
  }
  return first;
}

/** Every policy of the pool that applies to `agent`, in load order. */
export function applicablePolicies(index: ApplicabilityIndex, agent: AgentIdentity): CompiledPolicy[] {
  const found = new Set<CompiledPolicy>();
  const add = (list: readonly CompiledPolicy[] | undefined) => {
    if (list) for (const policy of list) if (policy.applies(agent)) found.add(policy);
  };
  add(index.universal);
  for (const tag of agent.tags) add(index.byTag.get(tag));
  add(index.byAgent.get(agent.id));
  add(index.byAgent.get(agent.name));
  add(index.byTier.get(agent.tier));
  return [...found].sort((a, b) => a.order - b.order);
}

/** Whether every policy of the pool that applies to `agent` says `defaultEffect: allow`. */
export function allDefaultAllow(index: ApplicabilityIndex, agent: AgentIdentity): boolean {
  for (const policy of applicablePolicies(index, agent)) if (!index.defaultAllow.has(policy)) return false;
  return true;
}
