import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteGatewayState, openSqliteStore } from '@meshguard/store';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from './gateway-app';

const ADMIN = 'admin-token-for-tests-0123456789';
const POLICY = {
  name: 'support.yaml',
  text: `name: support
version: "1"
rules:
  - effect: allow
    actions: ["read:*"]
`,
};

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

describe('GET /v1/audit?framework=', () => {
  it('finds a renamed framework under either spelling (bedrock, once bedrock-agents), over HTTP on SQLite', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mg-gw-framework-'));
    gateway = await createGateway({
      store: openSqliteStore(join(dir, 'audit.db')),
      state: openSqliteGatewayState(':memory:'),
      adminToken: ADMIN,
      policies: [POLICY],
    });
    const base = await gateway.app.listen({ port: 0, host: '127.0.0.1' });
    const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    const created = await fetch(`${base}/v1/agents`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ name: 'support-bot', tags: ['support'], tier: 'verified' }),
    });
    const { token } = (await created.json()) as { token: string };
    // Events stamped by an older @meshguard/bedrock, a current one, and another framework.
    for (const framework of ['bedrock-agents', 'bedrock', 'vertex']) {
      const res = await fetch(`${base}/v1/check`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ action: 'read:orders', framework, traceId: 'trace_frameworks' }),
      });
      expect(res.status).toBe(200);
    }
    const frameworks = async (filter: string) => {
      const res = await fetch(`${base}/v1/audit?framework=${filter}&traceId=trace_frameworks&order=asc`, {
        headers: admin,
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { events: Array<{ framework: string }> }).events.map((e) => e.framework);
    };
    expect(await frameworks('bedrock')).toEqual(['bedrock-agents', 'bedrock']);
    expect(await frameworks('bedrock-agents')).toEqual(['bedrock-agents', 'bedrock']);
    expect(await frameworks('vertex')).toEqual(['vertex']);
  });
});
