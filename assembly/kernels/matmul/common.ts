// Matrix products out[T, O] = x[T, K] · W[O, K]ᵀ for W stored as f32, bf16, f16 and int8, over
// an output row range [row0, row1) so threads split the rows. Twins: matmul, matmul16 and
// matmulI8x16 (int8, int16-quantised activations) in src/backends/ts/kernels.ts.
//
// Every kernel has the same signature (out, x, W, T, K, O, row0, row1, scratch): byte pointers
// into the shared memory, sizes in elements. `scratch` is this thread's own 4·K f32 (16 KiB for
// K 1024), used when T ≥ 2 to decode four 16-bit rows once and reuse them for every token.
//
// Decode (T = 1) streams each weight once, one row at a time (dotF32, dotB16): a thread's rows
// [row0, row1) are one contiguous block, read as a single sequential stream, 64 bytes of W per
// step into four accumulators; bf16 / f16 / int8 decode in registers (int8 reads two rows far
// apart at once, two sequential streams, see dot2U8x16). (Measured, one thread,
// 65536×768 f32 from DRAM: one stream reads as fast as a plain sum over the array; four row
// streams interleaved K·4 bytes apart got about half of that. A storage layout interleaving four
// rows in 16-element chunks, one stream again, measured the same as one row at a time.)
// Prefill (T ≥ 2) is blocked: four W rows (16·K bytes, L1-resident) against two tokens at a time,
// eight accumulators, so every loaded weight vector is used twice and every x vector four times;
// tokens go in blocks whose x rows fit in L2 (tokenBlock), all of the thread's rows per block.
// int8 prefill stays in integers: two rows against two tokens (dot2x2U8x16).
//
// Accumulation is f32 in four lanes (the twins accumulate in f64); the relaxed build uses
// f32x4.relaxed_madd, which may fuse (one rounding fewer). Every SIMD loop has a scalar tail.
//
// One file per storage (f32.ts, b16.ts for bf16 and f16, i8.ts); this one holds what they share:
// the SIMD helpers, the f32 row kernels (used by f32 and by the decoded 16-bit rows) and the
// prefill token block.

// ---- helpers ----

/** a·b + c: fused where the relaxed build and the CPU allow it. */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

// ---- f32 rows (shared by every storage once rows are f32: W itself, or a decoded scratch) ----

/**
 * Σ_k x[k]·w[k] over K f32: one row streamed alone, 16 floats (64 bytes, one cache line) per
 * step into four accumulators. Decode (T = 1) uses this row by row: a single sequential stream of
 * W per thread reads at the machine's full bandwidth, where four interleaved row streams (K·4
 * bytes apart) measured about half of it.
 */
export function dotF32(x: usize, w: usize, K: i32): f32 {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  let k = 0;
  for (; k + 16 <= K; k += 16) {
    const o = <usize>k << 2;
    a0 = madd(v128.load(x + o), v128.load(w + o), a0);
    a1 = madd(v128.load(x + o, 16), v128.load(w + o, 16), a1);
    a2 = madd(v128.load(x + o, 32), v128.load(w + o, 32), a2);
    a3 = madd(v128.load(x + o, 48), v128.load(w + o, 48), a3);
  }
  for (; k + 4 <= K; k += 4) {
    const o = <usize>k << 2;
    a0 = madd(v128.load(x + o), v128.load(w + o), a0);
  }
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; k < K; k++) s += load<f32>(x + (<usize>k << 2)) * load<f32>(w + (<usize>k << 2));
  return s;
}

/** out[0..4) = four rows w0..w3 (stride ws bytes) · one x. */
export function rows4x1F32(out: usize, x: usize, w: usize, ws: usize, K: i32): void {
  const w1 = w + ws;
  const w2 = w1 + ws;
  const w3 = w2 + ws;
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0);
  let b1 = f32x4.splat(0);
  let b2 = f32x4.splat(0);
  let b3 = f32x4.splat(0);
  let k = 0;
  for (; k + 8 <= K; k += 8) {
    const o = <usize>k << 2;
    const xa = v128.load(x + o);
    const xb = v128.load(x + o, 16);
    a0 = madd(xa, v128.load(w + o), a0);
    a1 = madd(xa, v128.load(w1 + o), a1);
    a2 = madd(xa, v128.load(w2 + o), a2);
    a3 = madd(xa, v128.load(w3 + o), a3);
    b0 = madd(xb, v128.load(w + o, 16), b0);
    b1 = madd(xb, v128.load(w1 + o, 16), b1);
    b2 = madd(xb, v128.load(w2 + o, 16), b2);
    b3 = madd(xb, v128.load(w3 + o, 16), b3);
  }
  for (; k + 4 <= K; k += 4) {
    const o = <usize>k << 2;
    const xa = v128.load(x + o);
    a0 = madd(xa, v128.load(w + o), a0);
    a1 = madd(xa, v128.load(w1 + o), a1);
    a2 = madd(xa, v128.load(w2 + o), a2);
    a3 = madd(xa, v128.load(w3 + o), a3);
  }
  let s0 = hsum(f32x4.add(a0, b0));
  let s1 = hsum(f32x4.add(a1, b1));
  let s2 = hsum(f32x4.add(a2, b2));
  let s3 = hsum(f32x4.add(a3, b3));
  for (; k < K; k++) {
    const o = <usize>k << 2;
    const xk = load<f32>(x + o);
    s0 += xk * load<f32>(w + o);
    s1 += xk * load<f32>(w1 + o);
    s2 += xk * load<f32>(w2 + o);
    s3 += xk * load<f32>(w3 + o);
  }
  store<f32>(out, s0);
  store<f32>(out, s1, 4);
  store<f32>(out, s2, 8);
  store<f32>(out, s3, 12);
}

/** Four rows (stride ws bytes) against two tokens: out0[0..4) for x0, out1[0..4) for x1. */
export function rows4x2F32(out0: usize, out1: usize, x0: usize, x1: usize, w: usize, ws: usize, K: i32): void {
  const w1 = w + ws;
  const w2 = w1 + ws;
  const w3 = w2 + ws;
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  let c0 = f32x4.splat(0);
  let c1 = f32x4.splat(0);
  let c2 = f32x4.splat(0);
  let c3 = f32x4.splat(0);
  let k = 0;
  for (; k + 4 <= K; k += 4) {
    const o = <usize>k << 2;
    const xa = v128.load(x0 + o);
    const xc = v128.load(x1 + o);
    const v0 = v128.load(w + o);
    const v1 = v128.load(w1 + o);
    const v2 = v128.load(w2 + o);
    const v3 = v128.load(w3 + o);
    a0 = madd(xa, v0, a0);
    c0 = madd(xc, v0, c0);
    a1 = madd(xa, v1, a1);
    c1 = madd(xc, v1, c1);
    a2 = madd(xa, v2, a2);
    c2 = madd(xc, v2, c2);
    a3 = madd(xa, v3, a3);
    c3 = madd(xc, v3, c3);
  }
  let s0 = hsum(a0);
  let s1 = hsum(a1);
  let s2 = hsum(a2);
  let s3 = hsum(a3);
  let t0 = hsum(c0);
  let t1 = hsum(c1);
  let t2 = hsum(c2);
  let t3 = hsum(c3);
  for (; k < K; k++) {
    const o = <usize>k << 2;
    const xa = load<f32>(x0 + o);
    const xc = load<f32>(x1 + o);
    const v0 = load<f32>(w + o);
    const v1 = load<f32>(w1 + o);
    const v2 = load<f32>(w2 + o);
    const v3 = load<f32>(w3 + o);
    s0 += xa * v0;
    s1 += xa * v1;
    s2 += xa * v2;
    s3 += xa * v3;
    t0 += xc * v0;
    t1 += xc * v1;
    t2 += xc * v2;
    t3 += xc * v3;
  }
  store<f32>(out0, s0);
  store<f32>(out0, s1, 4);
  store<f32>(out0, s2, 8);
  store<f32>(out0, s3, 12);
  store<f32>(out1, t0);
  store<f32>(out1, t1, 4);
  store<f32>(out1, t2, 8);
  store<f32>(out1, t3, 12);
}

/** Four f32 rows at w (stride ws) against every token: out[t, o..o+4). */
export function rows4AllTokens(out: usize, x: usize, w: usize, ws: usize, T: i32, K: i32, O: i32, o: i32): void {
  const xs = <usize>K << 2;
  const os = <usize>O << 2;
  const oo = out + (<usize>o << 2);
  let t = 0;
  for (; t + 2 <= T; t += 2) {
    rows4x2F32(oo + <usize>t * os, oo + <usize>(t + 1) * os, x + <usize>t * xs, x + <usize>(t + 1) * xs, w, ws, K);
  }
  if (t < T) rows4x1F32(oo + <usize>t * os, x + <usize>t * xs, w, ws, K);
}

/**
 * Tokens per block of a prefill: the block's x rows (≤ 128 KiB) stay in L2 while the thread's
 * W rows stream past them once per block (W itself mostly stays in L3 between blocks).
 */
export function tokenBlock(K: i32): i32 {
  const tb = (131072 / (K << 2)) & ~1;
  return tb < 2 ? 2 : tb;
}
