import { ConfigError } from '@meshguard/core';
import { Agent, getHandoff, type RunContext } from '@openai/agents';
import { governHandoff } from './govern-handoff';
import { governedToolInfo, governTool } from './govern-tool';
import {
  debug,
  type GovernanceOptions,
  guardFor,
  identityOf,
  offerable,
  runGovernance,
} from './governance-context';
import {
  builtinAction,
  governApprovalTool,
  governComputerTool,
  governHostedMcpTool,
  offerHostedTool,
  serverSideToolName,
} from './hosted-tools';
import type { AnyAgent, AnyHandoff, AnyTool } from './sdk-aliases';

/**
 * Governs a whole agent graph in one call: every function tool, handoff and built-in tool of
 * the agent and of every agent it can hand off to (recursively, safe on cycles). Returns
 * governed copies; the agents passed in are not changed.
 *
 * - Function tools: checked per call (`governTool`), action `actions[name]` or `tool:<name>`.
 * - Handoffs: `handoff:<target>` (`governHandoff`); never offered when policy can never allow.
 * - Hosted tools (web search, file search, code interpreter, image generation, a hosted shell):
 *   offered only when policy allows them for the run (a recorded decision); calls are recorded
 *   afterwards with `recordHostedToolCalls` (or `runGoverned`), since OpenAI runs them itself.
 * - Computer use, local shell, apply_patch: checked per action through their approval hooks;
 *   hosted MCP tools per call through `onApproval` (`mcp:<server label>:<tool>`).
 *
 * Every agent of the graph needs an identity: `identities[name]` or the default `identity`.
 *
 * @example
 * const governed = governAgent(tier1, { guard, identity: { tags: ['openai', 'support'] },
 *   actions: { process_refund: 'write:refund' } });
 * const result = await run(governed, 'I need a refund for order #12345');
 */
export function governAgent<T extends AnyAgent>(root: T, options: GovernanceOptions): T {
  if (!(root instanceof Agent)) {
    throw new ConfigError('governAgent expects an Agent of @openai/agents', { code: 'not_agent' });
  }
  const copies = new Map<AnyAgent, AnyAgent>();
  const pending: AnyAgent[] = [root];
  // First pass: one copy per agent (cycles resolve to the same copy), identities checked up front.
  while (pending.length > 0) {
    const agent = pending.pop()!;
    if (copies.has(agent)) continue;
    identityOf(options, agent.name);
    copies.set(agent, agent.clone({ tools: [], handoffs: [] }));
    for (const h of agent.handoffs) pending.push(getHandoff(h).agent);
  }
  // Second pass: govern each agent's tools and handoffs, pointing handoffs at the copies.
  for (const [agent, copy] of copies) {
    copy.tools = agent.tools.map((t: AnyTool) => governToolOf(t, options, agent.name));
    copy.handoffs = agent.handoffs.map((h: AnyAgent | AnyHandoff) => {
      const original = getHandoff(h);
      const target = copies.get(original.agent) ?? original.agent;
      return governHandoff(original.clone({ agent: target }), {
        ...options,
        from: agent.name,
        resolveAgent: (next) => copies.get(next) ?? next,
      });
    });
    governCopy(copy, options, agent.name);
  }
  return copies.get(root) as T;
}

/**
 * Filters and governs what an agent offers the model each turn: tools no policy could allow are
 * left out; function tools that arrive ungoverned (from MCP servers, or added later) are governed
 * here, so nothing reaches the model without a check. A clone keeps all of this.
 *
 * The SDK's per-tool `isEnabled` cannot do this job: the SDK asks it of function tools only
 * (hosted, computer, shell and MCP tools are offered regardless), MCP tools arrive ungoverned from
 * inside `getAllTools`, and a boolean cannot swap in the copy without the approval hook.
 */
function governCopy(copy: AnyAgent, options: GovernanceOptions, agentName: string): void {
  const baseGetAllTools = Agent.prototype.getAllTools;
  const adopted = new WeakMap<object, AnyTool>();
  copy.getAllTools = async function (this: AnyAgent, runContext: RunContext<unknown>, ...rest: unknown[]) {
    const all = await (baseGetAllTools as (...args: unknown[]) => Promise<AnyTool[]>).call(
      this,
      runContext,
      ...rest,
    );
    const offered: AnyTool[] = [];
    for (let candidate of all) {
      if (candidate.type === 'function' && !governedToolInfo(candidate)) {
        let governed = adopted.get(candidate);
        if (!governed) {
          governed = governTool(candidate, { ...options, agent: agentName });
          adopted.set(candidate, governed);
        }
        candidate = governed;
      }
      if (candidate.type === 'function')
        offered.push(await forThisRun(candidate, options, runContext, agentName));
      else if (await offer(candidate, options, runContext, agentName)) offered.push(candidate);
    }
    return offered;
  };
  const baseClone = copy.clone.bind(copy);
  copy.clone = (config) => {
    const cloned = baseClone(config);
    governCopy(cloned, options, cloned.name);
    return cloned;
  };
}

function governToolOf(candidate: AnyTool, options: GovernanceOptions, agentName: string): AnyTool {
  switch (candidate.type) {
    case 'function': {
      // A tool governed before keeps its action; its guard and identities are this graph's.
      const info = governedToolInfo(candidate);
      return governTool(info?.original ?? candidate, {
        ...options,
        ...(info ? { action: info.action } : {}),
        agent: agentName,
      });
    }
    case 'computer':
      return governComputerTool(candidate, options, agentName);
    case 'shell':
    case 'apply_patch':
      return governApprovalTool(candidate, options, agentName);
    case 'hosted_tool':
      return candidate.name === 'hosted_mcp' ? governHostedMcpTool(candidate, options, agentName) : candidate;
    default:
      return candidate;
  }
}

/**
 * The copy of a governed function tool to offer in this run: without the approval hook when
 * policy cannot ask for approval of it (decided once per run), so the SDK's fast path stays.
 */
async function forThisRun(
  candidate: AnyTool,
  options: GovernanceOptions,
  runContext: RunContext<unknown>,
  agentName: string,
): Promise<AnyTool> {
  const info = governedToolInfo(candidate);
  if (!info) return candidate;
  const run = runGovernance(runContext, options);
  const key = `${agentName}\u0000${info.action}\u0000approval`;
  let possible = run.offered.get(key);
  if (!possible) {
    const delegation = run.delegation.get(agentName) ?? [];
    possible = guardFor(options, agentName)
      .reachable({
        action: info.action,
        agent: identityOf(options, agentName),
        kind: 'tool',
        ...(delegation.length > 0 ? { delegation } : {}),
      })
      .then(
        (r) => r.approvalPossible,
        (error: unknown) => {
          // Unknown: keep the approval hook, so a require_approval is still asked for.
          debug('reachable() of %s failed, keeping the approval hook: %O', info.action, error);
          return true;
        },
      );
    run.offered.set(key, possible);
  }
  return (await possible) ? candidate : info.withoutApprovalHook;
}

async function offer(
  candidate: AnyTool,
  options: GovernanceOptions,
  runContext: RunContext<unknown>,
  agentName: string,
): Promise<boolean> {
  const hosted = serverSideToolName(candidate);
  if (hosted !== undefined) return offerHostedTool(options, runContext, agentName, hosted);
  if (candidate.type === 'computer') {
    const action = builtinAction(options, 'computer');
    return offerable(options, runContext, agentName, action, 'builtin_tool', { tool: candidate.name });
  }
  return true;
}
