import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'bedrock-demo',
    include: ['src/**/*.test.ts'],
    testTimeout: 30_000,
    // The SDK warns once per process that its 2027 releases need Node 22; tests run on 20 on purpose.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
