import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'release',
    include: ['src/**/*.test.ts'],
    globalSetup: ['src/pack.global.ts'],
    // Packing, npm installs (better-sqlite3 builds from source) and changesets runs are slow.
    testTimeout: 300_000,
    hookTimeout: 600_000,
  },
});
