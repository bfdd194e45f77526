import {
  type IdentityInput as AdapterIdentityInput,
  type AgentIdentity,
  type AgentIdentityInput,
  ConfigError,
  createAdapterKit,
  type Decision,
  type Guard,
} from '@meshguard/core';
import { FRAMEWORK_NAMES } from '@meshguard/core/internal';
import createDebug from 'debug';
import { PACKAGE_SOURCE } from './package-info';

export const debug = createDebug('meshguard:vertex');

export const FRAMEWORK = FRAMEWORK_NAMES.vertex;

/** The adapter plumbing every MeshGuard adapter shares, bound to this one. */
export const kit = createAdapterKit({ framework: FRAMEWORK, source: PACKAGE_SOURCE, debug });

/** The agent's identity: `name` is required, `id` defaults to it. */
export type IdentityInput = AdapterIdentityInput & Pick<AgentIdentityInput, 'name'>;

/** What `governFunctions` and `governBuiltinTools` take. */
export interface GovernanceOptions {
  /** The guard that decides and records (`createGuard()` from `@meshguard/core`). */
  guard: Guard;
  /** Who the Gemini agent is to policy, e.g. `{ name: 'Support', tags: ['vertex', 'support'], tier: 'verified' }`. */
  identity: IdentityInput;
  /** The trace decisions are recorded under (default: a new `trace_<32 hex>`). */
  traceId?: string;
  /** The text the model receives when a call is denied (default `Blocked by policy: <reason>`). */
  denialMessage?: (decision: Decision, action: string) => string;
}

/** Validates the options every entry point shares; errors name the function and the field. */
export function resolveGovernance(
  where: string,
  options: GovernanceOptions | undefined,
): { guard: Guard; agent: AgentIdentity; traceId: string } {
  if (!options || typeof options !== 'object') {
    throw new ConfigError(`${where}: options are required ({ guard, identity, ... })`, {
      code: 'options_missing',
    });
  }
  const guard = options.guard as Partial<Guard> | undefined;
  if (!guard || typeof guard.check !== 'function' || typeof guard.record !== 'function') {
    throw new ConfigError(
      `${where}: \`guard\` must be a MeshGuard guard (createGuard() from @meshguard/core)`,
      {
        code: 'guard_missing',
      },
    );
  }
  const given = options.identity as Partial<IdentityInput> | undefined;
  if (!given || typeof given !== 'object') {
    throw new ConfigError(`${where}: \`identity\` is required, e.g. { name: 'Support', tags: ['vertex'] }`, {
      code: 'identity_missing',
    });
  }
  // `id` defaults to `name`.
  const agent = kit.identity(given, { id: given.name as string }, (issue) => `${where}: identity.${issue}`);
  if (options.traceId !== undefined && (typeof options.traceId !== 'string' || options.traceId === '')) {
    throw new ConfigError(`${where}: \`traceId\` must be a non-empty string`, { code: 'trace_invalid' });
  }
  return { guard: options.guard, agent, traceId: options.traceId ?? kit.newTraceId() };
}
