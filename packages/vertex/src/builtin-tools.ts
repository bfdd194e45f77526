import { createHash } from 'node:crypto';
import { type CheckedAction, ConfigError } from '@meshguard/core';
import { BUILTIN_TOOL_ACTIONS } from '@meshguard/core/internal';
import type { GeminiPart, GeminiResponse } from './gemini-parts';
import { withdrawApproval } from './vertex-approvals';
import { type GovernanceOptions, kit, resolveGovernance } from './vertex-governance';

/**
 * Policy actions of Gemini's built-in tools (run on Google's side), the same names as on every
 * platform. Any other built-in tool key is checked as `builtin:<key>` (never `tool:`, the
 * actions of function tools). Keys are read in either spelling Vertex accepts (`google_search`
 * is `googleSearch`).
 */
export const BUILTIN_ACTIONS: Readonly<Record<string, string>> = {
  googleSearch: BUILTIN_TOOL_ACTIONS.webSearch,
  googleSearchRetrieval: BUILTIN_TOOL_ACTIONS.webSearch,
  enterpriseWebSearch: BUILTIN_TOOL_ACTIONS.webSearch,
  retrieval: BUILTIN_TOOL_ACTIONS.fileSearch,
  fileSearch: BUILTIN_TOOL_ACTIONS.fileSearch,
  codeExecution: BUILTIN_TOOL_ACTIONS.codeInterpreter,
  computerUse: BUILTIN_TOOL_ACTIONS.computerUse,
  exaAiSearch: BUILTIN_TOOL_ACTIONS.webSearch,
  parallelAiSearch: BUILTIN_TOOL_ACTIONS.webSearch,
  urlContext: BUILTIN_TOOL_ACTIONS.urlContext,
  googleMaps: BUILTIN_TOOL_ACTIONS.maps,
};

/** A Tool key as the SDKs' types spell it: Vertex also reads proto field names (`google_search`). */
function canonicalKey(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

const NOT_GATED = 'observed in the response: Google ran it on its side, where MeshGuard cannot stop it';

// Keys of a Tool that are not built-in tools: function declarations are governed per call.
const NOT_BUILTIN = new Set(['functionDeclarations']);

export interface GovernBuiltinToolsOptions extends GovernanceOptions {
  /** Actions by tool key, over `BUILTIN_ACTIONS`, e.g. `{ urlContext: 'read:url_context' }`. */
  actions?: Record<string, string>;
}

/** A built-in tool taken out of the request, and why. */
export interface RemovedBuiltinTool {
  tool: string;
  action: string;
  reason: string;
}

export interface GovernedBuiltinTools<T> {
  /** The request's tools without the built-in tools policy does not allow (a new array). */
  readonly tools: T[];
  readonly removed: RemovedBuiltinTool[];
  readonly traceId: string;
  /**
   * Records what the model did with the built-in tools in a response (search queries and
   * sources from `groundingMetadata`, executed code and its outcome) as `observed` activity,
   * judged as it ran: what policy allows is joined to the decision that let the tool into the
   * request; what it would have denied (a query condition, say) is an observed `deny` whose reason
   * says it was not gated. Returns how many events it recorded; recording the same response twice
   * records nothing new.
   */
  recordBuiltinActivity(response: GeminiResponse | undefined): Promise<number>;
}

/**
 * Checks each built-in tool of a request (Google Search, retrieval, code execution...) once and
 * removes the ones policy does not allow, recording why. Google runs these itself, so nothing
 * can stop one mid-call or pause it for a human: only `allow` keeps a tool in the request.
 * Function declarations pass through untouched (checked per call); a `CallableTool` is wrapped so
 * that built-in tools its `tool()` offers are checked the same way when the SDK asks for them.
 *
 * @example
 * const builtins = await governBuiltinTools([{ googleSearch: {} }, { codeExecution: {} }], { guard, identity });
 * const response = await ai.models.generateContent({ model, contents, config: { tools: builtins.tools } });
 * await builtins.recordBuiltinActivity(response);
 */
export async function governBuiltinTools<T extends object>(
  tools: readonly T[] | undefined,
  options: GovernBuiltinToolsOptions,
): Promise<GovernedBuiltinTools<T>> {
  const scope = resolveGovernance('governBuiltinTools', options);
  const actionOf = (key: string) => {
    const canonical = canonicalKey(key);
    return (
      options.actions?.[key] ??
      options.actions?.[canonical] ??
      BUILTIN_ACTIONS[canonical] ??
      `builtin:${canonical}`
    );
  };
  const decisions = new Map<string, CheckedAction>();
  const removed: RemovedBuiltinTool[] = [];
  const kept: T[] = [];
  if (tools !== undefined && !Array.isArray(tools)) {
    throw new ConfigError("governBuiltinTools: `tools` must be an array (a request's `tools`)", {
      code: 'tools_invalid',
    });
  }
  /** The tool without the built-in tools policy does not allow (undefined when nothing is left). */
  const governTool = async (tool: object): Promise<Record<string, unknown> | undefined> => {
    const copy: Record<string, unknown> = { ...tool };
    for (const key of Object.keys(tool)) {
      if (NOT_BUILTIN.has(canonicalKey(key)) || (tool as Record<string, unknown>)[key] === undefined)
        continue;
      const action = actionOf(key);
      let checked = decisions.get(action);
      if (!checked) {
        checked = await kit.check({
          ...scope,
          action,
          kind: 'builtin_tool',
          context: { stage: 'offer', tool: key },
        });
        decisions.set(action, checked);
      }
      const { decision } = checked;
      if (decision.effect === 'allow') continue;
      delete copy[key];
      const reason =
        decision.effect === 'require_approval'
          ? `${decision.reason} (Google runs ${key} itself: nothing can pause it for approval, so it is not offered)`
          : decision.reason;
      removed.push({ tool: key, action, reason });
      // Nobody can answer an approval for a tool that is not offered: the request is withdrawn.
      if (decision.approval) await withdrawApproval(scope.guard, decision.approval.id, reason);
      await kit.recordOutcome(checked, {
        outcome: 'blocked',
        reason,
        context: { stage: 'offer', tool: key },
      });
    }
    return Object.keys(copy).length > 0 ? copy : undefined;
  };

  for (const [index, tool] of (tools ?? []).entries()) {
    if (tool === null || typeof tool !== 'object') {
      throw new ConfigError(`governBuiltinTools: tools[${index}] is not a tool object`, {
        code: 'tools_invalid',
      });
    }
    const callable = tool as { tool?: unknown; callTool?: unknown };
    if (typeof callable.callTool === 'function' && typeof callable.tool === 'function') {
      // A CallableTool says what it offers only when the SDK asks (`tool()`): what it offers
      // goes through the same checks then, so built-in tools cannot ride in on one.
      const inner = tool as unknown as {
        tool(): Promise<object>;
        callTool(calls: unknown[]): Promise<unknown>;
      };
      kept.push({
        tool: async () => (await governTool(await inner.tool())) ?? {},
        callTool: (calls: unknown[]) => inner.callTool(calls),
      } as unknown as T);
      continue;
    }
    const governed = await governTool(tool);
    if (governed) kept.push(governed as T);
  }

  const recordBuiltinActivity = async (response: GeminiResponse | undefined) => {
    let recorded = 0;
    for (const [i, activity] of builtinActivity(response, actionOf).entries()) {
      // Stable per trace and response, so recording a response twice records it once; the trace is
      // part of it, so an id a model provider reuses cannot swallow another trace's activity.
      const id = response?.responseId
        ? `vertex:${createHash('sha256').update(`${scope.traceId}\u0000${response.responseId}`).digest('hex').slice(0, 32)}:${i}`
        : undefined;
      const event = {
        outcome: 'observed' as const,
        context: activity.context,
        ...(id ? { id } : {}),
        ...(activity.error ? { error: activity.error } : {}),
      };
      const checked = decisions.get(activity.action);
      if (checked && checked.decision.effect !== 'allow') {
        // Joined to the offer decision that refused it: a tool that ran although policy did not
        // allow it (added back behind MeshGuard) shows as exactly that.
        await kit.recordOutcome(checked, event);
        recorded++;
        continue;
      }
      // Judged as it ran: each search query on its own (a query condition holds or not).
      const queries = Array.isArray(activity.context.queries)
        ? activity.context.queries.filter((q): q is string => typeof q === 'string')
        : [];
      const call = {
        guard: scope.guard,
        agent: scope.agent,
        action: activity.action,
        kind: 'builtin_tool' as const,
        traceId: scope.traceId,
        context: activity.context,
        notGated: NOT_GATED,
        ...(queries.length > 0 ? { judge: queries.map((query) => ({ ...activity.context, query })) } : {}),
        ...(id ? { id } : {}),
        ...(activity.error ? { error: activity.error } : {}),
      };
      const verdict = await kit.judgeObserved(call);
      if (checked && !checked.failed && verdict.policyAllows) await kit.recordOutcome(checked, event);
      // Policy would not have allowed it as it ran, or no decision of this request covers it (a
      // built-in tool added behind MeshGuard's back): an observed deny, never the offer's allow.
      else await kit.observe(call, verdict);
      recorded++;
    }
    return recorded;
  };

  return { tools: kept, removed, traceId: scope.traceId, recordBuiltinActivity };
}

interface Activity {
  action: string;
  context: Record<string, unknown>;
  error?: string;
}

/** What the built-in tools did in a response, for the trail: queries, sources, code (never whole results). */
function builtinActivity(
  response: GeminiResponse | undefined,
  actionOf: (key: string) => string,
): Activity[] {
  const out: Activity[] = [];
  for (const candidate of response?.candidates ?? []) {
    const grounding = candidate.groundingMetadata;
    // Google Search and retrieval report alike: the queries run, and the sources found.
    const searches = [
      { tool: 'googleSearch', queries: grounding?.webSearchQueries, source: 'web' as const },
      { tool: 'retrieval', queries: grounding?.retrievalQueries, source: 'retrievedContext' as const },
      // Maps reports the places it grounded on (no queries).
      { tool: 'googleMaps', queries: undefined, source: 'maps' as const },
    ];
    for (const { tool, queries = [], source } of searches) {
      const sources = (grounding?.groundingChunks ?? []).flatMap((c) => {
        const found = c[source];
        return found ? [{ uri: found.uri, title: found.title }] : [];
      });
      if (queries.length === 0 && sources.length === 0) continue;
      out.push({
        action: actionOf(tool),
        context: { tool, queries: queries.slice(0, 20), sources: sources.slice(0, 20) },
      });
    }
    // URL context: the pages fetched, and whether each fetch worked.
    const urls = (candidate.urlContextMetadata?.urlMetadata ?? []).flatMap((u) =>
      u.retrievedUrl ? [{ url: u.retrievedUrl, status: u.urlRetrievalStatus }] : [],
    );
    if (urls.length > 0) {
      out.push({ action: actionOf('urlContext'), context: { tool: 'urlContext', urls: urls.slice(0, 20) } });
    }
    const parts: GeminiPart[] = candidate.content?.parts ?? [];
    parts.forEach((part, i) => {
      if (!part.executableCode) return;
      const result = parts
        .slice(i + 1)
        .find((p) => p.codeExecutionResult || p.executableCode)?.codeExecutionResult;
      const failed = result?.outcome !== undefined && result.outcome !== 'OUTCOME_OK';
      out.push({
        action: actionOf('codeExecution'),
        context: {
          tool: 'codeExecution',
          language: part.executableCode.language,
          code: (part.executableCode.code ?? '').slice(0, 4000),
          ...(result ? { result: result.outcome, output: (result.output ?? '').slice(0, 1000) } : {}),
        },
        ...(failed ? { error: `code execution ended with ${result.outcome}` } : {}),
      });
    });
  }
  return out;
}
