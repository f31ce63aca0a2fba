// The TS backend through the shared conformance suite. Its ops are judged by the f64 SpecBackend
// (written from the Backend doc comments, sharing no code with src/backends/ts/kernels.ts) and
// its models by the official implementation's numbers in the fixtures, so this can fail.

import { TsBackend } from '../../src/backends/ts/ts-backend.ts';
import { LOGITS_ORACLE_ATOL, TS_OPS } from '../helpers/tolerance.ts';
import { SpecBackend } from './spec-backend.ts';
import { describeBackendConformance } from './suite.ts';

describeBackendConformance({
  name: 'ts',
  create: () => Promise.resolve(new TsBackend()),
  opOracle: () => new SpecBackend(),
  // TS accumulates in f64 and rounds once to f32 (the spec keeps f64): a few f32 ulps, except
  // the WKV states which the TS kernels round to f32 each step (wkv4, wkv7)
  opTolerance: TS_OPS,
  models: {
    against: 'oracle',
    weights: [{ weights: 'f32', logits: { atol: LOGITS_ORACLE_ATOL, rtol: 0 }, exactGreedy: true }],
    greedyTokens: 8,
    randomModels: false,
    // one file per model, the 16-bit .safetensors (test/oracle/model.test.ts reads every form)
    fixtures: (label) => label.endsWith('.safetensors'),
  },
});
