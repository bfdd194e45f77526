import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStore, createRemoteGuard } from '@meshguard/core';
import { createGateway } from '@meshguard/gateway';
import { openSqliteGatewayState } from '@meshguard/store';
import { describe, expect, it } from 'vitest';
import { recordHostedToolCalls } from './hosted-tools';
import { trail } from './support-fixtures';
import { runHostedSearches } from './test-helpers/hosted-searches';

const ADMIN = 'adapter-admin-token-0123456789ab';
const SEARCHES = `
name: no-competitor-searches
version: "1"
appliesTo: { tags: [support] }
rules:
  - effect: allow
    actions: ["read:*"]
  - id: no-competitors
    effect: deny
    actions: ["read:*_search"]
    conditions: { context: { query: { matches: "[Aa][Cc][Mm][Ee]" } } }
    reason: Searching for competitors is not allowed
`;

describe('hosted tools behind a gateway', () => {
  it('records a hosted call the gateway judges denied as it ran (a query condition) as an observed deny', async () => {
    const store = createMemoryStore();
    const gateway = await createGateway({
      store,
      state: openSqliteGatewayState(':memory:'),
      adminToken: ADMIN,
      policies: [{ name: 'searches.yaml', text: SEARCHES }],
    });
    const spool = mkdtempSync(join(tmpdir(), 'mg-oa-hosted-'));
    try {
      await gateway.app.listen({ port: 0, host: '127.0.0.1' });
      const url = `http://127.0.0.1:${(gateway.app.server.address() as { port: number }).port}`;
      const created = await fetch(`${url}/v1/agents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Customer Support Agent', tags: ['support'], tier: 'verified' }),
      });
      const { token } = (await created.json()) as { token: string };
      const guard = createRemoteGuard({
        url,
        agentToken: token,
        adminToken: ADMIN,
        spoolDir: spool,
        flushMs: 10,
      });

      const { result, options } = await runHostedSearches(guard, 'trace_hosted_remote');
      expect(await recordHostedToolCalls(result, options)).toBe(3);
      await guard.flush();

      const events = await guard.query({ traceId: 'trace_hosted_remote', order: 'asc' });
      await guard.close();
      expect(trail(events).sort()).toEqual([
        'decision Customer Support Agent read:file_search allow',
        'decision Customer Support Agent read:web_search allow',
        'outcome Customer Support Agent read:file_search deny/observed',
        'outcome Customer Support Agent read:web_search allow/success',
        'outcome Customer Support Agent read:web_search deny/observed',
      ]);
      expect(events.find((e) => e.id === 'openai:ws_no')).toMatchObject({
        effect: 'deny',
        outcome: 'observed',
        reason:
          'observed in the run: OpenAI ran it on its side, where MeshGuard cannot stop it; policy would not allow it: Searching for competitors is not allowed (rule no-competitors)',
      });
      expect(events.find((e) => e.id === 'openai:fs_no')).toMatchObject({
        effect: 'deny',
        outcome: 'observed',
      });
    } finally {
      await gateway.close();
      rmSync(spool, { recursive: true, force: true });
    }
  });
});
