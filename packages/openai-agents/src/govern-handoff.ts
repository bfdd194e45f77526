import { ConfigError } from '@meshguard/core';
import {
  type Agent,
  type AgentOutputType,
  getHandoff,
  type Handoff,
  type HandoffInputData,
  RunHandoffOutputItem,
  RunToolCallOutputItem,
  type TextOutput,
  type UnknownContext,
} from '@openai/agents';
import { withdrawApproval } from './approval-requests';
import {
  checkFor,
  type GovernanceOptions,
  identityOf,
  kit,
  offerable,
  parseArguments,
  runGovernance,
} from './governance-context';
import type { AnyAgent, AnyHandoff } from './sdk-aliases';

export interface GovernHandoffOptions extends GovernanceOptions {
  /**
   * The agent that hands off (its identity is checked). Default: the agent the SDK is running
   * when it offers the handoff. `governAgent` sets it for every agent of a graph.
   */
  from?: string;
  /** The policy action (default `handoff:<target agent name>`). */
  action?: string;
  /** @internal `governAgent` maps the SDK's target agent onto its governed copy. */
  resolveAgent?: (agent: AnyAgent) => AnyAgent;
}

interface HandoffRunState {
  /** The agent the SDK last offered this handoff for (the one that may call it). */
  current?: AnyAgent;
  /** Denied at call time in this step: the text the model gets instead of the transfer. */
  denied?: string;
}

const perRun = new WeakMap<object, Map<AnyHandoff, HandoffRunState>>();

function handoffState(runContext: object, handoff: AnyHandoff): HandoffRunState {
  let map = perRun.get(runContext);
  if (!map) {
    map = new Map();
    perRun.set(runContext, map);
  }
  let state = map.get(handoff);
  if (!state) {
    state = {};
    map.set(handoff, state);
  }
  return state;
}

/**
 * Governs a handoff: `handoff:<target>` is checked for the agent handing off. A handoff policy
 * can never allow is not offered to the model; one denied at call time gives the model the
 * policy's reason and the current agent carries on. After an allowed handoff, the target's
 * checks carry the delegation chain, so permission ceilings apply.
 *
 * Call-time denial rewrites the transfer message through the handoff's `inputFilter`, which the
 * SDK refuses together with `conversationId` / `previousResponseId` (server-managed history).
 *
 * @example
 * tier1.handoffs = [governHandoff(billing, { guard, identities })];
 */
export function governHandoff<TContext = UnknownContext, TOutput extends AgentOutputType = TextOutput>(
  handoffOrAgent: Agent<TContext, TOutput> | Handoff<TContext, TOutput>,
  options: GovernHandoffOptions,
): Handoff<TContext, TOutput> {
  const original = getHandoff(handoffOrAgent);
  const target = original.agentName;
  const action = options.action ?? `handoff:${target}`;
  let governed: Handoff<TContext, TOutput>;

  const fromOf = (state: HandoffRunState): string => {
    const name = options.from ?? state.current?.name;
    if (!name) {
      throw new ConfigError(
        `governHandoff(${target}): the agent handing off is unknown; pass \`from\` or use governAgent`,
        { code: 'agent_missing' },
      );
    }
    return name;
  };

  governed = original.clone({
    isEnabled: async ({ runContext, agent }) => {
      handoffState(runContext, governed).current = agent;
      if (!(await original.isEnabled({ runContext, agent }))) return false;
      const from = options.from ?? agent.name;
      return offerable(options, runContext, from, action, 'handoff', { from_agent: from, to_agent: target });
    },
    onInvokeHandoff: async (runContext, args) => {
      const state = handoffState(runContext, governed);
      const from = fromOf(state);
      const input = parseArguments(args);
      const context = {
        ...(input !== null && typeof input === 'object' && !Array.isArray(input) ? input : { input }),
        from_agent: from,
        to_agent: target,
      };
      const checked = await checkFor(options, runContext, from, { action, kind: 'handoff', context });
      const { decision } = checked;
      if (decision.effect !== 'allow') {
        // No human-in-the-loop hook exists for handoffs: anything but allow stays where it is.
        await withdrawApproval(checked, 'a handoff cannot wait for an approval');
        state.denied = kit.denialText(decision, action, options.denialMessage);
        await kit.recordOutcome(checked, { outcome: 'blocked' });
        if (!state.current) {
          throw new ConfigError(`governHandoff(${target}): the agent handing off is unknown`, {
            code: 'agent_missing',
          });
        }
        return state.current;
      }
      const invoked = await original.onInvokeHandoff(runContext, args);
      const next = options.resolveAgent ? options.resolveAgent(invoked) : invoked;
      const run = runGovernance(runContext, options);
      const chain = run.delegation.get(from) ?? [];
      run.delegation.set(next.name, [...chain, identityOf(options, from)]);
      await kit.recordOutcome(checked, { outcome: 'success' });
      return next;
    },
    inputFilter: (data: HandoffInputData) => {
      const state = data.runContext ? handoffState(data.runContext, governed) : undefined;
      if (state?.denied !== undefined) {
        const text = state.denied;
        state.denied = undefined;
        return {
          ...data,
          newItems: data.newItems.map((item) => replaceTransfer(item, original.toolName, text)),
        };
      }
      return original.inputFilter ? original.inputFilter(data) : data;
    },
  });
  return governed;
}

/** The transfer message of a denied handoff becomes a tool output carrying the policy's reason. */
function replaceTransfer<T>(item: T, toolName: string, text: string): T | RunToolCallOutputItem {
  if (!(item instanceof RunHandoffOutputItem) || item.rawItem.name !== toolName) return item;
  return new RunToolCallOutputItem(
    { ...item.rawItem, output: { type: 'text', text } },
    item.sourceAgent,
    text,
  );
}
