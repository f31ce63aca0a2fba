// vitest for every runtime: test/runtimes/run.mjs starts this same config under Node, Deno and Bun
// (`npm test` runs the core suite: it excludes *.slow.test.ts and test/slow/**; a plain
// `npx vitest run` runs every test file, under Node).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // the hang guard of every test (the tests assert counts, never wall-clock time); a model
    // load or a fuzz property takes seconds, so only a hang gets near this
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // once, before any test file: refuse a WASM binary built from other assembly/ sources
    globalSetup: ['test/helpers/global-setup.ts'],
    // fast-check runs with a fixed seed everywhere (FC_SEED, default 42; FC_SEED=random explores),
    // set by test/helpers/setup.ts
    setupFiles: ['test/helpers/setup.ts'],
  },
});
