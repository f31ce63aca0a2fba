// The CUDA backend through the shared conformance suite, against the TS backend. Skips, saying
// why, where there is no GPU, driver, koffi or kernel code (cudaAvailable()). On a GPU machine:
// scripts/cuda-check.sh.

import { describe, it } from 'vitest';
import { type CudaBackend, cudaAvailable } from '../../src/backends/cuda/index.ts';
import { createBackend } from '../../src/backends/select.ts';
import { describeBackendConformance } from './suite.ts';
import { DEVICE_MODEL_WEIGHTS, DEVICE_OPS } from '../helpers/tolerance.ts';

const avail = await cudaAvailable();

if (!avail.ok) {
  console.warn(`\n!!!!!!!! SKIPPING the cuda conformance suite: ${avail.reason}\n`);
  describe.skip(`conformance: cuda backend (unavailable: ${avail.reason})`, () => {
    it('needs a GPU', () => {});
  });
} else {
  describeBackendConformance({
    name: 'cuda',
    // through the backend registry, as `--backend cuda` and strategies make it
    create: async () => {
      const b = await createBackend('cuda', { device: Number(process.env['RWKV_CUDA_DEVICE'] ?? 0) });
      console.log(`[conformance:cuda] ${b.caps.description}`);
      return b;
    },
    dispose: (b) => (b as CudaBackend).dispose(),
    opTolerance: DEVICE_OPS,
    models: {
      against: 'ts',
      weights: DEVICE_MODEL_WEIGHTS,
      greedyTokens: 16,
      randomModels: true,
    },
  });
}
