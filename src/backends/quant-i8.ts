// The official package's int8 weight scheme (SPEC §2.1.5, "fp32i8"/"fp16i8"), shared by the TS
// and the WASM backends so both hold the very same bytes.
//
// Our W is [O, K] (PyTorch Linear [out, in]); the official code quantises its transpose
// [n_in = K, n_out = O]. Per input channel k ("row" there) an offset my[k] and scale ry[k], per
// output channel o ("column") an offset mx[o] and scale rx[o]:
//
//   K > O:  my = min_o W;  W −= my;  mx = min_k W;  W −= mx;  rx = max_k W;  W /= rx;  ry = max_o W;  W /= ry
//   else:   mx = min_k W;  W −= mx;  my = min_o W;  W −= my;  rx = max_k W;  W /= rx;  ry = max_o W;  W /= ry
//   q = clip(floor(W·256), 0, 255)  (uint8);  rx, ry are kept divided by 16
//
// and the dequantised weight is
//
//   W[o, k] ≈ (q[o, k] + 0.5)·rx[o]·ry[k] + mx[o] + my[k]
//
// Arithmetic is f32 (every step rounded), as the official code runs it on fp32 tensors. One
// guard the official code lacks: a scale of 0 (a row/column that is constant after the offsets)
// divides by 1 instead, so q stays 0 there rather than NaN.

import { RwkvError } from '../errors.ts';

export interface QuantI8 {
  readonly O: number;
  readonly K: number;
  /** q[o·K + k], uint8. */
  readonly q: Uint8Array;
  /** Per output channel offset [O]. */
  readonly mx: Float32Array;
  /** Per output channel scale / 16 [O]. */
  readonly rx: Float32Array;
  /** Per input channel offset [K]. */
  readonly my: Float32Array;
  /** Per input channel scale / 16 [K]. */
  readonly ry: Float32Array;
}

/** Quantise W [O, K] (row-major, not modified). */
export function quantizeI8(W: Float32Array, O: number, K: number, label = 'weight'): QuantI8 {
  if (W.length !== O * K || O < 1 || K < 1) {
    throw new RwkvError('SHAPE_MISMATCH', 'int8 quantisation needs a non-empty [O, K] matrix', {
      tensor: label, expected: `${O}·${K} values`, actual: `${W.length}`,
    });
  }
  const w = Float32Array.from(W);
  const mx = new Float32Array(O);
  const my = new Float32Array(K);
  const rx = new Float32Array(O);
  const ry = new Float32Array(K);
  // min over o for each k (official "rowmin" of the transpose), then subtract it
  const offsetK = () => {
    my.fill(Infinity);
    for (let o = 0; o < O; o++) for (let k = 0; k < K; k++) if (w[o * K + k]! < my[k]!) my[k] = w[o * K + k]!;
    for (let o = 0; o < O; o++) for (let k = 0; k < K; k++) w[o * K + k] = w[o * K + k]! - my[k]!;
  };
  // min over k for each o (official "colmin"), then subtract it
  const offsetO = () => {
    for (let o = 0; o < O; o++) {
      let m = Infinity;
      for (let k = 0; k < K; k++) m = Math.min(m, w[o * K + k]!);
      mx[o] = m;
      for (let k = 0; k < K; k++) w[o * K + k] = w[o * K + k]! - mx[o]!;
    }
  };
  if (K > O) {
    offsetK();
    offsetO();
  } else {
    offsetO();
    offsetK();
  }
  // rx = max over k for each o; W /= rx
  for (let o = 0; o < O; o++) {
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, w[o * K + k]!);
    rx[o] = m;
    const d = m === 0 ? 1 : rx[o]!;
    for (let k = 0; k < K; k++) w[o * K + k] = w[o * K + k]! / d;
  }
  // ry = max over o for each k; W /= ry
  ry.fill(-Infinity);
  for (let o = 0; o < O; o++) for (let k = 0; k < K; k++) if (w[o * K + k]! > ry[k]!) ry[k] = w[o * K + k]!;
  const q = new Uint8Array(O * K);
  for (let o = 0; o < O; o++) {
    for (let k = 0; k < K; k++) {
      const d = ry[k] === 0 ? 1 : ry[k]!;
      const v = Math.floor(Math.fround(Math.fround(w[o * K + k]! / d) * 256));
      q[o * K + k] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  for (let o = 0; o < O; o++) rx[o] = rx[o]! / 16;
  for (let k = 0; k < K; k++) ry[k] = ry[k]! / 16;
  return { O, K, q, mx, rx, my, ry };
}

/** W[o, k] = (q + 0.5)·rx[o]·ry[k] + mx[o] + my[k], as float32 [O, K]. */
export function dequantizeI8(m: QuantI8): Float32Array {
  const { O, K, q, mx, rx, my, ry } = m;
  const out = new Float32Array(O * K);
  for (let o = 0; o < O; o++) {
    for (let k = 0; k < K; k++) out[o * K + k] = (q[o * K + k]! + 0.5) * rx[o]! * ry[k]! + mx[o]! + my[k]!;
  }
  return out;
}

/**
 * Bytes of one int8 matrix in the WASM layout: mx [O], rx [O], my [K], ry [K] as f32, then
 * q [O, K] (see assembly/kernels/matmul.ts).
 */
export function i8Bytes(O: number, K: number): number {
  return 8 * O + 8 * K + O * K;
}
