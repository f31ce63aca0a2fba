// Budgets of the device backends against the TS backend (per element: |a − b| <= atol + rtol·|ref|).
// They sit here rather than in test/helpers/tolerance.ts so the suite's owners can tune them
// together; each says why it is that size.

import type { ConformanceOptions, Tolerance } from './suite.ts';

/**
 * Device ops vs TS ops: f32 sums in another order (TS sums in f64, then rounds) over up to 130
 * terms of O(1) and f32 exp/tanh (a few ulps): ~1e-5 absolute on outputs of O(1–10).
 */
export const CUDA_OPS: Tolerance = { atol: 3e-5, rtol: 3e-5 };

/** fp32 weights: the contract for a device backend is exact greedy tokens; logits as close as the ops allow over a few layers. */
export const CUDA_FP32_LOGITS: Tolerance = { atol: 1e-4, rtol: 1e-4 };

/** fp16/bf16 weights (exact for 16-bit checkpoints, so only summation order differs): the 1e-3. */
export const CUDA_FP16_LOGITS: Tolerance = { atol: 1e-3, rtol: 0 };

/** The CUDA backend's model runs (real GPU and emulated driver alike): fp32 and compact weights. */
export const CUDA_MODEL_WEIGHTS: ConformanceOptions['models']['weights'] = [
  { weights: 'f32', logits: CUDA_FP32_LOGITS, exactGreedy: true },
  { weights: 'compact', logits: CUDA_FP16_LOGITS, exactGreedy: false },
];
