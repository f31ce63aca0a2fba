// The embedded WASM binary must be built from the assembly/ sources of this checkout, so an edited
// kernel is never tested as the old binary. scripts/build-wasm.mjs embeds the sources' sha256
// (ASSEMBLY_SHA256) in src/backends/wasm/binary.generated.ts; test/helpers/global-setup.ts runs
// this check once before any test file and stops the run when it fails. The same guard as the
// PTX's in src/backends/cuda/module.ts, which refuses a PTX built from another kernels.cu.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { wasmSourceSha256 } from '../../scripts/wasm-source-hash.mjs';

export const WASM_BINARY_FILE = 'src/backends/wasm/binary.generated.ts';

/** Why the embedded WASM binary under `root` must not be tested, or undefined when it is fresh. */
export function wasmBinaryProblem(root: string): string | undefined {
  const file = join(root, WASM_BINARY_FILE);
  const rebuild = 'run `npm run build:wasm`';
  if (!existsSync(file)) return `${WASM_BINARY_FILE} is missing: ${rebuild}`;
  const built = /^export const ASSEMBLY_SHA256 = '([0-9a-f]{64})';$/m.exec(readFileSync(file, 'utf8'))?.[1];
  if (built === undefined) return `${WASM_BINARY_FILE} carries no source hash (built by an older build script): ${rebuild}`;
  const now = wasmSourceSha256(root);
  if (built !== now) {
    return (
      `the WASM binary is stale: ${WASM_BINARY_FILE} was built from other assembly/ sources ` +
      `(sha256 ${built.slice(0, 12)}…, the sources now ${now.slice(0, 12)}…): ${rebuild}`
    );
  }
  return undefined;
}
