// W stored as f32: out[T, O] = x[T, K] · W[O, K]ᵀ over rows [row0, row1) (see common.ts).
// Twin: matmul in src/backends/ts/kernels.ts.

import { dotF32, rows4AllTokens, tokenBlock } from './common';

export function matmulF32(out: usize, x: usize, W: usize, T: i32, K: i32, O: i32, row0: i32, row1: i32, scratch: usize): void {
  const tb = tokenBlock(K);
  for (let t0 = 0; t0 < T; t0 += tb) {
    const n = T - t0 < tb ? T - t0 : tb;
    f32Rows(out + ((<usize>t0 * O) << 2), x + ((<usize>t0 * K) << 2), W, n, K, O, row0, row1);
  }
}

/** matmulF32 for one token block. */
function f32Rows(out: usize, x: usize, W: usize, T: i32, K: i32, O: i32, row0: i32, row1: i32): void {
  const ws = <usize>K << 2;
  if (T == 1) {
    for (let o = row0; o < row1; o++) store<f32>(out + (<usize>o << 2), dotF32(x, W + <usize>o * ws, K));
    return;
  }
  let o = row0;
  for (; o + 4 <= row1; o += 4) rows4AllTokens(out, x, W + <usize>o * ws, ws, T, K, O, o);
  for (; o < row1; o++) {
    for (let t = 0; t < T; t++) {
      store<f32>(out + ((<usize>t * O + o) << 2), dotF32(x + <usize>t * ws, W + <usize>o * ws, K));
    }
  }
}
