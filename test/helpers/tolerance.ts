// Every tolerance the tests use, named once here, with the reason for its size: the oracle
// bounds (against the official implementation's numbers), the bounds between two of our own
// implementations, those of the WASM kernels against their TS twins, the device backends'
// budgets, and the file-format round trips. A test file imports the constant; it defines none.
// A comparison fails on any NaN/Inf mismatch and reports where and by how much.

import type { ConformanceOptions, Tolerance } from '../conformance/suite.ts';

// ---- against the official numbers (oracle) ----

/**
 * Logits of an fp32 implementation vs the official fp32 numbers (docs/fixtures.md "Tolerances").
 * Independent fp32 implementations agree to <= 4e-6; moving every weight by ±1 ulp moves the
 * logits by <= 5.4e-5. The project's contract is 1e-4 absolute.
 */
export const LOGITS_ORACLE_ATOL = 1e-4;

/** Final state vs the official numbers: abs diff <= 1e-3 · max(1, |ref|) (docs/fixtures.md "Tolerances"). */
export const STATE_ORACLE_ATOL = 1e-3;
export const STATE_ORACLE_RTOL = 1e-3;

/**
 * F16 GGUF file vs the fp32 oracle. Measured max abs 1.8e-6 over both prompts (RNN mode): every 2-D
 * weight is rounded to f16, but this model's FP32 weights are nearly f16-exact already (docs/fixtures.md:
 * its fp16 set's logits are within 4.8e-7 of rwkv.cpp's, as the fp32 set's are). Bound: the project's 1e-4.
 */
export const GGUF_F16_ATOL = 1e-4;
/**
 * Q8_0 GGUF file vs the fp32 oracle. Measured max abs 1.19e-2 (seq 1.11e-2) over both prompts: every
 * matrix but the decay LoRA is in 8-bit blocks (a relative step of up to 1/127 of each block's
 * largest weight). Bound 2.5e-2, about twice the measurement. Greedy tokens still match exactly.
 */
export const GGUF_Q8_0_ATOL = 2.5e-2;

/**
 * The lossy storages of the strategy strings against the fp32 model, as max|Δ| / std(ref) of the
 * last-token logits (the bounds docs/strategy.md states), from measurements on the fixture models
 * with a margin of about 2× (measured worst in brackets). Models whose weights are not already
 * exact in 16 bits (the v4 / v5 tiny models) show the rounding, the others are exact up to
 * summation order.
 *   bf16   2e-2 [9.3e-3]: 8 mantissa bits per weight
 *   fp16   5e-3 [1.8e-3]: 11 mantissa bits per weight
 *   int8   1.2e-1 [6.1e-2]: uint8 weights with per-row/column offset and scale (model.py
 *          L818-847), and int16 activations in the WASM int8 kernel (decode and prefill)
 */
export const STRATEGY_REL_ERROR_BOUNDS = { 'wasm bf16': 2e-2, 'wasm fp16': 5e-3, 'wasm fp32i8': 1.2e-1 } as const;

// ---- two of our own implementations ----

/**
 * Two of our own implementations (reference in f64, src in f32, GPT vs RNN vs chunks) on random
 * small models. Their differences are f32 rounding of different summation orders, amplified by
 * up to a few layers; random models with O(1) weights give logits of O(1–10).
 */
export const SELF_ATOL = 2e-4;
export const SELF_RTOL = 2e-4;

/** Paths that must be bit-identical in src (same kernels, same order). */
export const EXACT = 0;

/** GPT vs RNN mode on the ts backend, on the tiny fixture model: f32 roundings in a different order only. */
export const GPT_VS_RNN_ATOL = 1e-5;
/** The same, relative, for the states (they grow larger than the logits). */
export const GPT_VS_RNN_RTOL = 1e-5;

/**
 * Generation's states and logits along two paths on the ts backend (one call vs chunked prompts,
 * or generate vs forward of the same tokens): the same f32 ops grouped differently; the
 * project's fp32 logits bound (LOGITS_ORACLE_ATOL).
 */
export const GENERATE_PATHS_ATOL = 1e-4;

/** TS kernel vs reference on the same f32 inputs: f32 storage of outputs/state vs f64 throughout. */
export const KERNEL_ATOL = 1e-5;
export const KERNEL_RTOL = 1e-5;

/**
 * WASM fp32 vs TS fp32 on the same weights: both f32, different summation orders (SIMD lanes
 * vs sequential f64), so logits differ by f32 roundings only.
 */
export const WASM_VS_TS_ATOL = 1e-5;
/** States grow to |s| ≈ 50, where one f32 ulp is 3.8e-6: a few ulps relative on top of the atol. */
export const WASM_VS_TS_STATE_RTOL = 2e-6;

/**
 * A matrix product on two WASM builds that differ in SIMD variant (relaxed vs portable; the
 * same variant must agree bit for bit): relaxed SIMD may fuse multiply-adds, so sums round
 * differently; the project's fp32 logits bound.
 */
export const WASM_BUILDS_ATOL = 1e-4;

// ---- WASM kernels vs their TS twins (|wasm − twin| ≤ atol + rtol·|twin|, element-wise) ----

// Copies, negation, relu², add/sub/mul, groupScale: one f32 rounding in both (the twin's f64
// result of one +, −, × of two f32 rounds to the same f32), so bit-identical: EXACT.
/** lerp: the twin rounds once, the kernel three times (b − a, ·t, + a; or two with FMA) on
 * values ≤ 8 in magnitude here: 3 · ½ ulp(8) ≈ 1.4e-6. */
export const WASM_LERP_ATOL = 2e-6;
/** Sums in f32 with 4–8 partial sums (groupSum, rowVecMat) vs the twins' f64: each add rounds by
 * ≤ ½ ulp of a partial sum; ≤ 21 terms of |x| ≤ 3 here, so ≲ 21 · ½ ulp(64) ≈ 4e-5 in the worst
 * ordering and ≈ √21 · ½ ulp(8) ≈ 2e-6 for random signs. 1e-5 + 1e-5·|ref| sits between the two;
 * sweeps of 1000 runs with random seeds (FC_SEED=random FC_RUNS=1000) have not reached it. */
export const WASM_SUM_ATOL = 1e-5;
export const WASM_SUM_RTOL = 1e-5;
/** Normalised outputs (|out| ≲ √G here): the mean by the corrected two-pass method
 * (assembly/kernels/norm.ts), the variance from f32 sums (see WASM_SUM_*), then one 1/√. */
export const WASM_NORM_ATOL = 1e-5;
export const WASM_NORM_RTOL = 1e-5;
/** exp-based unary ops: the kernels' exp is ≈ 1.3 ulp (1.6e-7 relative, measured over
 * x ∈ [−87, −17]; assembly/kernels/simd.ts), composed with one or two roundings; tanh has its
 * worst relative error 5.8e-7 near |x| = 1/4. exp(−exp(x)) amplifies the inner exp's relative
 * error by e^x (4.6e-6 relative at x = 4.2, where the value is ~1e-30): atol covers that. */
export const WASM_EXP_ATOL = 1e-6;
export const WASM_EXP_RTOL = 2e-6;
/** WKV kernels, short sequences and T = 64: f32 state and sums vs the twins' f64 sums (their state
 * is f32 too). Worst seen at C = 768, T = 64: 0.42 of this bound (wkv5 with w up to 0.998, |out| up to
 * 28). At T = 512 that case reaches 2.5e-5 at |out| ≈ 50: f32 sums of large outputs, so longer
 * sequences with slowly decaying state would need a looser bound. */
export const WASM_WKV_ATOL = 1e-5;
export const WASM_WKV_RTOL = 1e-5;
/** WASM matrix products, relative to Σ|x·w| of the output: f32 accumulation of up to ~100 terms stays well inside. */
export const WASM_MATMUL_RTOL = 1e-5;

// ---- backends through the conformance suite (test/conformance), against the TS backend ----

/**
 * TS ops vs the f64 SpecBackend: TS accumulates in f64 and rounds once to f32 (the spec keeps
 * f64): a few f32 ulps, except the WKV states which the TS kernels round to f32 each step (wkv4, wkv7).
 */
export const TS_OPS: Tolerance = { atol: 1e-5, rtol: 1e-5 };

/**
 * Device (and WASM) ops vs TS ops: f32 sums in another order (TS sums in f64, then rounds) over
 * up to 130 terms of O(1) and f32 exp/tanh (a few ulps): ~1e-5 absolute on outputs of O(1–10).
 */
export const DEVICE_OPS: Tolerance = { atol: 3e-5, rtol: 3e-5 };

/** fp32 weights: the contract for a device backend is exact greedy tokens; logits as close as the ops allow over a few layers. */
export const DEVICE_FP32_LOGITS: Tolerance = { atol: 1e-4, rtol: 1e-4 };

/** fp16/bf16 weights (exact for 16-bit checkpoints, so only summation order differs): 1e-3. */
export const DEVICE_FP16_LOGITS: Tolerance = { atol: 1e-3, rtol: 0 };

/** A device backend's model runs (CUDA on a GPU or the emulated driver, WASM): fp32 and compact weights. */
export const DEVICE_MODEL_WEIGHTS: ConformanceOptions['models']['weights'] = [
  { weights: 'f32', logits: DEVICE_FP32_LOGITS, exactGreedy: true },
  { weights: 'compact', logits: DEVICE_FP16_LOGITS, exactGreedy: false },
];

// ---- file formats ----

/**
 * rwkv.cpp `.bin` tensors the reader reconstructs (the converter stored exp transforms of the
 * decays and bonuses; docs/fixtures.md "rwkv.cpp .bin files"): re-applying the converter's
 * transform to our values must give back the stored value to within 1.2e-7 absolute, the bound
 * stated for the .safetensors values. The stored values are at most ~1 in magnitude for the
 * decays (float32 ulp <= 1.2e-7) and the bonuses here.
 */
export const RWKVCPP_ROUNDTRIP_ATOL = 1.2e-7;
/**
 * Our values and the .safetensors values may differ by at most 1 float32 ulp: both are the
 * float64 inverse rounded once to float32, and the only room for a difference is a last-bit
 * difference between two libm `log`s in float64, which can move the float32 rounding by 1 ulp.
 * (Today they are bit-identical; 1 ulp is allowed so the test does not depend on libm.)
 */
export const RWKVCPP_RECONSTRUCTED_MAX_ULPS = 1;
/**
 * Hand-made rwkv.cpp records of O(1) values w written through the converter's transform, stored
 * as f32 and inverted by the reader: the f32 rounding of the stored value (6e-8 relative) comes
 * back through log as ~1e-7 for v4's −exp(w) and the bonus exp(u) (bound 1e-6); the double log of
 * v5's exp(−exp(w)) amplifies it by 1/|x·log x| (≈ 8.5 for w = −2 here; bound 1e-5).
 */
export const RWKVCPP_INVERTED_ATOL = 1e-6;
export const RWKVCPP_INVERTED_LOGLOG_ATOL = 1e-5;

/**
 * A model converted to 16-bit .safetensors (`rwkv convert --dtype`), logits vs the fp32 file's,
 * absolute: every weight rounded to f16 (11 mantissa bits) or bf16 (8). Loose bounds, not
 * measured: their job is to catch a wrong conversion (a transposed or mis-scaled tensor), which
 * moves the logits by O(1); the oracle tests bound the 16-bit sets tightly.
 */
export const CONVERT_F16_LOGITS_ATOL = 5e-2;
export const CONVERT_BF16_LOGITS_ATOL = 2e-1;

/**
 * The same weights stored as BF16 (.pth) and as FP16 (.safetensors), relative difference: bf16
 * keeps 8 significant bits (rounding ≤ 2^−8 relative), fp16 11 (≤ 2^−11), so together < 2^−7.
 * Relative to |fp16 value| + 1e-3, so that values near zero (where fp16 loses precision below
 * 6.1e-5 and a relative difference means little) count absolutely.
 */
export const BF16_VS_FP16_RTOL = 2 ** -7;
export const BF16_VS_FP16_FLOOR = 1e-3;

/**
 * A state stored as f16 (web-rwkv time_state files): rounding ≤ 2^−11 ≈ 4.9e-4 relative (bound
 * 1e-3), and for values below f16's normal range (6.1e-5) steps of 6e-8 absolute (bound 1e-6).
 */
export const F16_STATE_ATOL = 1e-6;
export const F16_STATE_RTOL = 1e-3;

// ---- decimal digits for toBeCloseTo (|a − b| < 10^−d / 2) ----

/**
 * f64 values computed along two routes (the sampler's softmax of log p vs p; a ratio of counts):
 * roundings of ~1e-16 relative, through an exp, a log and sums of a few terms: 12 digits.
 */
export const F64_DIGITS = 12;
/** A sum of 65536 f64 probabilities vs 1: 65536 roundings of ~1e-16 each, ≤ 1e-11: 9 digits. */
export const F64_SUM_DIGITS = 9;
/**
 * `rwkv perplexity`'s mean loss (chunks of 7 tokens, or one call per document) vs the same
 * computed here from one GPT-mode call: f32 logits from another grouping of the tokens differ by
 * f32 roundings (see GPT_VS_RNN_ATOL), so 4 digits (5e-5); the perplexity, exp of the loss and of
 * O(1–10), scales that difference by its own size: 3 digits.
 */
export const PERPLEXITY_LOSS_DIGITS = 4;
export const PERPLEXITY_DIGITS = 3;
/**
 * Only that an int8 product is this row's sum of dequantised weights (within 0.5), not another
 * row's or a rescaled one; the precise bound is the twin comparison beside it (WASM_MATMUL_RTOL).
 */
export const INT8_ROW_SUM_DIGITS = 0;

export interface CloseReport {
  ok: boolean;
  maxAbs: number;
  worstIndex: number;
  violations: number;
  message: string;
}

/** |a − b| <= atol + rtol·|b| for every element (b is the reference). */
export function compareClose(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0): CloseReport {
  if (actual.length !== expected.length) {
    return {
      ok: false,
      maxAbs: Infinity,
      worstIndex: -1,
      violations: -1,
      message: `${label}: length ${actual.length} != expected ${expected.length}`,
    };
  }
  let maxAbs = 0;
  let worst = -1;
  let violations = 0;
  let firstBad = -1;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const finiteA = Number.isFinite(a);
    const finiteE = Number.isFinite(e);
    let bad: boolean;
    let d: number;
    if (!finiteA || !finiteE) {
      bad = !(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)));
      d = bad ? Infinity : 0;
    } else {
      d = Math.abs(a - e);
      bad = d > atol + rtol * Math.abs(e);
    }
    if (d > maxAbs || worst < 0) {
      maxAbs = d;
      worst = i;
    }
    if (bad) {
      violations++;
      if (firstBad < 0) firstBad = i;
    }
  }
  const ok = violations === 0;
  const message = ok
    ? `${label}: ok (max abs ${maxAbs.toExponential(2)})`
    : `${label}: ${violations}/${actual.length} elements off (atol ${atol}, rtol ${rtol}); ` +
      `max abs ${maxAbs.toExponential(3)} at [${worst}] actual ${actual[worst]} expected ${expected[worst]}; ` +
      `first at [${firstBad}] actual ${actual[firstBad]} expected ${expected[firstBad]}`;
  return { ok, maxAbs, worstIndex: worst, violations, message };
}

/** Throws (a readable assertion failure) unless `actual` ≈ `expected`. */
export function expectClose(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0): number {
  const r = compareClose(label, actual, expected, atol, rtol);
  if (!r.ok) throw new Error(r.message);
  return r.maxAbs;
}

export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}
