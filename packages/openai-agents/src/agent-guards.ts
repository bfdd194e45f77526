import { ConfigError, type Guard, type RemoteGuard } from '@meshguard/core';

/**
 * The guards of agents given by token, by the gateway guard they come from, then by token: held
 * only as long as that guard is (a WeakMap), whichever copy of the options names them.
 */
const byGateway = new WeakMap<Guard, Map<string, RemoteGuard>>();

function isRemoteGuard(guard: Guard): guard is RemoteGuard {
  const remote = guard as Partial<RemoteGuard>;
  return remote.mode === 'remote' && typeof remote.withAgentToken === 'function';
}

/**
 * The guard an agent given by token decides through: a guard of the same gateway, with all of
 * its settings, holding the agent's token. It opens on first use and `closeAgentGuards` closes it;
 * used again after that (an approval answered later, the next run), it opens again.
 */
export function agentGuard(gateway: Guard, token: string, agentName: string): RemoteGuard {
  if (!isRemoteGuard(gateway)) {
    throw new ConfigError(
      `agent "${agentName}" is given by token, which only a gateway can read: use a remote guard (MESHGUARD_GATEWAY_URL) or give an identity`,
      { code: 'identity_invalid' },
    );
  }
  let guards = byGateway.get(gateway);
  if (!guards) {
    guards = new Map();
    byGateway.set(gateway, guards);
  }
  let guard = guards.get(token);
  if (!guard) {
    guard = reopening(gateway, token);
    guards.set(token, guard);
  }
  return guard;
}

/** Flushes and closes the open guards of these tokens (made from `gateway`); they reopen when used. */
export async function closeAgentGuards(gateway: Guard, tokens: readonly string[]): Promise<void> {
  const guards = byGateway.get(gateway);
  await Promise.all(tokens.map((token) => guards?.get(token)?.close()));
}

/** Sends what the open guards of these tokens still hold. */
export async function flushAgentGuards(gateway: Guard, tokens: readonly string[]): Promise<void> {
  const guards = byGateway.get(gateway);
  await Promise.all(tokens.map((token) => guards?.get(token)?.flush()));
}

/**
 * One stable guard object (decisions and approvals keep a reference to it) over a guard opened
 * when needed: closing it while another run still uses it only makes that run open a new one.
 */
function reopening(gateway: RemoteGuard, token: string): RemoteGuard {
  let open: RemoteGuard | undefined;
  const current = (): RemoteGuard => {
    open ??= gateway.withAgentToken(token);
    return open;
  };
  return {
    mode: 'remote',
    url: gateway.url,
    check: (request) => current().check(request),
    reachable: (request) => current().reachable(request),
    judge: (request) => current().judge(request),
    record: (event) => current().record(event),
    query: (filter) => current().query(filter),
    approvalStatus: (id, options) => current().approvalStatus(id, options),
    withAgentToken: (other) => gateway.withAgentToken(other),
    flush: async () => {
      await open?.flush();
    },
    close: async () => {
      const closing = open;
      open = undefined;
      await closing?.close();
    },
  };
}
