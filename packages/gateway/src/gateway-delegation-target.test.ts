import { openSqliteGatewayState, openSqliteStore } from '@meshguard/store';
import { afterEach, expect, it } from 'vitest';
import { createGateway, type Gateway } from './gateway-app';

const ADMIN = 'admin-token-for-tests-0123456789';
// A policy written by name, as policies.md says handoff actions are: no handoff to Admin.
const POLICIES = [
  {
    name: 'helpers.yaml',
    text: `name: helpers
version: "1"
appliesTo: { tags: [helper] }
rules:
  - effect: deny
    actions: ["handoff:Admin"]
    reason: nobody hands off to the admin agent
  - effect: allow
    actions: ["handoff:*", "read:*"]
`,
  },
  {
    name: 'admin.yaml',
    text: `name: admin
version: "1"
appliesTo: { agents: [Admin] }
rules:
  - effect: allow
    actions: ["*"]
`,
  },
];

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

// Found attacking issue 15: targets were resolved by id as well as by name, so
// `handoff:<Admin's id>` matched `handoff:*`, not the deny of `handoff:Admin`, and the helper got
// a token bound to Admin. Targets are now found by name only (`handoffTarget` picks namesakes).
it('a handoff the policy denies by name is not granted by naming the target by id', async () => {
  gateway = await createGateway({
    store: openSqliteStore(':memory:'),
    state: openSqliteGatewayState(':memory:'),
    adminToken: ADMIN,
    policies: POLICIES,
  });
  await gateway.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(gateway.app.server.address() as { port: number }).port}`;
  const agent = async (id: string, name: string, tags: string[], tier: string) => {
    const res = await fetch(`${url}/v1/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id, name, tags, tier }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { token: string }).token;
  };
  const check = async (token: string, action: string) => {
    const res = await fetch(`${url}/v1/check`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action }),
    });
    return (await res.json()) as { allowed: boolean; handoffToken?: { token: string } };
  };
  const helper = await agent('helper-1', 'Helper', ['helper'], 'basic');
  await agent('admin-1', 'Admin', [], 'privileged');

  const byName = await check(helper, 'handoff:Admin');
  expect(byName.allowed).toBe(false);
  expect(byName.handoffToken).toBeUndefined();

  const byId = await check(helper, 'handoff:admin-1');
  expect(byId.handoffToken).toBeUndefined();
  if (byId.handoffToken)
    expect((await check(byId.handoffToken.token, 'delete:everything')).allowed).toBe(false);
});
