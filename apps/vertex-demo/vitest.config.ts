import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'vertex-demo', include: ['src/**/*.test.ts'], testTimeout: 30_000 },
});
