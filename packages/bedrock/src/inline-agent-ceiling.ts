import type {
  AgentActionGroup,
  Collaborator,
  InvokeInlineAgentRequest,
  KnowledgeBase,
} from '@aws-sdk/client-bedrock-agent-runtime';
import type { AgentIdentity, Decision } from '@meshguard/core';
import { BUILTIN_TOOL_ACTIONS } from '@meshguard/core/internal';
import { parse as parseYaml } from 'yaml';
import { resolveAction } from './action-group-handlers';
import { collaboratorIdentity, debug, type Governance, handoffAction, kit } from './bedrock-governance';
import type { TurnState } from './bedrock-turn';

/** Something policy took out of an inline agent's configuration before it was invoked. */
export interface RemovedCapability {
  /** What was removed: a function, an API operation, a whole action group, a collaborator, the knowledge bases. */
  type: 'function' | 'api_operation' | 'action_group' | 'collaborator' | 'knowledge_bases';
  /** e.g. `Orders/process_refund`, `Orders/POST /refunds`, `Orders`, `BillingSpecialist`. */
  name: string;
  /** Whose configuration it was taken from: the inline agent's name, or a collaborator's. */
  from: string;
  /** The action policy refused (for an action group emptied of its operations: none of its own). */
  action?: string;
  /** Why: the deny's reason, or that every operation of the group was removed. */
  reason: string;
  /** The recorded deny decision (none for an action group emptied of its operations). */
  decision?: Decision;
}

/** The parts of `InvokeInlineAgent` the ceiling trims. */
type InlineConfiguration = Omit<InvokeInlineAgentRequest, 'sessionId' | 'inputText' | 'inlineSessionState'>;

/** Built-in action groups, by signature, and the action each is governed as (the same on every platform). */
const SIGNATURE_ACTIONS: Record<string, string> = {
  'AMAZON.CodeInterpreter': BUILTIN_TOOL_ACTIONS.codeInterpreter,
  'ANTHROPIC.Computer': BUILTIN_TOOL_ACTIONS.computerUse,
  'ANTHROPIC.Bash': BUILTIN_TOOL_ACTIONS.shell,
  'ANTHROPIC.TextEditor': BUILTIN_TOOL_ACTIONS.applyPatch,
};

/**
 * The permission ceiling of an inline agent: before it is invoked, every capability whose action
 * policy can never allow for the agent that would use it is taken out of the configuration
 * (functions, API operations, action groups left empty, collaborators `handoff:<name>`, knowledge
 * bases `read:file_search`, built-in groups), each refusal recorded as a deny decision with its
 * reason. What is left may still be denied per call (e.g. an amount over a limit).
 * Collaborators' own action groups are trimmed for the collaborator, acting for the inline agent.
 */
export async function applyPermissionCeiling(
  governance: Governance,
  turn: TurnState,
  configuration: InlineConfiguration,
): Promise<{ configuration: InlineConfiguration; removed: RemovedCapability[] }> {
  const ceiling = new Ceiling(governance, turn);
  const self = governance.self;
  const out: InlineConfiguration = { ...configuration };
  const from = self.name;
  if (configuration.actionGroups) {
    out.actionGroups = await ceiling.actionGroups(configuration.actionGroups, self, [], from);
  }
  if (configuration.knowledgeBases) {
    out.knowledgeBases = await ceiling.knowledgeBases(configuration.knowledgeBases, self, [], from);
  }
  const names = new Set([
    ...(configuration.collaborators ?? []).map((c) => c.agentName).filter((n): n is string => Boolean(n)),
    ...(configuration.collaboratorConfigurations ?? [])
      .map((c) => c.collaboratorName)
      .filter((n): n is string => Boolean(n)),
  ]);
  const kept = new Set<string>();
  for (const name of names) {
    if (
      await ceiling.allows(handoffAction(governance, name), 'handoff', self, [], 'collaborator', name, from)
    ) {
      kept.add(name);
    }
  }
  if (configuration.collaborators) {
    const collaborators: Collaborator[] = [];
    for (const collaborator of configuration.collaborators) {
      if (!collaborator.agentName) {
        // Nothing names it for policy (its hand-off, its identity): fail closed and leave it out.
        ceiling.removed.push({
          type: 'collaborator',
          name: '(no agentName)',
          from,
          reason: 'a collaborator without agentName cannot be identified, so policy cannot govern it',
        });
        continue;
      }
      if (!kept.has(collaborator.agentName)) continue;
      collaborators.push(await ceiling.collaborator(collaborator));
    }
    out.collaborators = collaborators;
  }
  if (configuration.collaboratorConfigurations) {
    out.collaboratorConfigurations = configuration.collaboratorConfigurations.filter(
      (c) => !c.collaboratorName || kept.has(c.collaboratorName),
    );
  }
  const hadCollaborators =
    (configuration.collaborators?.length ?? 0) + (configuration.collaboratorConfigurations?.length ?? 0) > 0;
  if (
    hadCollaborators &&
    kept.size === 0 &&
    out.agentCollaboration &&
    out.agentCollaboration !== 'DISABLED'
  ) {
    // A supervisor with no collaborator left is refused by Bedrock: it runs as a plain agent instead.
    out.agentCollaboration = 'DISABLED';
    delete out.collaborators;
    delete out.collaboratorConfigurations;
  }
  return { configuration: out, removed: ceiling.removed };
}

class Ceiling {
  readonly removed: RemovedCapability[] = [];
  private readonly verdicts = new Map<string, Promise<Decision | undefined>>();

  constructor(
    private readonly governance: Governance,
    private readonly turn: TurnState,
  ) {}

  /**
   * Whether `action` could ever be allowed for `agent` (acting for `delegation`); when not, the
   * refusal is recorded once (a deny decision) and the capability listed as removed.
   */
  async allows(
    action: string,
    kind: 'tool' | 'handoff' | 'builtin_tool',
    agent: AgentIdentity,
    delegation: AgentIdentity[],
    type: RemovedCapability['type'],
    name: string,
    from: string,
  ): Promise<boolean> {
    const key = `${agent.id}\u0000${action}\u0000${delegation.map((a) => a.id).join('>')}`;
    let verdict = this.verdicts.get(key);
    if (!verdict) {
      verdict = this.decide(action, kind, agent, delegation);
      this.verdicts.set(key, verdict);
    }
    const decision = await verdict;
    if (!decision) return true;
    this.removed.push({ type, name, from, action, reason: decision.reason, decision });
    return false;
  }

  private async decide(
    action: string,
    kind: 'tool' | 'handoff' | 'builtin_tool',
    agent: AgentIdentity,
    delegation: AgentIdentity[],
  ): Promise<Decision | undefined> {
    const reach = await this.governance.guard.reachable({
      action,
      agent,
      kind,
      ...(delegation.length > 0 ? { delegation } : {}),
    });
    if (reach.reachable) return undefined;
    // Recorded as a decision: the trail says what the agent was not given, and why.
    const { decision } = await kit.check({
      guard: this.governance.guard,
      action,
      agent,
      kind,
      traceId: this.turn.traceId,
      delegation,
      context: { stage: 'offer' },
    });
    return decision.effect === 'allow' ? undefined : decision;
  }

  async collaborator(collaborator: Collaborator): Promise<Collaborator> {
    const name = collaborator.agentName;
    if (!name) return collaborator;
    const agent = collaboratorIdentity(this.governance, name);
    const delegation = [this.governance.self];
    const out: Collaborator = { ...collaborator };
    if (collaborator.actionGroups) {
      out.actionGroups = await this.actionGroups(collaborator.actionGroups, agent, delegation, name);
    }
    if (collaborator.knowledgeBases) {
      out.knowledgeBases = await this.knowledgeBases(collaborator.knowledgeBases, agent, delegation, name);
    }
    return out;
  }

  async knowledgeBases(
    bases: KnowledgeBase[],
    agent: AgentIdentity,
    delegation: AgentIdentity[],
    from: string,
  ): Promise<KnowledgeBase[]> {
    if (bases.length === 0) return bases;
    const name = bases.map((b) => b.knowledgeBaseId).join(', ');
    const ok = await this.allows(
      BUILTIN_TOOL_ACTIONS.fileSearch,
      'builtin_tool',
      agent,
      delegation,
      'knowledge_bases',
      name,
      from,
    );
    return ok ? bases : [];
  }

  async actionGroups(
    groups: AgentActionGroup[],
    agent: AgentIdentity,
    delegation: AgentIdentity[],
    from: string,
  ): Promise<AgentActionGroup[]> {
    const out: AgentActionGroup[] = [];
    for (const group of groups) {
      const kept = await this.actionGroup(group, agent, delegation, from);
      if (kept) out.push(kept);
    }
    return out;
  }

  private async actionGroup(
    group: AgentActionGroup,
    agent: AgentIdentity,
    delegation: AgentIdentity[],
    from: string,
  ): Promise<AgentActionGroup | undefined> {
    const groupName = group.actionGroupName ?? '';
    const builtin = group.parentActionGroupSignature
      ? SIGNATURE_ACTIONS[group.parentActionGroupSignature]
      : undefined;
    if (builtin) {
      const ok = await this.allows(
        builtin,
        'builtin_tool',
        agent,
        delegation,
        'action_group',
        groupName,
        from,
      );
      return ok ? group : undefined;
    }
    const handlers = this.governance.handlers;
    const functions = group.functionSchema?.functions;
    if (functions) {
      const kept = [];
      for (const fn of functions) {
        const { action } = resolveAction(handlers, groupName, { function: fn.name ?? '' });
        if (
          await this.allows(action, 'tool', agent, delegation, 'function', `${groupName}/${fn.name}`, from)
        ) {
          kept.push(fn);
        }
      }
      if (kept.length === functions.length) return group;
      return kept.length > 0
        ? { ...group, functionSchema: { functions: kept } }
        : this.dropGroup(group, from);
    }
    const payload = group.apiSchema?.payload;
    if (payload !== undefined) {
      const document = readOpenApi(payload);
      if (!document) {
        debug(
          'action group %s: its API schema is not readable; its operations are checked per call only',
          groupName,
        );
        return group;
      }
      let total = 0;
      let left = 0;
      for (const [path, item] of Object.entries(document.paths)) {
        for (const method of Object.keys(item)) {
          if (!HTTP_METHODS.has(method.toLowerCase())) continue;
          total++;
          const operation = { httpMethod: method.toUpperCase(), apiPath: path };
          const { action } = resolveAction(handlers, groupName, operation);
          const label = `${groupName}/${operation.httpMethod} ${path}`;
          if (await this.allows(action, 'tool', agent, delegation, 'api_operation', label, from)) left++;
          else delete item[method];
        }
        if (!Object.keys(item).some((m) => HTTP_METHODS.has(m.toLowerCase()))) delete document.paths[path];
      }
      if (left === total) return group;
      return left > 0
        ? { ...group, apiSchema: { payload: JSON.stringify(document) } }
        : this.dropGroup(group, from);
    }
    return group;
  }

  /** An action group none of whose operations is left: listed, and left out. */
  private dropGroup(group: AgentActionGroup, from: string): undefined {
    const name = group.actionGroupName ?? '';
    this.removed.push({
      type: 'action_group',
      name,
      from,
      reason: `policy allows none of the operations of ${name}`,
    });
    return undefined;
  }
}

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace']);

/** An OpenAPI document (JSON or YAML), as far as its paths go; undefined when it cannot be read. */
function readOpenApi(payload: string): { paths: Record<string, Record<string, unknown>> } | undefined {
  try {
    const document = parseYaml(payload) as unknown;
    if (typeof document !== 'object' || document === null) return undefined;
    const paths = (document as { paths?: unknown }).paths;
    if (typeof paths !== 'object' || paths === null) return undefined;
    return document as { paths: Record<string, Record<string, unknown>> };
  } catch {
    return undefined;
  }
}
