import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // fast-check: a fixed seed in CI (see test/helpers/seed.ts)
    setupFiles: ['test/helpers/setup.ts'],
  },
});
