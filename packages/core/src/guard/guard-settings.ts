import type { AuditStore } from '../audit/audit-store';
import { ConfigError } from '../errors/meshguard-error';
import type { LoadedPolicy } from '../policy/policy-loader';

export type GuardEnvironment = Readonly<Record<string, string | undefined>>;

export const DEFAULT_DB = 'sqlite:.meshguard/meshguard.db';

/** Where policies come from: a file or folder path, several, or policies already loaded. */
export type PolicySource = string | readonly string[] | readonly LoadedPolicy[];

/** What `createGuard` builds, and from which settings. */
export type GuardSettings =
  | {
      mode: 'remote';
      gatewayUrl: string;
      agentToken: string | undefined;
      adminToken: string | undefined;
      /** Which row of the precedence table chose this mode (for logs). */
      because: string;
    }
  | {
      mode: 'embedded';
      policies: PolicySource | undefined;
      store: AuditStore | string;
      because: string;
    };

/** The options `resolveGuardSettings` reads (a subset of `GuardOptions`). */
export interface GuardSettingsOptions {
  gatewayUrl?: string | undefined;
  agentToken?: string | undefined;
  policies?: PolicySource | undefined;
  store?: AuditStore | string | undefined;
}

/**
 * The one place the guard's settings, and so its mode, are decided; the one place `MESHGUARD_*`
 * variables are read. Code wins over the environment, and within each a gateway wins over
 * embedded settings:
 *
 * 1. `gatewayUrl` option with `policies` or `store` options: a `ConfigError` (code asks for both).
 * 2. `gatewayUrl` option: remote.
 * 3. `policies` or `store` option: embedded (`MESHGUARD_GATEWAY_URL` is ignored); what is not
 *    given comes from `MESHGUARD_POLICIES` / `MESHGUARD_DB`.
 * 4. `MESHGUARD_GATEWAY_URL`: remote (`MESHGUARD_POLICIES` and `MESHGUARD_DB` are ignored).
 * 5. Otherwise embedded: `MESHGUARD_POLICIES`, and `MESHGUARD_DB` else `sqlite:.meshguard/meshguard.db`.
 *
 * Remote mode takes the token from `agentToken`, else `MESHGUARD_AGENT_TOKEN`. Blank options and
 * blank variables count as unset.
 *
 * @example
 * resolveGuardSettings({ policies: 'policies/', store: 'memory' }, { MESHGUARD_GATEWAY_URL: 'http://gw' }).mode; // 'embedded'
 */
export function resolveGuardSettings(options: GuardSettingsOptions, env: GuardEnvironment): GuardSettings {
  const read = (name: string) => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };
  const given = <T>(value: T | undefined): T | undefined =>
    typeof value === 'string' && value.trim() === '' ? undefined : value;
  const gatewayUrl = given(options.gatewayUrl);
  const policies = given(options.policies);
  const store = given(options.store);
  const embeddedInCode = [policies !== undefined && '`policies`', store !== undefined && '`store`'].filter(
    (name): name is string => Boolean(name),
  );
  const remote = (url: string, because: string): GuardSettings => ({
    mode: 'remote',
    gatewayUrl: url,
    agentToken: given(options.agentToken) ?? read('MESHGUARD_AGENT_TOKEN'),
    adminToken: read('MESHGUARD_ADMIN_TOKEN'),
    because,
  });
  const embedded = (because: string): GuardSettings => ({
    mode: 'embedded',
    policies: policies ?? read('MESHGUARD_POLICIES'),
    store: store ?? read('MESHGUARD_DB') ?? DEFAULT_DB,
    because,
  });

  if (gatewayUrl !== undefined) {
    if (embeddedInCode.length > 0) {
      throw new ConfigError(
        `createGuard: \`gatewayUrl\` (a remote guard: the gateway holds the policies and the trail) cannot be given with ${embeddedInCode.join(' and ')} (an embedded guard): pass one or the other`,
        { code: 'guard_mode_conflict' },
      );
    }
    return remote(gatewayUrl, 'the `gatewayUrl` option');
  }
  if (embeddedInCode.length > 0) {
    const ignored = read('MESHGUARD_GATEWAY_URL') ? '; MESHGUARD_GATEWAY_URL ignored' : '';
    return embedded(
      `the ${embeddedInCode.join(' and ')} option${embeddedInCode.length > 1 ? 's' : ''}${ignored}`,
    );
  }
  const envGateway = read('MESHGUARD_GATEWAY_URL');
  if (envGateway !== undefined) return remote(envGateway, 'MESHGUARD_GATEWAY_URL');
  return embedded('no gateway configured');
}
