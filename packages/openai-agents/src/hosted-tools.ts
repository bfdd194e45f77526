import type { CheckContext, CheckedAction, Decision } from '@meshguard/core';
import { BUILTIN_TOOL_ACTIONS } from '@meshguard/core/internal';
import type {
  ApplyPatchTool,
  HostedTool,
  RunContext,
  RunItem,
  RunToolApprovalItem,
  ShellTool,
} from '@openai/agents';
import { withdrawApproval } from './approval-requests';
import {
  checkFor,
  contextOf,
  type GovernanceOptions,
  guardFor,
  identityOf,
  kit,
  pendingApprovals,
  runGovernance,
} from './governance-context';
import type { AnyAgent, AnyComputerTool, AnyTool } from './sdk-aliases';

/** Policy actions of the SDK's built-in tools, the same on every platform (`BUILTIN_TOOL_ACTIONS`). */
export const BUILTIN_ACTIONS: Readonly<Record<string, string>> = {
  web_search: BUILTIN_TOOL_ACTIONS.webSearch,
  web_search_preview: BUILTIN_TOOL_ACTIONS.webSearch,
  file_search: BUILTIN_TOOL_ACTIONS.fileSearch,
  code_interpreter: BUILTIN_TOOL_ACTIONS.codeInterpreter,
  computer_use_preview: BUILTIN_TOOL_ACTIONS.computerUse,
  computer: BUILTIN_TOOL_ACTIONS.computerUse,
  shell: BUILTIN_TOOL_ACTIONS.shell,
  local_shell: BUILTIN_TOOL_ACTIONS.shell,
  apply_patch: BUILTIN_TOOL_ACTIONS.applyPatch,
};

/** The action of a built-in tool (hosted or local): `actions[name]`, the table above, else `tool:<name>`. */
export function builtinAction(options: GovernanceOptions, name: string): string {
  return options.actions?.[name] ?? BUILTIN_ACTIONS[name] ?? `tool:${name}`;
}

/** A shell tool whose commands run in a container on OpenAI's side (the SDK's test: not `local`). */
function isHostedShellTool(candidate: AnyTool | undefined): candidate is ShellTool {
  return candidate?.type === 'shell' && (candidate.environment?.type ?? 'local') !== 'local';
}

/**
 * The name of a tool that runs on OpenAI's side and cannot be stopped per call, as its action and
 * contexts know it (`web_search`, `code_interpreter`, `shell` for a hosted shell...); undefined
 * for any other tool (hosted MCP is gated per call, a local shell runs here).
 */
export function serverSideToolName(candidate: AnyTool): string | undefined {
  if (candidate.type === 'hosted_tool') return candidate.name === 'hosted_mcp' ? undefined : candidate.name;
  return isHostedShellTool(candidate) ? 'shell' : undefined;
}

/**
 * Decides once per run whether a server-side tool (`serverSideToolName`) is offered to an agent:
 * a recorded decision, since OpenAI runs each call itself and nothing can stop it mid-flight.
 */
export async function offerHostedTool(
  options: GovernanceOptions,
  runContext: RunContext<unknown>,
  agentName: string,
  tool: string,
): Promise<boolean> {
  const run = runGovernance(runContext, options);
  const action = builtinAction(options, tool);
  const key = `${agentName}\u0000${action}\u0000hosted`;
  let verdict = run.offered.get(key);
  if (!verdict) {
    verdict = (async () => {
      const checked = await checkFor(options, runContext, agentName, {
        action,
        kind: 'builtin_tool',
        context: { stage: 'offer', tool },
      });
      hostedDecisions(run).set(`${agentName}\u0000${action}`, checked);
      // Nothing can pause a hosted call for a human: only allow offers the tool.
      await withdrawApproval(
        checked,
        "a hosted tool runs on the provider's side: nothing can wait for an approval",
      );
      return checked.decision.effect === 'allow';
    })();
    run.offered.set(key, verdict);
  }
  return verdict;
}

const hostedByRun = new WeakMap<object, Map<string, CheckedAction>>();
function hostedDecisions(run: object): Map<string, CheckedAction> {
  let map = hostedByRun.get(run);
  if (!map) {
    map = new Map();
    hostedByRun.set(run, map);
  }
  return map;
}

const NOT_GATED = 'observed in the run: OpenAI ran it on its side, where MeshGuard cannot stop it';

/** A server-side call seen in a run's items, as it is recorded and judged. */
interface HostedCall {
  action: string;
  context: CheckContext;
  /** What policy judges when it is not `context` as a whole (each search query on its own). */
  judge?: CheckContext[];
  /** The item's id, which makes recording it idempotent. */
  id: string | undefined;
  /** Why the call failed, when it did. */
  error: string | undefined;
}

/**
 * Records every call of a tool OpenAI runs on its side (web search, file search, code interpreter,
 * image generation, a hosted shell) that happened in a run, from its items. Each is judged as it
 * ran (its query, its code, its shell commands): one policy allows is joined to the run's offer
 * decision (`success` or `error`); one policy would not have allowed (a query condition, say) is
 * recorded as `observed` with effect `deny` and a reason that says so, since it ran all the same.
 * Recording is idempotent (event ids come from the items), so calling it twice records nothing
 * twice.
 *
 * @example
 * const result = await run(agent, input);
 * await recordHostedToolCalls(result, { guard, identities });
 */
export async function recordHostedToolCalls(
  result: { newItems: RunItem[]; state: { _context: RunContext<unknown> } },
  options: GovernanceOptions,
): Promise<number> {
  const runContext = result.state._context;
  const run = runGovernance(runContext, options);
  const shellOutputs = new Map<string, ShellOutput>();
  for (const item of result.newItems) {
    const raw = item.rawItem as ShellOutput;
    if (item.type === 'tool_call_output_item' && raw?.type === 'shell_call_output' && raw.callId)
      shellOutputs.set(raw.callId, raw);
  }
  let recorded = 0;
  for (const item of result.newItems) {
    if (item.type !== 'tool_call_item') continue;
    const agent = (item as { agent?: AnyAgent }).agent;
    if (!agent?.name) continue;
    const agentName = agent.name;
    const raw = item.rawItem as { type?: string };
    let hosted: HostedCall | undefined;
    if (raw?.type === 'hosted_tool_call') hosted = hostedToolCall(item.rawItem, options);
    // A shell call belongs to the agent's shell tool (the SDK's rule): recorded here when that
    // tool is hosted; a local shell's calls were checked before they ran.
    else if (raw?.type === 'shell_call') {
      const shell = agent.tools.find((t: AnyTool) => t.type === 'shell');
      if (isHostedShellTool(shell))
        hosted = hostedShellCall(item.rawItem as ShellCall, shellOutputs, options, {
          toolName: shell.name,
          agentName,
        });
    }
    if (!hosted) continue;
    const checked = hostedDecisions(run).get(`${agentName}\u0000${hosted.action}`);
    const call = {
      guard: checked?.guard ?? guardFor(options, agentName),
      agent: checked?.agent ?? identityOf(options, agentName),
      action: hosted.action,
      kind: 'builtin_tool' as const,
      traceId: run.traceId,
      context: hosted.context,
      notGated: NOT_GATED,
      ...(hosted.judge && hosted.judge.length > 0 ? { judge: hosted.judge } : {}),
      ...(checked && checked.delegation.length > 0 ? { delegation: checked.delegation } : {}),
      ...(hosted.id ? { id: `openai:${hosted.id}`.slice(0, 128) } : {}),
    };
    const verdict = await kit.judgeObserved(call);
    if (checked && !checked.failed && checked.decision.effect === 'allow' && verdict.policyAllows) {
      const { id, context: recordedContext } = call;
      await kit.recordOutcome(checked, {
        ...(id ? { id } : {}),
        context: recordedContext,
        ...(hosted.error === undefined ? { outcome: 'success' } : { outcome: 'error', error: hosted.error }),
      });
    } else {
      // Policy would not have allowed this call as it ran (or no offer of this run covers it: a
      // tool the host added itself): it ran all the same, so it is an observed deny, not a success.
      await kit.observe(hosted.error === undefined ? call : { ...call, error: hosted.error }, verdict);
    }
    recorded++;
  }
  return recorded;
}

/** A web search, file search, code interpreter or image generation call (`hosted_tool_call`). */
function hostedToolCall(rawItem: unknown, options: GovernanceOptions): HostedCall | undefined {
  const raw = rawItem as {
    name?: string;
    id?: string;
    status?: string;
    providerData?: Record<string, unknown>;
  };
  if (typeof raw.name !== 'string') return undefined;
  const name = raw.name.replace(/_call$/, '');
  if (name === 'mcp' || name === 'mcp_approval_request' || name === 'hosted_mcp') return undefined; // gated per call
  const context: Record<string, unknown> = { tool: name, ...hostedContext(raw.providerData) };
  // Policy judges the call as it ran: each search query on its own (a query condition).
  const queries = Array.isArray(context.queries)
    ? context.queries.filter((q): q is string => typeof q === 'string')
    : [];
  return {
    action: builtinAction(options, name),
    context,
    ...(queries.length > 0 ? { judge: queries.map((query) => ({ ...context, query })) } : {}),
    id: raw.id,
    error: raw.status === 'failed' ? 'the hosted call failed' : undefined,
  };
}

interface ShellCall {
  id?: string;
  callId?: string;
  status?: string;
  action?: { commands?: unknown; timeoutMs?: unknown; maxOutputLength?: unknown };
}

interface ShellOutput {
  type?: string;
  callId?: string;
  output?: Array<{ outcome?: { type?: string; exitCode?: number | null } }>;
}

/**
 * A hosted shell call (`shell_call` on a hosted shell tool): its context is a local shell call's,
 * the SDK's `{ commands, timeoutMs?, maxOutputLength? }` through the `context` option, plus
 * `tool: 'shell'`, so one policy judges both. It failed when it did not complete, or when the
 * `shell_call_output` OpenAI sent with it says a command timed out or exited non-zero.
 */
function hostedShellCall(
  raw: ShellCall,
  outputs: Map<string, ShellOutput>,
  options: GovernanceOptions,
  call: { toolName: string; agentName: string },
): HostedCall {
  const action = builtinAction(options, 'shell');
  const { commands, timeoutMs, maxOutputLength } = raw.action ?? {};
  const args = {
    commands: Array.isArray(commands) ? commands : [],
    ...(typeof timeoutMs === 'number' ? { timeoutMs } : {}),
    ...(typeof maxOutputLength === 'number' ? { maxOutputLength } : {}),
  };
  const problems: string[] = [];
  if (raw.status === 'incomplete') problems.push('the hosted shell call did not complete');
  const results = (raw.callId ? outputs.get(raw.callId)?.output : undefined) ?? [];
  for (const { outcome } of results) {
    if (outcome?.type === 'timeout') problems.push('a command timed out');
    else if (typeof outcome?.exitCode === 'number' && outcome.exitCode !== 0)
      problems.push(`a command exited with code ${outcome.exitCode}`);
  }
  return {
    action,
    context: { tool: 'shell', ...contextOf(options, args, { ...call, action }) },
    id: raw.id ?? raw.callId,
    error: problems.length > 0 ? problems.join('; ') : undefined,
  };
}

/** What a hosted call did, for the trail: a search query, sources, code (never whole results). */
function hostedContext(data: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!data) return out;
  const action = data.action as
    | { type?: string; query?: string; sources?: Array<{ url?: string }> }
    | undefined;
  if (action?.query) out.query = action.query;
  if (Array.isArray(action?.sources))
    out.sources = action.sources
      .map((s) => s.url)
      .filter(Boolean)
      .slice(0, 20);
  if (Array.isArray(data.queries)) out.queries = (data.queries as unknown[]).slice(0, 20);
  if (typeof data.code === 'string') out.code = data.code.slice(0, 4000);
  return out;
}

// --- Local built-in tools: checked per action through their approval hooks ---

async function approvalCheck(
  options: GovernanceOptions,
  runContext: RunContext<unknown>,
  call: { agentName: string; toolName: string; action: string },
  args: unknown,
  callId: string | undefined,
): Promise<{ need: boolean; checked: CheckedAction }> {
  const { agentName, action } = call;
  const context = contextOf(options, args, call);
  const checked = await checkFor(options, runContext, agentName, {
    action,
    kind: 'builtin_tool',
    context,
  });
  const { decision } = checked;
  if (decision.effect === 'deny') {
    await kit.recordOutcome(checked, { outcome: 'blocked' });
  }
  if (decision.effect !== 'allow' && callId !== undefined) {
    pendingApprovals(runContext).set(callId, {
      checked,
      options,
      ...(decision.effect === 'deny'
        ? { denial: kit.denialText(decision, action, options.denialMessage), answered: true }
        : {}),
    });
  }
  return { need: decision.effect !== 'allow', checked };
}

/**
 * What a policy sees of a computer action: the SDK's action as the model sent it (`type`, `x`,
 * `y`, `button`, `text`, `keys`, `path`...), plus `action_type` (its `type`) and, for an action
 * aimed at a point of the screen, `target` (`{ x, y }`: where it clicks, moves or scrolls, or where
 * a drag ends): the names the product page's policies use.
 */
function computerActionContext(action: unknown): unknown {
  if (action === null || typeof action !== 'object' || Array.isArray(action)) return action;
  const fields = action as { type?: unknown; x?: unknown; y?: unknown; path?: unknown };
  if (typeof fields.type !== 'string') return action;
  const point = (candidate: { x?: unknown; y?: unknown } | undefined) =>
    typeof candidate?.x === 'number' && typeof candidate.y === 'number'
      ? { x: candidate.x, y: candidate.y }
      : undefined;
  const target = Array.isArray(fields.path)
    ? point(fields.path[fields.path.length - 1] as { x?: unknown; y?: unknown } | undefined)
    : point(fields);
  return { ...action, action_type: fields.type, ...(target ? { target } : {}) };
}

/**
 * Computer use, checked per action (its context: `computerActionContext`). The SDK gives computer
 * actions no automatic rejection: a denied action becomes an approval interruption that
 * `resolvePolicyInterruptions` (or `runGoverned`) rejects with the policy's reason; a tool no
 * policy could allow is not offered.
 */
export function governComputerTool<T extends AnyComputerTool>(
  original: T,
  options: GovernanceOptions,
  agentName: string,
): T {
  const action = builtinAction(options, 'computer');
  return {
    ...original,
    needsApproval: async (runContext: RunContext<unknown>, computerAction: unknown, callId?: string) => {
      const own = await original.needsApproval(runContext, computerAction as never, callId);
      const { need } = await approvalCheck(
        options,
        runContext,
        { agentName, toolName: original.name, action },
        computerActionContext(computerAction),
        callId,
      );
      return own || need;
    },
  };
}

/** Local shell and apply_patch: checked per action; a deny is rejected at once through `onApproval`. */
export function governApprovalTool<T extends ShellTool | ApplyPatchTool>(
  original: T,
  options: GovernanceOptions,
  agentName: string,
): T {
  const local = original as T & {
    needsApproval?: (ctx: RunContext<unknown>, input: unknown, callId?: string) => Promise<boolean>;
    onApproval?: (
      ctx: RunContext<unknown>,
      item: RunToolApprovalItem,
    ) => Promise<{ approve: boolean; reason?: string }>;
  };
  // A hosted shell runs on OpenAI's side: offered or not (offerHostedTool), then recorded.
  if (isHostedShellTool(local)) return original;
  const action = builtinAction(options, local.type === 'apply_patch' ? 'apply_patch' : 'shell');
  const decisions = new WeakMap<object, Map<string, Decision>>();
  return {
    ...local,
    needsApproval: async (runContext: RunContext<unknown>, input: unknown, callId?: string) => {
      const own = local.needsApproval ? await local.needsApproval(runContext, input, callId) : false;
      const { need, checked } = await approvalCheck(
        options,
        runContext,
        { agentName, toolName: local.name, action },
        input,
        callId,
      );
      if (callId !== undefined) {
        let map = decisions.get(runContext);
        if (!map) {
          map = new Map();
          decisions.set(runContext, map);
        }
        map.set(callId, checked.decision);
      }
      return own || need;
    },
    onApproval: async (runContext: RunContext<unknown>, item: RunToolApprovalItem) => {
      const callId = (item.rawItem as { callId?: string }).callId;
      const decision = callId === undefined ? undefined : decisions.get(runContext)?.get(callId);
      if (decision?.effect === 'deny')
        return { approve: false, reason: kit.denialText(decision, action, options.denialMessage) };
      if (local.onApproval) return local.onApproval(runContext, item);
      // Approval required by policy (or by the tool): leave it to the host as an interruption.
      return {} as { approve: boolean };
    },
  } as T;
}

/**
 * Hosted MCP tools: every call asks for approval (`requireApproval: 'always'`), and policy answers
 * through `onApproval` with `mcp:<server label>:<tool>`; `require_approval` goes to the tool's own
 * `onApproval` or, without one, becomes an interruption for the host.
 */
export function governHostedMcpTool(
  original: HostedTool,
  options: GovernanceOptions,
  agentName: string,
): HostedTool {
  const data = (original.providerData ?? {}) as Record<string, unknown> & {
    server_label?: string;
    on_approval?: (
      ctx: RunContext<unknown>,
      item: RunToolApprovalItem,
    ) => Promise<{ approve: boolean; reason?: string }>;
  };
  const label = data.server_label ?? 'mcp';
  const own = data.on_approval;
  return {
    ...original,
    providerData: {
      ...data,
      require_approval: 'always',
      on_approval: async (runContext: RunContext<unknown>, item: RunToolApprovalItem) => {
        const raw =
          (item.rawItem as { providerData?: { name?: string; arguments?: string } }).providerData ?? {};
        const toolName = raw.name ?? (item.rawItem as { name?: string }).name ?? 'unknown';
        const action = options.actions?.[`${label}:${toolName}`] ?? `mcp:${label}:${toolName}`;
        let args: unknown = {};
        try {
          args = raw.arguments ? JSON.parse(raw.arguments) : {};
        } catch {
          args = { arguments: raw.arguments };
        }
        const context = contextOf(options, args, { toolName, agentName, action });
        const checked = await checkFor(options, runContext, agentName, {
          action,
          kind: 'builtin_tool',
          context,
        });
        const { decision } = checked;
        if (decision.effect === 'allow') return { approve: true };
        const callId = (item.rawItem as { id?: string }).id;
        if (callId) pendingApprovals(runContext).set(callId, { checked, options });
        if (decision.effect === 'deny') {
          await kit.recordOutcome(checked, { outcome: 'blocked' });
          return { approve: false, reason: kit.denialText(decision, action, options.denialMessage) };
        }
        if (own) return own(runContext, item);
        // With onApproval set, the SDK has no pending state for MCP calls: never approve unasked.
        await withdrawApproval(checked, 'the hosted MCP tool has no onApproval to answer it');
        return {
          approve: false,
          reason: `${kit.denialText(decision, action, options.denialMessage)} (approval is required: give the hosted MCP tool an onApproval to answer it)`,
        };
      },
    },
  };
}
