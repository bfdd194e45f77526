import { mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/meshguard-error';
import { createTestGuard, testAgent } from '../testing';
import { createGuard } from './guard';
import { DEFAULT_DB, resolveGuardSettings } from './guard-settings';

const POLICY = `
name: support
version: "1.0"
rules:
  - effect: allow
    actions: ["read:*"]
`;
const agent = testAgent({ name: 'support-bot' });
const policies = createTestGuard({ policy: POLICY }).guard.engine.policies;

/** A gateway on 127.0.0.1 that allows every check and counts them. */
async function fakeGateway(): Promise<{ url: string; checks: () => number; server: Server }> {
  let checks = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/v1/check') checks++;
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          decisionId: crypto.randomUUID(),
          allowed: true,
          effect: 'allow',
          reason: 'allowed by the gateway',
          mode: 'enforce',
          evaluatedAt: new Date().toISOString(),
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, checks: () => checks, server };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

describe('guard settings: code wins over the environment, a gateway over embedded settings', () => {
  const envGateway = {
    MESHGUARD_GATEWAY_URL: 'http://127.0.0.1:9',
    MESHGUARD_AGENT_TOKEN: 'env-token',
    MESHGUARD_POLICIES: 'env-policies/',
    MESHGUARD_DB: 'sqlite:env.db',
  };

  it('row 1: a `gatewayUrl` option with `policies` or `store` options is a ConfigError that names both', () => {
    for (const options of [
      { gatewayUrl: 'http://127.0.0.1:9', policies: 'p/' },
      { gatewayUrl: 'http://127.0.0.1:9', store: 'memory' },
    ]) {
      expect(() => resolveGuardSettings(options, {})).toThrow(ConfigError);
      expect(() => resolveGuardSettings(options, {})).toThrow(
        /`gatewayUrl`.*cannot be given with `(policies|store)`/,
      );
    }
  });

  it('row 2: a `gatewayUrl` option is remote, over embedded variables, with the token option first', () => {
    expect(resolveGuardSettings({ gatewayUrl: 'http://gw:1' }, envGateway)).toMatchObject({
      mode: 'remote',
      gatewayUrl: 'http://gw:1',
      agentToken: 'env-token',
    });
    expect(
      resolveGuardSettings({ gatewayUrl: 'http://gw:1', agentToken: 'code-token' }, envGateway),
    ).toMatchObject({ mode: 'remote', agentToken: 'code-token' });
  });

  it('row 3: `policies` or `store` options are embedded whatever MESHGUARD_GATEWAY_URL says', () => {
    expect(resolveGuardSettings({ policies: 'p/', store: 'memory' }, envGateway)).toMatchObject({
      mode: 'embedded',
      policies: 'p/',
      store: 'memory',
    });
    // What code does not give comes from the environment's embedded settings.
    expect(resolveGuardSettings({ store: 'memory' }, envGateway)).toMatchObject({
      mode: 'embedded',
      policies: 'env-policies/',
      store: 'memory',
    });
    expect(resolveGuardSettings({ policies: 'p/' }, envGateway)).toMatchObject({
      mode: 'embedded',
      store: 'sqlite:env.db',
    });
  });

  it('row 4: MESHGUARD_GATEWAY_URL is remote over MESHGUARD_POLICIES and MESHGUARD_DB', () => {
    expect(resolveGuardSettings({}, envGateway)).toMatchObject({
      mode: 'remote',
      gatewayUrl: 'http://127.0.0.1:9',
      agentToken: 'env-token',
    });
  });

  it('row 5: otherwise embedded from MESHGUARD_POLICIES and MESHGUARD_DB, else the default store', () => {
    expect(resolveGuardSettings({}, { MESHGUARD_POLICIES: 'p/', MESHGUARD_DB: 'sqlite:x.db' })).toMatchObject(
      {
        mode: 'embedded',
        policies: 'p/',
        store: 'sqlite:x.db',
      },
    );
    expect(resolveGuardSettings({}, {})).toMatchObject({
      mode: 'embedded',
      policies: undefined,
      store: DEFAULT_DB,
    });
  });

  it('blank options and blank variables count as unset', () => {
    expect(
      resolveGuardSettings({ gatewayUrl: ' ', store: 'memory' }, { MESHGUARD_GATEWAY_URL: '  ' }),
    ).toMatchObject({ mode: 'embedded', store: 'memory' });
    expect(resolveGuardSettings({ policies: '' }, { MESHGUARD_GATEWAY_URL: 'http://gw:1' })).toMatchObject({
      mode: 'remote',
    });
  });

  it('createGuard({ policies, store }) stays embedded with MESHGUARD_GATEWAY_URL set: the gateway is never asked', async () => {
    const gateway = await fakeGateway();
    servers.push(gateway.server);
    const guard = await createGuard({
      policies,
      store: 'memory',
      env: { MESHGUARD_GATEWAY_URL: gateway.url, MESHGUARD_AGENT_TOKEN: 'token' },
    });
    expect((guard as { mode?: string }).mode).toBe('embedded');
    expect((await guard.check({ action: 'read:orders', agent })).reason).not.toBe('allowed by the gateway');
    expect(await guard.query({ action: 'read:orders' })).toHaveLength(1);
    expect(gateway.checks()).toBe(0);
    await guard.close();
  });

  it('createGuard() with MESHGUARD_GATEWAY_URL asks the gateway, and a `gatewayUrl` option beats the variable', async () => {
    const fromEnv = await fakeGateway();
    const fromCode = await fakeGateway();
    servers.push(fromEnv.server, fromCode.server);
    const spoolDir = await mkdtemp(join(tmpdir(), 'mg-settings-'));
    const env = {
      MESHGUARD_GATEWAY_URL: fromEnv.url,
      MESHGUARD_AGENT_TOKEN: 'token',
      MESHGUARD_POLICIES: '/nowhere',
    };
    const remote = await createGuard({ env, spoolDir });
    expect((await remote.check({ action: 'read:orders', agent })).reason).toBe('allowed by the gateway');
    await remote.close();
    const coded = await createGuard({ gatewayUrl: fromCode.url, env, spoolDir });
    await coded.check({ action: 'read:orders', agent });
    await coded.close();
    expect([fromEnv.checks(), fromCode.checks()]).toEqual([1, 1]);
    await expect(createGuard({ gatewayUrl: fromCode.url, policies, env, spoolDir })).rejects.toThrow(
      /pass one or the other/,
    );
  });
});
