// One server for the gateway benchmark, in its own process (so the load generator has its own
// core): `gateway` (the MeshGuard gateway over a SQLite store) or `floor` (bare node:http
// answering the same decision JSON). Prints `ready <port> <agent token>` when listening.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import { join } from 'node:path';

const kind = process.argv[2];
const ADMIN = 'bench-admin-token-0123456789abcdef';
const DECISION = {
  decisionId: '019a0000-0000-7000-8000-000000000000',
  allowed: true,
  effect: 'allow',
  reason: 'Allowed by rule openai-support-agent-policy#0',
  policy: { name: 'openai-support-agent-policy', version: '1.0' },
  rule: { id: 'openai-support-agent-policy#0', index: 0 },
  mode: 'enforce',
  evaluatedAt: '2025-06-04T10:30:00.000Z',
};

if (kind === 'floor') {
  // The floor: parse the body as the gateway would, answer the same JSON.
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(DECISION));
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => console.log(`ready ${server.address().port} -`));
} else {
  const { createGateway } = await import('@meshguard/gateway');
  const { openSqliteGatewayState, openSqliteStore } = await import('@meshguard/store');
  const dir = mkdtempSync(join(os.tmpdir(), 'meshguard-bench-gateway-'));
  const seed = readFileSync(new URL('../../examples/policies/openai-support.yaml', import.meta.url), 'utf8');
  const gateway = await createGateway({
    store: openSqliteStore(join(dir, 'gateway.db')),
    state: openSqliteGatewayState(join(dir, 'gateway.db')),
    adminToken: ADMIN,
    policies: [{ name: 'openai-support.yaml', text: seed }],
  });
  await gateway.app.listen({ port: 0, host: '127.0.0.1' });
  gateway.app.server.keepAliveTimeout = 60_000;
  const { token } = await gateway.tokens.issue(
    { id: 'bench-agent', name: 'Customer Support Agent', tags: ['openai', 'support'], tier: 'verified' },
    3600,
  );
  await (await import('@meshguard/store')).openSqliteGatewayState(join(dir, 'gateway.db')).createAgent({
    id: 'bench-agent',
    name: 'Customer Support Agent',
    tags: ['openai', 'support'],
    tier: 'verified',
  });
  console.log(`ready ${gateway.app.server.address().port} ${token}`);
  process.on('SIGTERM', async () => {
    await gateway.close();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
}
