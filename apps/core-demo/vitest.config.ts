import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'core-demo', include: ['src/**/*.test.ts'], testTimeout: 20_000 },
});
