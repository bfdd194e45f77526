import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'vertex',
    include: ['src/**/*.test.ts'],
    testTimeout: 30_000,
    // The public generics' type tests (`*.test-d.ts`), checked by tsc in the same run.
    typecheck: { enabled: true, include: ['src/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
  },
});
