// The sha256 of what the WASM kernels are built from: every file under assembly/ and asconfig.json
// (each as its '/'-separated path, a NUL, its bytes, a NUL, in sorted path order). build-wasm.mjs
// embeds it in src/backends/wasm/binary.generated.ts as ASSEMBLY_SHA256; the test setup
// (test/helpers/wasm-fresh.ts) recomputes it and refuses to test a binary built from other
// sources, as src/backends/cuda/module.ts refuses a stale PTX.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Paths (relative to `root`, '/'-separated, sorted) of the files the WASM binary is built from. */
export function wasmSourceFiles(root) {
  const out = [];
  const walk = (rel) => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk('assembly');
  if (existsSync(join(root, 'asconfig.json'))) out.push('asconfig.json');
  return out.sort();
}

/** sha256 (hex) of the WASM kernels' sources under `root` (the repository root). */
export function wasmSourceSha256(root) {
  const h = createHash('sha256');
  for (const f of wasmSourceFiles(root)) {
    h.update(`${f}\0`);
    h.update(readFileSync(join(root, f)));
    h.update('\0');
  }
  return h.digest('hex');
}
