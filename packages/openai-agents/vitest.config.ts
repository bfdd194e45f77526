import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'openai-agents',
    include: ['src/**/*.test.ts'],
    testTimeout: 30_000,
    // The public generics (runGoverned, governedTool, governHandoff) are locked by *.test-d.ts.
    typecheck: { enabled: true, include: ['src/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
  },
});
