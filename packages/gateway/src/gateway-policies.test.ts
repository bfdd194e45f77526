import { createMemoryStore } from '@meshguard/core';
import { openSqliteGatewayState } from '@meshguard/store';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from './gateway-app';

const ADMIN = 'admin-token-for-tests-0123456789';
const admin = { authorization: `Bearer ${ADMIN}` };
const policy = (name: string, extra = '') =>
  `name: ${name}\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["read:*"]\n${extra}`;

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

async function start() {
  gateway = await createGateway({
    store: createMemoryStore(),
    state: openSqliteGatewayState(':memory:'),
    adminToken: ADMIN,
    policies: [{ name: 'base.yaml', text: policy('base') }],
  });
  return gateway.app;
}

const put = async (files: Array<{ name: string; text: string }>) =>
  (await start()).inject({ method: 'PUT', url: '/v1/policies', headers: admin, payload: { files } });

describe('gateway: policy pushes it refuses', () => {
  it('refuses two policies with one name in one push (400 naming both places), the set in force stays', async () => {
    const res = await put([
      { name: 'a.yaml', text: policy('same') },
      { name: 'b.yaml', text: policy('same') },
    ]);
    expect(res.statusCode).toBe(400);
    expect(res.json().issues[0]).toMatchObject({ file: 'b.yaml', line: 1 });
    expect(res.json().issues[0].message).toMatch(/duplicate policy name "same" \(also in a\.yaml:1\)/);
    expect(gateway!.policies.version).toBe(1);
  });

  it('refuses two documents with one name in one file', async () => {
    const res = await put([{ name: 'a.yaml', text: `${policy('same')}---\n${policy('same')}` }]);
    expect(res.statusCode).toBe(400);
    expect(res.json().issues[0]).toMatchObject({ file: 'a.yaml', line: 7 });
  });

  it('refuses two files with one file name', async () => {
    const res = await put([
      { name: 'a.yaml', text: policy('one') },
      { name: 'a.yaml', text: policy('two') },
    ]);
    expect(res.statusCode).toBe(400);
    expect(res.json().issues[0].message).toMatch(/duplicate file name "a\.yaml"/);
  });

  it('refuses a YAML alias bomb with a 400 at file:line:col, not a 500', async () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x","x"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]',
      'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]',
      'g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]',
      '',
    ].join('\n');
    const res = await put([{ name: 'bomb.yaml', text: bomb }]);
    expect(res.statusCode).toBe(400);
    // At the first alias: `*a` on line 2.
    expect(res.json().issues[0]).toMatchObject({ file: 'bomb.yaml', line: 2, column: 8 });
    expect(res.json().issues[0].message).toMatch(/alias bomb/);
    expect(gateway!.policies.version).toBe(1);
  });

  it('refuses __proto__ as a key with a 400 at file:line:col', async () => {
    const text = `name: p\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["write:refund"]\n    conditions:\n      context:\n        "__proto__": { eq: 1 }\n`;
    const res = await put([{ name: 'proto.yaml', text }]);
    expect(res.statusCode).toBe(400);
    expect(res.json().issues[0]).toMatchObject({ file: 'proto.yaml', line: 8, column: 9 });
  });
});

describe('gateway: a matches pattern cannot stall the event loop', () => {
  it('answers a check against ^(a+)+$ with a 30-character value, and /healthz meanwhile, at once', async () => {
    const text = `${policy('base')}  - effect: allow\n    actions: ["write:note"]\n    conditions:\n      context:\n        q: { matches: "^(a+)+$" }\n`;
    gateway = await createGateway({
      store: createMemoryStore(),
      state: openSqliteGatewayState(':memory:'),
      adminToken: ADMIN,
      policies: [{ name: 'base.yaml', text }],
    });
    const app = gateway.app;
    const created = await app.inject({
      method: 'POST',
      url: '/v1/agents',
      headers: admin,
      payload: { name: 'bot' },
    });
    const auth = { authorization: `Bearer ${created.json().token}` };
    const started = performance.now();
    const [check, health] = await Promise.all([
      app.inject({
        method: 'POST',
        url: '/v1/check',
        headers: auth,
        payload: { action: 'write:note', context: { q: `${'a'.repeat(30)}!` } },
      }),
      app.inject({ method: 'GET', url: '/healthz' }),
    ]);
    // JavaScript's backtracking engine took seconds here; this generous guard only catches that.
    expect(performance.now() - started).toBeLessThan(2000);
    expect(check.json()).toMatchObject({ allowed: false, effect: 'deny' });
    expect(health.statusCode).toBe(200);
  });
});
