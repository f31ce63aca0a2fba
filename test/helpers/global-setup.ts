// Runs once in the vitest main process, before any test file: refuses to test a stale or missing
// WASM binary (test/helpers/wasm-fresh.ts), so the run stops at once with the command that fixes it.

import { REPO_ROOT } from './fixtures.ts';
import { wasmBinaryProblem } from './wasm-fresh.ts';

export default function setup(): void {
  const problem = wasmBinaryProblem(REPO_ROOT);
  if (problem !== undefined) throw new Error(problem);
}
