import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEmbeddedGuard, createPolicyEngine, parsePolicies } from '@meshguard/core';
import { createTestClock, testAgent } from '@meshguard/core/testing';
import { openSqliteStore } from '@meshguard/store';
import stringWidth from 'string-width';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, meshguardNamingDb as meshguard, scratchDir } from './test-helpers/cli-harness';

let dir: string;
let db: string;

/** Six decisions, one per agent, oldest first: wide names among narrow ones. */
const AGENTS = ['Support', '客服助手', '🤖 bot', 'Café Agent', 'サポート担当エージェント', 'Ops'];

beforeAll(async () => {
  dir = await scratchDir('mg-audit-table-');
  db = join(dir, 'audit.db');
  const store = openSqliteStore(db);
  const guard = createEmbeddedGuard({
    engine: createPolicyEngine(
      parsePolicies('name: t\nversion: "1"\nrules:\n  - effect: allow\n    actions: ["read:*"]\n'),
    ),
    store,
    clock: createTestClock(Date.parse('2026-01-05T10:00:00Z')),
    framework: 'openai-agents',
  });
  for (const [index, name] of AGENTS.entries()) {
    await guard.check({ action: `read:item_${index}`, agent: testAgent({ name }), traceId: 'trace_wide' });
  }
  await guard.close();
  await store.close();
});
afterAll(() => cleanUp([], dir));

describe('meshguard audit query: table widths in terminal columns', () => {
  it('lines up every column when agent names hold CJK characters and emoji', () => {
    const { code, stdout } = meshguard('audit', 'query', '--db', db);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1 + AGENTS.length);
    const startOf = (line: string, text: string) => stringWidth(line.slice(0, line.indexOf(text)));
    const framework = startOf(lines[0]!, 'FRAMEWORK');
    const action = startOf(lines[0]!, 'ACTION');
    for (const line of lines.slice(1)) {
      expect(startOf(line, 'openai-agents'), line).toBe(framework);
      expect(startOf(line, 'read:item_'), line).toBe(action);
    }
    expect(stdout).toContain('サポート担当エージェント');
  });
});

describe('meshguard audit export --limit', () => {
  it('exports the first n matching events, oldest first', () => {
    const ids = (args: string[]) =>
      meshguard('audit', 'export', '--db', db, ...args)
        .stdout.trim()
        .split('\n')
        .map((line) => JSON.parse(line).action);
    expect(ids(['--limit', '2'])).toEqual(['read:item_0', 'read:item_1']);
    expect(ids(['--limit', '100'])).toHaveLength(AGENTS.length);
    expect(ids(['--limit', '1', '--agent', '客服助手'])).toEqual(['read:item_1']);
    const out = join(dir, 'three.csv');
    expect(
      meshguard('audit', 'export', '--db', db, '--format', 'csv', '--limit', '3', '--out', out),
    ).toMatchObject({
      code: 0,
      stderr: `exported 3 events to ${out}\n`,
    });
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(1 + 3);
    expect(meshguard('audit', 'export', '--db', db, '--limit', '1', '--out', out).stderr).toBe(
      `exported 1 event to ${out}\n`,
    );
  });

  it('refuses a limit that is not a positive whole number (exit 2)', () => {
    for (const limit of ['0', '-1', 'ten', '1.5']) {
      const { code, stderr } = meshguard('audit', 'export', '--db', db, '--limit', limit);
      expect(stderr).toMatch(
        new RegExp(`^meshguard: --limit: "${limit.replace('.', '\\.')}" is not a whole number`),
      );
      expect(code).toBe(2);
    }
  });
});
