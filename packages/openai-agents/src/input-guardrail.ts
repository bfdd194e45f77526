import type { InputGuardrail } from '@openai/agents';
import { withdrawApproval } from './approval-requests';
import { checkFor, type GovernanceOptions } from './governance-context';

/**
 * An input guardrail whose tripwire fires when `invoke:<agent name>` is denied. It runs before
 * the model is called (not in parallel), so a denied agent never reaches the model.
 *
 * @example
 * const agent = new Agent({ name: 'Customer Support', inputGuardrails: [meshguardInputGuardrail({ guard, identity })] });
 */
export function meshguardInputGuardrail(options: GovernanceOptions & { name?: string }): InputGuardrail {
  return {
    name: options.name ?? 'meshguard',
    runInParallel: false,
    execute: async ({ agent, input, context }) => {
      const checked = await checkFor(options, context, agent.name, {
        action: `invoke:${agent.name}`,
        kind: 'guardrail',
        context: { input_length: typeof input === 'string' ? input.length : JSON.stringify(input).length },
      });
      // The run is refused now: an approval request it opened has nothing left to let through.
      await withdrawApproval(checked, 'the run was refused before it started');
      return { tripwireTriggered: !checked.decision.allowed, outputInfo: checked.decision };
    },
  };
}
