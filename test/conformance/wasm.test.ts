// The WASM backend through the shared conformance suite, against the TS backend. The backend is
// being written now (src/backends/wasm/); until it exports a factory this file skips and says so.

import { describe, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.ts';
import { describeBackendConformance } from './suite.ts';

/** A factory from the WASM backend module, or why there is none yet. */
async function wasmFactory(): Promise<{ create: () => Promise<Backend> } | { reason: string }> {
  const spec = '../../src/backends/wasm/wasm-backend.ts'; // computed: the file may not exist yet
  let mod: Record<string, unknown>;
  try {
    mod = (await import(spec)) as Record<string, unknown>;
  } catch (e) {
    return { reason: `src/backends/wasm/wasm-backend.ts not loadable: ${(e as Error).message.split('\n')[0]}` };
  }
  const cls = mod['WasmBackend'] as { create?: () => Promise<Backend> } | (new () => Backend) | undefined;
  if (cls === undefined) return { reason: 'src/backends/wasm/wasm-backend.ts exports no WasmBackend' };
  if (typeof (cls as { create?: unknown }).create === 'function') {
    return { create: () => (cls as { create: () => Promise<Backend> }).create() };
  }
  return { create: () => Promise.resolve(new (cls as new () => Backend)()) };
}

const factory = await wasmFactory();
if ('reason' in factory) {
  console.warn(`\n!!!!!!!! SKIPPING the wasm conformance suite: ${factory.reason}\n`);
  describe.skip(`conformance: wasm backend (${factory.reason})`, () => {
    it('needs the WASM backend', () => {});
  });
} else {
  describeBackendConformance({
    name: 'wasm',
    create: factory.create,
    // the WASM backend holds worker threads: close them
    dispose: (b) => (b as Backend & { dispose?: () => Promise<void> }).dispose?.(),
    // f32 SIMD sums in another order than TS's f64 sums; same budget as a device backend
    opTolerance: { atol: 3e-5, rtol: 3e-5 },
    models: {
      against: 'ts',
      weights: [
        { weights: 'f32', logits: { atol: 1e-4, rtol: 1e-4 }, exactGreedy: true },
        { weights: 'compact', logits: { atol: 1e-3, rtol: 0 }, exactGreedy: false },
      ],
      greedyTokens: 8,
      randomModels: true,
      // one file per model (the 16-bit .safetensors) keeps the default run short
      fixtures: (label) => label.endsWith('.safetensors'),
    },
  });
}
