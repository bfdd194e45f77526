import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStore, createRemoteGuard } from '@meshguard/core';
import { openSqliteGatewayState } from '@meshguard/store';
import { expect, it } from 'vitest';
import { createGateway } from './gateway-app';

const ADMIN = 'admin-token-for-tests-0123456789';
const POLICIES = [
  {
    name: 'triage.yaml',
    text: 'name: triage\nversion: "1"\nappliesTo: { tags: [triage] }\nrules:\n  - effect: allow\n    actions: ["handoff:*", "read:*"]\ndelegation: { permissionCeiling: ["read:*"] }\n',
  },
  {
    name: 'billing.yaml',
    text: 'name: billing\nversion: "1"\nappliesTo: { tags: [billing] }\nrules:\n  - effect: allow\n    actions: ["read:*", "write:refund"]\n',
  },
];
const someone = { id: 'local', name: 'local', tags: [], tier: 'basic' as const };

it("the target's remote guard carries the delegated token after a handoff, and fails closed once it expires", async () => {
  const gateway = await createGateway({
    store: createMemoryStore(),
    state: openSqliteGatewayState(':memory:'),
    adminToken: ADMIN,
    policies: POLICIES,
    delegation: { ttlSeconds: 3 }, // whole seconds: it lives between 2 and 3 s
  });
  const spool = mkdtempSync(join(tmpdir(), 'mg-delegation-spool-'));
  try {
    await gateway.app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(gateway.app.server.address() as AddressInfo).port}`;
    const token = async (name: string, tags: string[]) => {
      const res = await fetch(`${url}/v1/agents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name, tags }),
      });
      return ((await res.json()) as { token: string }).token;
    };
    const triage = createRemoteGuard({ url, agentToken: await token('Triage', ['triage']), spoolDir: spool });
    const billing = createRemoteGuard({
      url,
      agentToken: await token('Billing', ['billing']),
      spoolDir: spool,
    });
    const refund = { agent: someone, action: 'write:refund', traceId: 'trace_r' };

    // Before any handoff, and without a chain, billing acts on its own token.
    expect((await billing.check({ ...refund, delegation: [someone] })).allowed).toBe(true);
    expect(
      (await triage.check({ agent: someone, action: 'handoff:Billing', traceId: 'trace_r' })).allowed,
    ).toBe(true);
    // After it, in that trace, billing's checks carry the delegated token: the ceiling holds.
    const denied = await billing.check({ ...refund, delegation: [someone] });
    expect(denied.allowed).toBe(false);
    expect(denied.reason).toMatch(/outside the permission ceiling \[read:\*\] that policy triage sets/);
    // Another trace is another run.
    expect((await billing.check({ ...refund, traceId: 'trace_other', delegation: [someone] })).allowed).toBe(
      true,
    );

    await new Promise((resolve) => setTimeout(resolve, 3100));
    const expired = await billing.check({ ...refund, delegation: [someone] });
    expect(expired.allowed).toBe(false);
    expect(expired.reason).toMatch(/HTTP 401: the agent token has expired/);
    await triage.close();
    await billing.close();
  } finally {
    await gateway.close();
    rmSync(spool, { recursive: true, force: true });
  }
});
