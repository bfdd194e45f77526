import type { AuditStore } from '../audit/audit-store';
import type { LoadedPolicy } from '../policy/policy-loader';

export type GuardEnvironment = Readonly<Record<string, string | undefined>>;

export const DEFAULT_DB = 'sqlite:.meshguard/meshguard.db';

export interface GuardSettings {
  gatewayUrl: string | undefined;
  agentToken: string | undefined;
  adminToken: string | undefined;
  policies: string | readonly string[] | readonly LoadedPolicy[] | undefined;
  store: AuditStore | string;
}

/**
 * The one place environment variables are read: explicit options win, then `MESHGUARD_*`, then
 * defaults. Blank variables count as unset.
 */
export function resolveGuardSettings(
  options: {
    gatewayUrl?: string | undefined;
    agentToken?: string | undefined;
    policies?: string | readonly string[] | readonly LoadedPolicy[] | undefined;
    store?: AuditStore | string | undefined;
  },
  env: GuardEnvironment,
): GuardSettings {
  const read = (name: string) => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };
  return {
    gatewayUrl: options.gatewayUrl ?? read('MESHGUARD_GATEWAY_URL'),
    agentToken: options.agentToken ?? read('MESHGUARD_AGENT_TOKEN'),
    adminToken: read('MESHGUARD_ADMIN_TOKEN'),
    policies: options.policies ?? read('MESHGUARD_POLICIES'),
    store: options.store ?? read('MESHGUARD_DB') ?? DEFAULT_DB,
  };
}
