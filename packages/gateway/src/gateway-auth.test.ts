import { createMemoryStore } from '@meshguard/core';
import { openSqliteGatewayState } from '@meshguard/store';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from './gateway-app';
import { bearerToken } from './gateway-auth';
import { forbiddenKeyPath } from './gateway-errors';

const ADMIN = 'admin-token-for-tests-0123456789';

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

async function start(logs: string[] = []) {
  gateway = await createGateway({
    store: createMemoryStore(),
    state: openSqliteGatewayState(':memory:'),
    adminToken: ADMIN,
    adminFailureLimit: { max: 3, windowMs: 60_000 },
    logger: { level: 'warn', stream: { write: (line: string) => logs.push(line) } },
  });
  await gateway.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(gateway.app.server.address() as { port: number }).port}`;
  const created = await fetch(`${url}/v1/agents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bot', tags: [] }),
  });
  const { token } = (await created.json()) as { token: string };
  return { url, token };
}

describe('gateway: admin token attempts', () => {
  it('answers 429 to an address after too many failed admin-token attempts, logs them, and spares other addresses', async () => {
    const logs: string[] = [];
    const { url } = await start(logs);
    const guess = (token?: string) =>
      fetch(`${url}/v1/agents`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    expect((await guess('wrong-guess-0000000000000000')).status).toBe(401);
    expect((await guess()).status).toBe(401);
    expect((await guess('wrong-guess-0000000000000001')).status).toBe(401);
    const limited = await guess('wrong-guess-0000000000000002');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await limited.json()).toEqual({
      error: 'too_many_requests',
      message: expect.stringMatching(/too many failed admin-token attempts from this address/),
    });
    // Blocked for the window, the right token included: guessing cannot go on beside it.
    expect((await guess(ADMIN)).status).toBe(429);
    // Agent routes are not admin attempts.
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    // Another client address is not held back.
    const other = await gateway!.app.inject({
      method: 'GET',
      url: '/v1/agents',
      remoteAddress: '10.1.2.3',
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(other.statusCode).toBe(200);

    const refused = logs.map((line) => JSON.parse(line) as { msg: string; clientAddress?: string });
    expect(refused.filter((l) => l.msg === 'admin token refused')).toHaveLength(4);
    expect(refused.some((l) => l.msg.startsWith('too many failed admin-token attempts'))).toBe(true);
    expect(refused.every((l) => l.clientAddress === '127.0.0.1')).toBe(true);
    // The guesses themselves are never logged.
    expect(logs.join('\n')).not.toContain('wrong-guess');
  });
});

describe('gateway: the Authorization header', () => {
  it('takes the Bearer scheme in any case', async () => {
    const { url, token } = await start();
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      const check = await fetch(`${url}/v1/check`, {
        method: 'POST',
        headers: { authorization: `${scheme} ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ action: 'read:orders' }),
      });
      expect(check.status, scheme).toBe(200);
      const admin = await fetch(`${url}/v1/agents`, { headers: { authorization: `${scheme} ${ADMIN}` } });
      expect(admin.status, scheme).toBe(200);
    }
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken('Bearertoken')).toBeUndefined();
    expect(bearerToken('bearer  tok ')).toBe('tok');
    expect(bearerToken('bearer \t tok')).toBe('tok');
    const started = performance.now();
    expect(bearerToken(`bearer${' \t'.repeat(50_000)}`)).toBeUndefined();
    expect(bearerToken(`bearer${' '.repeat(50_000)}x${' '.repeat(50_000)}`)).toBe('x');
    expect(performance.now() - started).toBeLessThan(100);
  });
});

describe("gateway: the framework's own errors", () => {
  const post = (url: string, token: string, body: string, type = 'application/json') =>
    fetch(`${url}/v1/check`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': type },
      body,
    });

  it('answers malformed JSON, an unknown route and a wrong content type with the documented body', async () => {
    const { url, token } = await start();
    const bad = await post(url, token, '{"action": ');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      error: 'bad_request',
      message: expect.stringMatching(/^the body is not valid JSON \(/),
      field: 'body',
    });

    const missing = await fetch(`${url}/v1/nope?x=1`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'not_found', message: 'no route GET /v1/nope' });

    const xml = await post(url, token, '<a/>', 'application/xml');
    expect(xml.status).toBe(415);
    expect(await xml.json()).toEqual({
      error: 'unsupported_media_type',
      message: "the body's content-type (application/xml) is neither JSON nor text",
    });

    const empty = await post(url, token, '');
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { error: string }).error).toBe('bad_request');
  });

  it('names a __proto__ key (and constructor.prototype) with its path, not as invalid JSON', async () => {
    const { url, token } = await start();
    const top = await post(url, token, '{"action":"read:x","__proto__":{"allowed":true}}');
    expect(top.status).toBe(400);
    expect(await top.json()).toEqual({
      error: 'bad_request',
      message: '__proto__: __proto__ is not allowed',
      field: '__proto__',
    });
    const nested = await post(url, token, '{"action":"read:x","context":{"a":[{"__proto__":{}}]}}');
    expect(await nested.json()).toEqual({
      error: 'bad_request',
      message: 'context.a.0.__proto__: __proto__ is not allowed',
      field: 'context.a.0.__proto__',
    });
    const ctor = await post(url, token, '{"action":"read:x","context":{"constructor":{"prototype":{}}}}');
    expect(await ctor.json()).toEqual({
      error: 'bad_request',
      message: 'context.constructor.prototype: constructor.prototype is not allowed',
      field: 'context.constructor.prototype',
    });
    // An ordinary "constructor" key is data like any other.
    const plain = await post(url, token, '{"action":"read:x","context":{"constructor":"Ada"}}');
    expect(plain.status).toBe(200);
    expect(forbiddenKeyPath({ a: { b: 1 } })).toBeUndefined();
  });
});
