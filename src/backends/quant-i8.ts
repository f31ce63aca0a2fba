// The official package's int8 weight scheme ("fp32i8"/"fp16i8": rwkv pip model.py L818-847,
// dequantised by `torch_mm8_seq/one` L91-97), shared by the TS
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
  checkMatrix(W.length, O, K, label);
  const m = {
    O,
    K,
    q: new Uint8Array(O * K),
    mx: new Float32Array(O),
    rx: new Float32Array(O),
    my: new Float32Array(K),
    ry: new Float32Array(K),
  };
  quantizeI8Into(W, m, label);
  return m;
}

/**
 * Quantise W [O, K] into `out` (its q, mx, rx, my, ry of lengths O·K, O, O, K, K), without a
 * copy of W: each step's value is recomputed from W, rounded to f32 as the in-place scheme
 * rounds it (so the results are those of the step-by-step scheme above, bit for bit). W is only
 * read, and its last pass reads W[i] before writing q[i], in increasing i: q may share W's
 * bytes (starting at W's first byte), so a matrix decoded in place is quantised in place.
 */
export function quantizeI8Into(W: Float32Array, out: QuantI8, label = 'weight'): void {
  const { O, K, q, mx, rx, my, ry } = out;
  checkMatrix(W.length, O, K, label);
  if (q.length !== O * K || mx.length !== O || rx.length !== O || my.length !== K || ry.length !== K) {
    throw new RwkvError('SHAPE_MISMATCH', 'int8 quantisation output has the wrong sizes', {
      tensor: label,
      expected: `q ${O * K}, mx/rx ${O}, my/ry ${K}`,
      actual: `q ${q.length}, mx ${mx.length}, rx ${rx.length}, my ${my.length}, ry ${ry.length}`,
    });
  }
  const f = Math.fround;
  const kFirst = K > O;
  // min over o for each k (official "rowmin" of the transpose) of the values it is taken of
  my.fill(Infinity);
  if (kFirst) {
    for (let o = 0; o < O; o++) for (let k = 0; k < K; k++) if (W[o * K + k]! < my[k]!) my[k] = W[o * K + k]!;
  }
  // min over k for each o (official "colmin")
  for (let o = 0; o < O; o++) {
    let m = Infinity;
    if (kFirst) for (let k = 0; k < K; k++) m = Math.min(m, f(W[o * K + k]! - my[k]!));
    else for (let k = 0; k < K; k++) m = Math.min(m, W[o * K + k]!);
    mx[o] = m;
  }
  if (!kFirst) {
    for (let o = 0; o < O; o++) {
      for (let k = 0; k < K; k++) {
        const w = f(W[o * K + k]! - mx[o]!);
        if (w < my[k]!) my[k] = w;
      }
    }
  }
  // W after both offsets
  const shifted = kFirst
    ? (o: number, k: number) => f(f(W[o * K + k]! - my[k]!) - mx[o]!)
    : (o: number, k: number) => f(f(W[o * K + k]! - mx[o]!) - my[k]!);
  // rx = max over k for each o; W /= rx
  for (let o = 0; o < O; o++) {
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, shifted(o, k));
    rx[o] = m;
  }
  // ry = max over o for each k (of W / rx); W /= ry
  ry.fill(-Infinity);
  for (let o = 0; o < O; o++) {
    const d = rx[o] === 0 ? 1 : rx[o]!;
    for (let k = 0; k < K; k++) {
      const w = f(shifted(o, k) / d);
      if (w > ry[k]!) ry[k] = w;
    }
  }
  for (let o = 0; o < O; o++) {
    const d = rx[o] === 0 ? 1 : rx[o]!;
    for (let k = 0; k < K; k++) {
      const dk = ry[k] === 0 ? 1 : ry[k]!;
      const v = Math.floor(f(f(f(shifted(o, k) / d) / dk) * 256)); // reads W[o·K + k], then writes q there
      q[o * K + k] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  for (let o = 0; o < O; o++) rx[o] = rx[o]! / 16;
  for (let k = 0; k < K; k++) ry[k] = ry[k]! / 16;
}

function checkMatrix(length: number, O: number, K: number, label: string): void {
  if (length !== O * K || O < 1 || K < 1) {
    throw new RwkvError('SHAPE_MISMATCH', 'int8 quantisation needs a non-empty [O, K] matrix', {
      tensor: label,
      expected: `${O}·${K} values`,
      actual: `${length}`,
    });
  }
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
 * q [O, K] (see assembly/kernels/matmul/i8.ts).
 */
export function i8Bytes(O: number, K: number): number {
  return 8 * O + 8 * K + O * K;
}
