import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { defineProject } from 'vitest/config';

// The SDK installed here, the oldest version the peer range of @meshguard/openai-agents allows:
// its ESM entries (the CommonJS ones would load a second copy of the SDK's classes).
const sdk = createRequire(import.meta.url)
  .resolve('@openai/agents')
  .replace(/dist[\\/]index\.js$/, '');
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineProject({
  resolve: {
    alias: [
      { find: /^@openai\/agents\/testing$/, replacement: `${sdk}dist/testing/index.mjs` },
      { find: /^@openai\/agents$/, replacement: `${sdk}dist/index.mjs` },
    ],
  },
  test: {
    name: 'oldest-sdks',
    // The adapter's own tests and type tests, then this package's check of the peer range.
    dir: here('../..'),
    include: ['packages/openai-agents/src/**/*.test.ts', 'tests/oldest-sdks/src/**/*.test.ts'],
    testTimeout: 30_000,
    typecheck: {
      enabled: true,
      include: ['packages/openai-agents/src/**/*.test-d.ts'],
      tsconfig: here('./tsconfig.json'),
    },
  },
});
