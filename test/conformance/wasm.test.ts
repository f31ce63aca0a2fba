// The WASM backend through the shared conformance suite, against the TS backend. It is made
// through the backend registry (createBackend('wasm')), as users get it; a failure to import or
// start it is a failure here, not a skip.

import type { Backend } from '../../src/backends/backend.ts';
import { createBackend } from '../../src/backends/select.ts';
import { DEVICE_MODEL_WEIGHTS, DEVICE_OPS } from '../helpers/tolerance.ts';
import { describeBackendConformance } from './suite.ts';

describeBackendConformance({
  name: 'wasm',
  create: () => createBackend('wasm'),
  // the WASM backend holds worker threads: close them
  dispose: (b) => (b as Backend & { dispose?: () => Promise<void> }).dispose?.(),
  // f32 SIMD sums in another order than TS's f64 sums; same budget as a device backend
  opTolerance: DEVICE_OPS,
  models: {
    against: 'ts',
    weights: DEVICE_MODEL_WEIGHTS,
    greedyTokens: 8,
    randomModels: true,
    // one file per model (the 16-bit .safetensors) keeps the default run short
    fixtures: (label) => label.endsWith('.safetensors'),
  },
});
