import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmbeddedGuard, createPolicyEngine, parsePolicies } from '@meshguard/core';
import { expect, it } from 'vitest';
import { openSqliteStore } from './sqlite-store';

// Found attacking issue 15: redaction by form covered the strings of `context` only, while an
// outcome's `error` and `reason` are where a tool's failure puts a credential or a card number.
it('an outcome error or reason holding a bearer token, a card number or an AWS key id is redacted', async () => {
  const store = openSqliteStore(join(mkdtempSync(join(tmpdir(), 'mg-outcome-text-')), 'm.db'));
  const guard = createEmbeddedGuard({
    engine: createPolicyEngine(
      parsePolicies('name: p\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["write:*"]\n'),
    ),
    store,
  });
  const agent = { id: 'a', name: 'a', tags: [], tier: 'basic' as const };
  const decision = await guard.check({ action: 'write:charge', agent, traceId: 'trace_text' });
  await guard.record({
    decisionId: decision.decisionId,
    outcome: 'error',
    error: 'HTTP 401 with Authorization: Bearer abcdefghijklmnop0123 for card 4111 1111 1111 1111',
    reason: 'key AKIAIOSFODNN7EXAMPLE refused',
  });
  const events = await guard.query({ traceId: 'trace_text' });
  await guard.close();
  const stored = JSON.stringify(events);
  expect(stored).not.toContain('abcdefghijklmnop0123');
  expect(stored).not.toContain('4111 1111 1111 1111');
  expect(stored).not.toContain('AKIAIOSFODNN7EXAMPLE');
});
