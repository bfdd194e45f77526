import type { Explanation } from './policy-engine';

/** An explanation as readable text: the decision, then every policy and rule considered. */
export function formatExplanation(explanation: Explanation): string {
  const { decision, request } = explanation;
  const lines: string[] = [];
  const verdict =
    decision.effect === 'allow' ? 'ALLOW' : decision.effect === 'deny' ? 'DENY' : 'REQUIRE APPROVAL';
  lines.push(`${verdict}  ${request.action}`);
  lines.push(`  reason: ${decision.reason}`);
  if (decision.rule) lines.push(`  rule:   ${decision.rule.id} (policy ${decision.policy?.name ?? '?'})`);
  if (decision.shadow) lines.push(`  shadow: would ${decision.shadow.effect}: ${decision.shadow.reason}`);
  const agent = request.agent;
  lines.push(
    `  agent:  ${agent.name} (id ${agent.id}; tier ${agent.tier}; tags ${agent.tags.join(', ') || 'none'})`,
  );
  if (request.delegation?.length)
    lines.push(`  via:    ${request.delegation.map((a) => a.name).join(' -> ')}`);
  lines.push(`  at:     ${explanation.evaluatedAt}`);
  lines.push('');
  lines.push('Policies:');
  for (const p of explanation.policies) {
    lines.push(
      `  ${p.applies ? '✓' : '✗'} ${p.name} v${p.version}${p.mode === 'shadow' ? ' [shadow]' : ''}: ${p.applies ? 'applies' : 'does not apply'} (${p.appliesTo})`,
    );
  }
  for (const d of explanation.delegation)
    lines.push(`  ${d.holds ? '✓' : '✗'} delegation (${d.policy}): ${d.detail}`);
  lines.push('');
  lines.push('Rules:');
  for (const r of explanation.rules) {
    const mark = r.matched ? '●' : r.actionMatched && r.policyApplies ? '○' : ' ';
    const action = r.actionMatched ? `action matches ${r.matchedPattern}` : 'action does not match';
    const decided = decision.rule?.id === r.rule && decision.policy?.name === r.policy ? '  <= decides' : '';
    lines.push(
      `  ${mark} ${r.rule} [${r.effect}] ${action}${r.policyApplies ? '' : ' (policy does not apply)'}${decided}`,
    );
    for (const c of r.conditions) {
      lines.push(`      ${c.holds ? '✓' : '✗'} ${c.requirement}: ${c.observed}`);
    }
  }
  return lines.join('\n');
}
