import type { AgentIdentity } from '../protocol/agent-identity';
import type { CompiledPolicy, EngineOutcome } from './compiled-policy';

/** The limits one policy puts on a delegation chain (root first; the acting agent not in it). */
export function checkDelegation(
  policy: CompiledPolicy,
  req: { action: string; agent: AgentIdentity },
  chain: readonly AgentIdentity[],
): EngineOutcome | undefined {
  if (chain.length === 0) return undefined;
  const delegator = chain.find((a) => policy.applies(a));
  if (
    policy.maxDepth !== undefined &&
    chain.length > policy.maxDepth &&
    (delegator || policy.applies(req.agent))
  ) {
    return {
      effect: 'deny',
      reason: `Delegation chain of ${chain.length} agent${chain.length === 1 ? '' : 's'} (${chainText(chain)}) exceeds maxDepth ${policy.maxDepth} of policy ${policy.ref.name}`,
      policy: policy.ref,
    };
  }
  if (policy.ceiling && delegator && !policy.ceiling.matchers.some((m) => m(req.action))) {
    return {
      effect: 'deny',
      reason: `"${req.action}" is outside the permission ceiling [${policy.ceiling.patterns.join(', ')}] that policy ${policy.ref.name} sets for agents delegated by "${delegator.name}"`,
      policy: policy.ref,
    };
  }
  return undefined;
}

/** The limits a policy sets, as an explanation shows them when the chain keeps within them. */
export function describeLimits(policy: CompiledPolicy): string {
  const parts: string[] = [];
  if (policy.maxDepth !== undefined) parts.push(`maxDepth ${policy.maxDepth}`);
  if (policy.ceiling) parts.push(`permissionCeiling [${policy.ceiling.patterns.join(', ')}]`);
  return `within ${parts.join(' and ')}`;
}

function chainText(chain: readonly AgentIdentity[]): string {
  return chain.map((a) => a.name).join(' -> ');
}
