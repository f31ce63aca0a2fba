// Each TS backend kernel (src/backends/ts/kernels.ts, the scalar twins the WASM kernels will be
// diffed against) ≡ its spec-form sibling in reference/ on random shapes including odd sizes,
// plus closed-form identities of the WKV recurrences.

import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import { groupNorm, linear } from '../../reference/common/linalg.ts';
import * as ref4 from '../../reference/v4/wkv.ts';
import * as ref5 from '../../reference/v5/wkv.ts';
import * as ref6 from '../../reference/v6/wkv.ts';
import * as ref7 from '../../reference/v7/wkv.ts';
import * as K from '../../src/backends/ts/kernels.ts';
import { V4_PP_INIT } from '../../src/constants.ts';
import { uniform } from '../helpers/random-model.ts';
import { KERNEL_ATOL, KERNEL_RTOL, SELF_ATOL, SELF_RTOL, expectClose } from '../helpers/tolerance.ts';

const dims = fc.record({
  T: fc.integer({ min: 1, max: 9 }),
  H: fc.integer({ min: 1, max: 3 }),
  N: fc.constantFrom(1, 3, 4, 5, 8, 16),
  seed: fc.integer(),
});

const rand = uniform;
function f32(n: number, r: (lo: number, hi: number) => number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, () => r(lo, hi));
}
const rows = (x: Float32Array, T: number): Float64Array[] => {
  const C = x.length / T;
  return Array.from({ length: T }, (_, t) => Float64Array.from(x.subarray(t * C, (t + 1) * C)));
};
const flat = (xs: ArrayLike<number>[]) => xs.flatMap((x) => Array.from(x));

describe('ts kernels ≡ reference', () => {
  test.prop([dims, fc.integer({ min: 1, max: 13 })])('matmul ≡ reference linear, row by row', ({ T, H, N, seed }, O) => {
    const r = rand(seed);
    const Kd = H * N;
    const x = f32(T * Kd, r);
    const W = f32(O * Kd, r);
    const out = new Float32Array(T * O);
    K.matmul(out, x, W, T, Kd, O);
    const mat = { rows: O, cols: Kd, data: Float64Array.from(W) };
    expectClose('matmul', out, flat(rows(x, T).map((row) => linear(mat, row))), KERNEL_ATOL, KERNEL_RTOL);
  });

  test.prop([dims])('layerNorm (group size N) ≡ reference groupNorm', ({ T, H, N, seed }) => {
    const r = rand(seed);
    const C = H * N;
    const x = f32(T * C, r, -3, 3);
    const w = f32(C, r);
    const b = f32(C, r);
    const out = new Float32Array(T * C);
    K.layerNorm(out, x, w, b, T, C, N, 64e-5);
    const want = rows(x, T).map((row) => groupNorm(row, Float64Array.from(w), Float64Array.from(b), N, 64e-5));
    expectClose('groupNorm', out, flat(want), KERNEL_ATOL, KERNEL_RTOL);
  });

  test.prop([dims])('wkv4 ≡ reference v4 wkvSequence (state aa, bb, pp)', ({ T, H, N, seed }) => {
    const r = rand(seed);
    const C = H * N;
    const k = f32(T * C, r, -3, 3);
    const v = f32(T * C, r);
    const w = f32(C, r, -3, -0.01);
    const u = f32(C, r);
    const aa = new Float32Array(C);
    const bb = new Float32Array(C);
    const pp = new Float32Array(C).fill(V4_PP_INIT);
    const out = new Float32Array(T * C);
    K.wkv4(out, aa, bb, pp, w, u, k, v, T, C);
    const s = { aa: new Float64Array(C), bb: new Float64Array(C), pp: new Float64Array(C).fill(V4_PP_INIT) };
    const want = ref4.wkvSequence(s, Float64Array.from(w), Float64Array.from(u), rows(k, T), rows(v, T));
    expectClose('wkv4 out', out, flat(want), KERNEL_ATOL, KERNEL_RTOL);
    // aa, bb are scaled by e^−pp: compare the unscaled numerator and denominator
    const num = Array.from(aa, (a, c) => a * Math.exp(pp[c]!));
    const den = Array.from(bb, (b, c) => b * Math.exp(pp[c]!));
    expectClose(
      'wkv4 aa·e^pp',
      num,
      Array.from(s.aa, (a, c) => a * Math.exp(s.pp[c]!)),
      KERNEL_ATOL,
      1e-4,
    );
    expectClose(
      'wkv4 bb·e^pp',
      den,
      Array.from(s.bb, (b, c) => b * Math.exp(s.pp[c]!)),
      KERNEL_ATOL,
      1e-4,
    );
  });

  test.prop([dims, fc.boolean()])('wkv5 ≡ reference v5 (constant w) and v6 (per-token w)', ({ T, H, N, seed }, perToken) => {
    const r = rand(seed);
    const C = H * N;
    const [rr, k, v] = [f32(T * C, r), f32(T * C, r), f32(T * C, r)];
    const w = f32(perToken ? T * C : C, r, 0.05, 0.999);
    const u = f32(C, r);
    const S0 = f32(H * N * N, r, -2, 2);
    const S = Float32Array.from(S0);
    const out = new Float32Array(T * C);
    K.wkv5(out, S, rr, k, v, w, u, T, H, N, perToken);
    const refS = Array.from({ length: H }, (_, h) =>
      Array.from({ length: N }, (_, i) => Float64Array.from(S0.subarray((h * N + i) * N, (h * N + i + 1) * N))),
    );
    const want = perToken
      ? ref6.wkvSequence(refS, rows(rr, T), rows(k, T), rows(v, T), rows(w, T), Float64Array.from(u))
      : ref5.wkvSequence(refS, rows(rr, T), rows(k, T), rows(v, T), Float64Array.from(w), Float64Array.from(u));
    expectClose('wkv5 out', out, flat(want), KERNEL_ATOL, KERNEL_RTOL);
    expectClose('wkv5 state', S, flat(refS.flat()), KERNEL_ATOL, KERNEL_RTOL);
  });

  test.prop([dims])('wkv7 ≡ reference v7 wkvSequence', ({ T, H, N, seed }) => {
    const r = rand(seed);
    const C = H * N;
    const [rr, k, v, a, b] = [f32(T * C, r), f32(T * C, r), f32(T * C, r), f32(T * C, r, -0.5, 0.5), f32(T * C, r, -0.5, 0.5)];
    const w = f32(T * C, r, 0.55, 0.999);
    const S0 = f32(H * N * N, r, -2, 2);
    const S = Float32Array.from(S0);
    const out = new Float32Array(T * C);
    K.wkv7(out, S, rr, w, k, v, a, b, T, H, N);
    const refS = Array.from({ length: H }, (_, h) =>
      Array.from({ length: N }, (_, i) => Float64Array.from(S0.subarray((h * N + i) * N, (h * N + i + 1) * N))),
    );
    const want = ref7.wkvSequence(refS, rows(rr, T), rows(w, T), rows(k, T), rows(v, T), rows(a, T), rows(b, T));
    expectClose('wkv7 out', out, flat(want), KERNEL_ATOL, KERNEL_RTOL);
    expectClose('wkv7 state', S, flat(refS.flat()), KERNEL_ATOL, KERNEL_RTOL);
  });
});

describe('WKV identities (closed forms)', () => {
  test.prop([dims])('wkv7 with a = b = 0, w = 1 from S = 0 accumulates S = Σ_t v_t k_tᵀ', ({ T, H, N, seed }) => {
    const r = rand(seed);
    const C = H * N;
    const [rr, k, v] = [f32(T * C, r), f32(T * C, r), f32(T * C, r)];
    const zero = new Float32Array(T * C);
    const one = new Float32Array(T * C).fill(1);
    const S = new Float32Array(H * N * N);
    K.wkv7(new Float32Array(T * C), S, rr, one, k, v, zero, zero, T, H, N);
    const want = new Float64Array(H * N * N);
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++)
        for (let i = 0; i < N; i++)
          for (let j = 0; j < N; j++) {
            want[(h * N + i) * N + j]! += v[t * C + h * N + i]! * k[t * C + h * N + j]!;
          }
    expectClose('Σ v kᵀ', S, want, KERNEL_ATOL, KERNEL_RTOL);
  });

  test.prop([dims])('wkv7 with k = v = a = b = 0 decays S by Π_t w_t per key column; y is linear in r', ({ T, H, N, seed }) => {
    const r = rand(seed);
    const C = H * N;
    const zero = new Float32Array(T * C);
    const w = f32(T * C, r, 0.5, 1);
    const S0 = f32(H * N * N, r, -2, 2);
    const S = Float32Array.from(S0);
    const r1 = f32(T * C, r);
    const y1 = new Float32Array(T * C);
    K.wkv7(y1, S, r1, w, zero, zero, zero, zero, T, H, N);
    const want = Float64Array.from(S0);
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++)
        for (let i = 0; i < N; i++)
          for (let j = 0; j < N; j++) {
            want[(h * N + i) * N + j]! *= w[t * C + h * N + j]!;
          }
    expectClose('Π w decay', S, want, KERNEL_ATOL, KERNEL_RTOL);
    // linearity in r: y(2r) = 2·y(r) on the same state path
    const S2 = Float32Array.from(S0);
    const y2 = new Float32Array(T * C);
    K.wkv7(
      y2,
      S2,
      Float32Array.from(r1, (x) => 2 * x),
      w,
      zero,
      zero,
      zero,
      zero,
      T,
      H,
      N,
    );
    expectClose(
      'linear in r',
      y2,
      Array.from(y1, (x) => 2 * x),
      SELF_ATOL,
      SELF_RTOL,
    );
  });

  test.prop([dims])('wkv5 with k = 0 decays S by w and reads out r·S', ({ T, H, N, seed }) => {
    const r = rand(seed);
    const C = H * N;
    const w = f32(C, r, 0.1, 1);
    const u = f32(C, r);
    const rr = f32(T * C, r);
    const S0 = f32(H * N * N, r, -2, 2);
    const S = Float32Array.from(S0);
    const out = new Float32Array(T * C);
    K.wkv5(out, S, rr, new Float32Array(T * C), f32(T * C, r), w, u, T, H, N, false);
    const want = Float64Array.from(S0, (s, idx) => s * w[Math.floor(idx / N) % (H * N)]! ** T);
    expectClose('w^T decay', S, want, KERNEL_ATOL, KERNEL_RTOL);
  });

  test('wkv4 of one token from a fresh state is exactly v (the softmax over one item)', () => {
    const C = 5;
    const v = Float32Array.from([0.5, -1, 2, 3.25, -0.125]);
    const out = new Float32Array(C);
    K.wkv4(
      out,
      new Float32Array(C),
      new Float32Array(C),
      new Float32Array(C).fill(V4_PP_INIT),
      new Float32Array(C).fill(-1),
      new Float32Array(C),
      Float32Array.from([9, -9, 0, 1, 2]),
      v,
      1,
      C,
    );
    expect(Array.from(out)).toEqual(Array.from(v));
  });
});
