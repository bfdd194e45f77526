import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const manifest = (path: string) =>
  JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as {
    peerDependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };

describe('the @openai/agents versions @meshguard/openai-agents is tested with', () => {
  it('are the oldest its peer range allows (here) and the newest (its own devDependency)', () => {
    const adapter = manifest('../../../packages/openai-agents/package.json');
    const oldest = manifest('../package.json').devDependencies?.['@openai/agents'] ?? '';
    const newest = adapter.devDependencies?.['@openai/agents'] ?? '';
    const range = adapter.peerDependencies?.['@openai/agents'] ?? '';
    expect(range.startsWith(`>=${oldest} `), `peer range ${range} starts at ${oldest}`).toBe(true);
    const [major, minor] = newest.split('.').map(Number);
    expect(range.endsWith(` <${major}.${minor! + 1}.0`), `peer range ${range} ends after ${newest}`).toBe(
      true,
    );
  });
});
