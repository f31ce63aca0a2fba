import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // fast-check runs with a fixed seed everywhere (FC_SEED, default 42; FC_SEED=random explores),
    // set by test/helpers/setup.ts
    setupFiles: ['test/helpers/setup.ts'],
  },
});
