#!/usr/bin/env node
// `npm run fuzz`: every fuzz test file (test/**/*fuzz*.test.ts) with FUZZ_RUNS cases per
// property (default 100000, the long run; `npm test` runs each with its small CI default).
//   npm run fuzz [-- RUNS]
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runs = process.argv[2] ?? process.env.FUZZ_RUNS ?? '100000';
const r = spawnSync(process.execPath, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', 'fuzz', '--testTimeout', '0'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, FUZZ_RUNS: runs },
});
process.exit(r.status ?? 1);
