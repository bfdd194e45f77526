import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'openai-agents-demo', include: ['src/**/*.test.ts'], testTimeout: 30_000 },
});
