import { z } from 'zod';
import { ConfigError } from '../errors/meshguard-error';
import type { AgentIdentity, AgentIdentityInput } from '../protocol/agent-identity';
import type { Decision } from '../protocol/decision';
import type { TrustTier } from '../protocol/trust-tier';

// What every framework adapter shares with its host: written once here so the adapters cannot
// drift apart; each re-exports what its users need under its own names.

/**
 * An agent's identity as a host gives it to an adapter: what it leaves out comes from the
 * adapter's defaults (`id` and `name` from the agent, `tags` and `tier` from the policy defaults).
 *
 * @example
 * const identities: Record<string, IdentityInput> = { Support: { tags: ['support'], tier: 'verified' } };
 */
export type IdentityInput = Partial<AgentIdentityInput>;

/** The defaults of an identity a host may give in part. */
export interface IdentityDefaults {
  id: string;
  /** Default: the identity's `id`. */
  name?: string;
  tags?: string[];
  tier?: TrustTier;
}

/**
 * Identities resolved once per owner (an options object) and agent name: validated on first use,
 * then the same identity every time. Owners are held weakly, so options objects can go.
 *
 * @example
 * const identityOf = createIdentityCache((options: Options, name: string) =>
 *   kit.identity(options.identities?.[name] ?? {}, { id: name }, (issue) => `agent "${name}": ${issue}`));
 */
export function createIdentityCache<O extends object>(
  resolve: (owner: O, name: string) => AgentIdentity,
): (owner: O, name: string) => AgentIdentity {
  const byOwner = new WeakMap<O, Map<string, AgentIdentity>>();
  return (owner, name) => {
    let known = byOwner.get(owner);
    if (!known) {
      known = new Map();
      byOwner.set(owner, known);
    }
    let identity = known.get(name);
    if (!identity) {
      identity = resolve(owner, name);
      known.set(name, identity);
    }
    return identity;
  };
}

/**
 * A human's answer to a `require_approval` decision, as every adapter's `onApprovalRequired`
 * gives it.
 *
 * @example
 * onApprovalRequired: async (call) => ({ approve: await askManager(call), by: 'manager@acme' })
 */
export interface ApprovalAnswer {
  approve: boolean;
  /** Who decided (a user id or name), recorded as the outcome's actor. */
  by: string;
  /** For a rejection: what the agent or model is told (each adapter says its default). */
  message?: string;
}

const ApprovalAnswerSchema = z.object({
  approve: z.boolean(),
  by: z.string().min(1),
  message: z.string().optional(),
});

/**
 * The answer an approver gave, if it is one; anything else is a `ConfigError`
 * (`approval_invalid`), so the call it was asked about does not run.
 */
export function checkApprovalAnswer(answer: unknown): ApprovalAnswer {
  const parsed = ApprovalAnswerSchema.safeParse(answer);
  if (!parsed.success) {
    throw new ConfigError(
      'onApprovalRequired must answer { approve: boolean, by: string, message?: string }',
      {
        code: 'approval_invalid',
      },
    );
  }
  return parsed.data;
}

/** Said of a call policy wants approved when nobody can approve it: it does not run. */
export const NO_APPROVER = 'approval is required and no approver is configured';

/** The decision reported for a call whose approval could not be asked (the approver threw, say). */
export function approvalFailedDecision(decision: Decision, problem: string): Decision {
  return { ...decision, reason: `${decision.reason} (approval failed: ${problem})` };
}

/**
 * The policy actions of built-in tools (those a provider runs, or an SDK ships), the same on every
 * platform, so one policy governs web search wherever an agent runs. Each adapter maps its own
 * tool names onto these (its `BUILTIN_ACTIONS`).
 *
 * @example
 * rules: [{ effect: 'deny', actions: [BUILTIN_TOOL_ACTIONS.computerUse] }]
 */
export const BUILTIN_TOOL_ACTIONS = {
  webSearch: 'read:web_search',
  fileSearch: 'read:file_search',
  urlContext: 'read:url_context',
  maps: 'read:maps',
  codeInterpreter: 'execute:code_interpreter',
  computerUse: 'execute:computer_use',
  shell: 'execute:shell',
  applyPatch: 'write:apply_patch',
} as const;

/**
 * The reason of a deny given because a check could not be made: what failed, then the error.
 *
 * @example
 * failedCheckReason('the policy check failed', error); // 'the policy check failed, so the action is denied: ...'
 */
export function failedCheckReason(what: string, error: unknown): string {
  return `${what}, so the action is denied: ${error instanceof Error ? error.message : String(error)}`;
}

/**
 * The deny an adapter gives when a check itself fails (fail closed): no guard made it, so it has
 * an id of its own (`failed-<uuid>`) and no policy or rule.
 */
export function failedCheckDecision(reason: string): Decision {
  return {
    decisionId: `failed-${crypto.randomUUID()}`,
    allowed: false,
    effect: 'deny',
    reason,
    mode: 'enforce',
    evaluatedAt: new Date().toISOString(),
  };
}
