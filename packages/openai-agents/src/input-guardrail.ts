import type { InputGuardrail } from '@openai/agents';
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
      const { decision } = await checkFor(options, context, agent.name, {
        action: `invoke:${agent.name}`,
        kind: 'guardrail',
        context: { input_length: typeof input === 'string' ? input.length : JSON.stringify(input).length },
      });
      return { tripwireTriggered: !decision.allowed, outputInfo: decision };
    },
  };
}
