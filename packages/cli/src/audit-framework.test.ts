import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEmbeddedGuard, createPolicyEngine, parsePolicies } from '@meshguard/core';
import { testAgent } from '@meshguard/core/testing';
import { openSqliteStore } from '@meshguard/store';
import { describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

describe('meshguard audit query --framework', () => {
  it('finds a renamed framework under either spelling (bedrock, once bedrock-agents)', async () => {
    const db = join(await mkdtemp(join(tmpdir(), 'mg-cli-framework-')), 'audit.db');
    const store = openSqliteStore(db);
    const engine = createPolicyEngine(
      parsePolicies('name: all\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["*"]\n'),
    );
    const agent = testAgent({ name: 'Support Agent' });
    // Checks as an older @meshguard/bedrock stamped them, as it stamps them now, and another framework.
    const guard = createEmbeddedGuard({ engine, store });
    for (const framework of ['bedrock-agents', 'bedrock', 'vertex']) {
      await guard.check({ action: 'read:orders', agent, framework });
    }
    await guard.close();
    await store.close();
    const frameworks = (name: string) => {
      const result = spawnSync(
        process.execPath,
        [CLI, 'audit', 'query', '--db', db, '--framework', name, '--json'],
        {
          encoding: 'utf8',
          env: { ...process.env, NO_COLOR: '1', MESHGUARD_DB: '' },
        },
      );
      expect(result.status).toBe(0);
      return result.stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { framework: string }).framework)
        .sort();
    };
    expect(frameworks('bedrock')).toEqual(['bedrock', 'bedrock-agents']);
    expect(frameworks('bedrock-agents')).toEqual(['bedrock', 'bedrock-agents']);
    expect(frameworks('vertex')).toEqual(['vertex']);
  });
});
