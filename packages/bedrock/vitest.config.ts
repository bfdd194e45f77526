import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'bedrock',
    include: ['src/**/*.test.ts'],
    testTimeout: 30_000,
    // The SDK warns once per process that its 2027 releases need Node 22; tests run on 20 on purpose.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    // The public types' tests (`*.test-d.ts`), checked by tsc in the same run.
    typecheck: { enabled: true, include: ['src/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
  },
});
