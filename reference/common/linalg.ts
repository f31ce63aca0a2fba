// Plain-loop linear algebra for the reference, in f64 (JS numbers). Slow on purpose.
// Vectors are Float64Array; matrices are row-major with their shape (see types.ts Mat).

import type { Mat } from './types.ts';

/** y = W·x for a PyTorch Linear weight W[out, in] (what `x @ W.T` / `F.linear(x, W)` computes). */
export function linear(W: Mat, x: Float64Array): Float64Array {
  const y = new Float64Array(W.rows);
  for (let o = 0; o < W.rows; o++) {
    let s = 0;
    for (let i = 0; i < W.cols; i++) s += W.data[o * W.cols + i]! * x[i]!;
    y[o] = s;
  }
  return y;
}

/** y = x·M for M[in, out] (a matrix used as `x @ M`, e.g. the LoRA factors `w1`, `w2`). */
export function vecMat(x: Float64Array, M: Mat): Float64Array {
  const y = new Float64Array(M.cols);
  for (let i = 0; i < M.rows; i++) {
    const xi = x[i]!;
    for (let o = 0; o < M.cols; o++) y[o]! += xi * M.data[i * M.cols + o]!;
  }
  return y;
}

/** LayerNorm over the whole vector: (x − mean) / sqrt(var + eps) · weight + bias (biased var). */
export function layerNorm(x: Float64Array, weight: Float64Array, bias: Float64Array, eps: number): Float64Array {
  return groupNorm(x, weight, bias, x.length, eps);
}

/** GroupNorm: LayerNorm applied to each consecutive group of `groupSize` channels. */
export function groupNorm(x: Float64Array, weight: Float64Array, bias: Float64Array, groupSize: number, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let g = 0; g < x.length; g += groupSize) {
    let mean = 0;
    for (let i = 0; i < groupSize; i++) mean += x[g + i]!;
    mean /= groupSize;
    let variance = 0;
    for (let i = 0; i < groupSize; i++) variance += (x[g + i]! - mean) ** 2;
    variance /= groupSize;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let i = 0; i < groupSize; i++) y[g + i] = (x[g + i]! - mean) * inv * weight[g + i]! + bias[g + i]!;
  }
  return y;
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
export const silu = (x: number): number => x * sigmoid(x);
export const relu = (x: number): number => (x > 0 ? x : 0);

/** Elementwise map of one or more equal-length vectors. */
export function map(f: (...v: number[]) => number, ...xs: Float64Array[]): Float64Array {
  const n = xs[0]!.length;
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) y[i] = f(...xs.map((x) => x[i]!));
  return y;
}

export const add = (a: Float64Array, b: Float64Array) => map((x, y) => x + y, a, b);
export const mul = (a: Float64Array, b: Float64Array) => map((x, y) => x * y, a, b);
export const sub = (a: Float64Array, b: Float64Array) => map((x, y) => x - y, a, b);
