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

// ---- helpers ----

/** a·b + c: fused where the relaxed build and the CPU allow it. */
// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** bf16 → f32 is the 16 bits moved to the top: lanes 0–3 (lo) and 4–7 (hi) of eight bf16. */
// @ts-ignore: decorator
@inline function bf16lo(v: v128): v128 {
  return i32x4.shl(i32x4.extend_low_i16x8_u(v), 16);
}
// @ts-ignore: decorator
@inline function bf16hi(v: v128): v128 {
  return i32x4.shl(i32x4.extend_high_i16x8_u(v), 16);
}
/** The even (0, 2, 4, 6) and odd (1, 3, 5, 7) bf16 of eight, as f32: one op each. */
// @ts-ignore: decorator
@inline function bf16even(v: v128): v128 {
  return i32x4.shl(v, 16);
}
// @ts-ignore: decorator
@inline function bf16odd(v: v128): v128 {
  return v128.and(v, i32x4.splat(0xffff0000));
}

/**
 * f16 → f32 for finite halves (the backend stores a matrix holding an f16 inf or NaN as f32
 * instead): with the half's sign at bit 31 and its exponent and mantissa moved to bits 27..13 —
 * an arithmetic shift right by 3 of the half in the top 16 bits, masked — the f32 is the value
 * · 2^−112, for normal and subnormal halves alike; one multiply by 2^112 gives the value.
 */
// @ts-ignore: decorator
@inline function f16top(top: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shr_s(top, 3), i32x4.splat(0x8fffe000)), f32x4.splat(5.192296858534828e33));
}
/** Four halves sign-extended to i32 lanes (i32x4.extend_*_i16x8_s). */
// @ts-ignore: decorator
@inline function f16x4(h: v128): v128 {
  return f16top(i32x4.shl(h, 16));
}
/** The even (0, 2, 4, 6) and odd (1, 3, 5, 7) halves of eight, as f32. */
// @ts-ignore: decorator
@inline function f16even(v: v128): v128 {
  return f16top(i32x4.shl(v, 16));
}
// @ts-ignore: decorator
@inline function f16odd(v: v128): v128 {
  return f16top(v);
}

// @ts-ignore: decorator
@inline function halfToF32(h: u32): f32 {
  return f32x4.extract_lane(f16top(i32x4.splat(<i32>(h << 16))), 0);
}

// ---- f32 rows (shared by every storage once rows are f32: W itself, or a decoded scratch) ----

/**
 * Σ_k x[k]·w[k] over K f32: one row streamed alone, 16 floats (64 bytes, one cache line) per
 * step into four accumulators. Decode (T = 1) uses this row by row: a single sequential stream of
 * W per thread reads at the machine's full bandwidth, where four interleaved row streams (K·4
 * bytes apart) measured about half of it.
 */
function dotF32(x: usize, w: usize, K: i32): f32 {
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
function rows4x1F32(out: usize, x: usize, w: usize, ws: usize, K: i32): void {
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
function rows4x2F32(out0: usize, out1: usize, x0: usize, x1: usize, w: usize, ws: usize, K: i32): void {
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
function rows4AllTokens(out: usize, x: usize, w: usize, ws: usize, T: i32, K: i32, O: i32, o: i32): void {
  const xs = <usize>K << 2;
  const os = <usize>O << 2;
  const oo = out + (<usize>o << 2);
  let t = 0;
  for (; t + 2 <= T; t += 2) {
    rows4x2F32(oo + <usize>t * os, oo + <usize>(t + 1) * os, x + <usize>t * xs, x + <usize>(t + 1) * xs, w, ws, K);
  }
  if (t < T) rows4x1F32(oo + <usize>t * os, x + <usize>t * xs, w, ws, K);
}

// ---- f32 ----

/**
 * Tokens per block of a prefill: the block's x rows (≤ 128 KiB) stay in L2 while the thread's
 * W rows stream past them once per block (W itself mostly stays in L3 between blocks).
 */
function tokenBlock(K: i32): i32 {
  const tb = (131072 / (K << 2)) & ~1;
  return tb < 2 ? 2 : tb;
}

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

// ---- 16-bit rows: decode into the scratch for T ≥ 2, decode in registers for T = 1 ----

/** Decode `n` rows of 16-bit values (bf16 when `bf`, else f16) into f32 at dst. */
function decode16Rows(dst: usize, src: usize, K: i32, n: i32, bf: bool): void {
  const total = K * n;
  let k = 0;
  for (; k + 8 <= total; k += 8) {
    const v = v128.load(src + (<usize>k << 1));
    const d = dst + (<usize>k << 2);
    if (bf) {
      v128.store(d, bf16lo(v));
      v128.store(d, bf16hi(v), 16);
    } else {
      v128.store(d, f16x4(i32x4.extend_low_i16x8_s(v)));
      v128.store(d, f16x4(i32x4.extend_high_i16x8_s(v)), 16);
    }
  }
  for (; k < total; k++) {
    const h = <u32>load<u16>(src + (<usize>k << 1));
    store<f32>(dst + (<usize>k << 2), bf ? reinterpret<f32>(h << 16) : halfToF32(h));
  }
}

/**
 * x in the order dotB16 reads it: within each full block of 8, the even elements then the odd
 * ones (0 2 4 6 1 3 5 7), matching the even and odd values of 16 bytes of 16-bit weights; the
 * tail (K mod 8) keeps its order. Done once per call into the thread's scratch, so the row loop
 * has no shuffles.
 */
function splitEvenOdd(dst: usize, x: usize, K: i32): void {
  let k = 0;
  for (; k + 8 <= K; k += 8) {
    const o = <usize>k << 2;
    const xa = v128.load(x + o);
    const xb = v128.load(x + o, 16);
    v128.store(dst + o, i32x4.shuffle(xa, xb, 0, 2, 4, 6));
    v128.store(dst + o, i32x4.shuffle(xa, xb, 1, 3, 5, 7), 16);
  }
  for (; k < K; k++) store<f32>(dst + (<usize>k << 2), load<f32>(x + (<usize>k << 2)));
}

/**
 * Σ_k x[k]·w[k] over one row of K 16-bit values (bf16 when `bf`, else f16), decoded in registers,
 * with x in splitEvenOdd's order: the row streamed alone (see dotF32), 16 values (32 bytes) per
 * step (32 per step into eight accumulators measured slower). Each 16 bytes hold eight values;
 * their even and odd ones decode in one op each for bf16 (bf16even/odd), three for f16
 * (f16even/odd). Inlined into dotBf16 and dotF16, so `bf` is a constant and the loop has no
 * branch (with the branch inside, bf16 ran ~30% slower from L3).
 */
// @ts-ignore: decorator
@inline function dotB16(x: usize, w: usize, K: i32, bf: bool): f32 {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  let k = 0;
  for (; k + 16 <= K; k += 16) {
    const xo = x + (<usize>k << 2);
    const wo = w + (<usize>k << 1);
    const v0 = v128.load(wo);
    const v1 = v128.load(wo, 16);
    if (bf) {
      a0 = madd(v128.load(xo), bf16even(v0), a0);
      a1 = madd(v128.load(xo, 16), bf16odd(v0), a1);
      a2 = madd(v128.load(xo, 32), bf16even(v1), a2);
      a3 = madd(v128.load(xo, 48), bf16odd(v1), a3);
    } else {
      a0 = madd(v128.load(xo), f16even(v0), a0);
      a1 = madd(v128.load(xo, 16), f16odd(v0), a1);
      a2 = madd(v128.load(xo, 32), f16even(v1), a2);
      a3 = madd(v128.load(xo, 48), f16odd(v1), a3);
    }
  }
  for (; k + 8 <= K; k += 8) {
    const xo = x + (<usize>k << 2);
    const v0 = v128.load(w + (<usize>k << 1));
    if (bf) {
      a0 = madd(v128.load(xo), bf16even(v0), a0);
      a1 = madd(v128.load(xo, 16), bf16odd(v0), a1);
    } else {
      a0 = madd(v128.load(xo), f16even(v0), a0);
      a1 = madd(v128.load(xo, 16), f16odd(v0), a1);
    }
  }
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; k < K; k++) {
    const h = <u32>load<u16>(w + (<usize>k << 1));
    s += load<f32>(x + (<usize>k << 2)) * (bf ? reinterpret<f32>(h << 16) : halfToF32(h));
  }
  return s;
}

function dotBf16(x: usize, w: usize, K: i32): f32 {
  return dotB16(x, w, K, true);
}
function dotF16(x: usize, w: usize, K: i32): f32 {
  return dotB16(x, w, K, false);
}

function matmul16(out: usize, x: usize, W: usize, T: i32, K: i32, O: i32, row0: i32, row1: i32, scratch: usize, bf: bool): void {
  const tb = tokenBlock(K);
  for (let t0 = 0; t0 < T; t0 += tb) {
    const n = T - t0 < tb ? T - t0 : tb;
    b16Rows(out + ((<usize>t0 * O) << 2), x + ((<usize>t0 * K) << 2), W, n, K, O, row0, row1, scratch, bf);
  }
}

/** matmul16 for one token block. */
function b16Rows(out: usize, x: usize, W: usize, T: i32, K: i32, O: i32, row0: i32, row1: i32, scratch: usize, bf: bool): void {
  const ws = <usize>K << 1;
  const fs = <usize>K << 2;
  if (T == 1) {
    splitEvenOdd(scratch, x, K);
    for (let o = row0; o < row1; o++) store<f32>(out + (<usize>o << 2), (bf ? dotBf16(scratch, W + <usize>o * ws, K) : dotF16(scratch, W + <usize>o * ws, K)));
    return;
  }
  let o = row0;
  for (; o + 4 <= row1; o += 4) {
    decode16Rows(scratch, W + <usize>o * ws, K, 4, bf);
    rows4AllTokens(out, x, scratch, fs, T, K, O, o);
  }
  for (; o < row1; o++) {
    decode16Rows(scratch, W + <usize>o * ws, K, 1, bf);
    for (let t = 0; t < T; t++) store<f32>(out + ((<usize>t * O + o) << 2), dotF32(x + <usize>t * fs, scratch, K));
  }
}

export function matmulBf16(out: usize, x: usize, W: usize, T: i32, K: i32, O: i32, row0: i32, row1: i32, scratch: usize): void {
  matmul16(out, x, W, T, K, O, row0, row1, scratch, true);
}

export function matmulF16(out: usize, x: usize, W: usize, T: i32, K: i32, O: i32, row0: i32, row1: i32, scratch: usize): void {
  matmul16(out, x, W, T, K, O, row0, row1, scratch, false);
}

// ---- int8 (SPEC §2.1.5) ----
//
// W[o, k] ≈ (q[o, k] + 0.5)·rx[o]·ry[k] + mx[o] + my[k]   (rx, ry stored already divided by 16)
// so   y[t, o] = rx[o]·(Σ_k xr[t, k]·q[o, k] + ½·Σ_k xr[t, k]) + Σ_k x[t, k]·my[k] + mx[o]·Σ_k x[t, k]
// with xr[t, k] = x[t, k]·ry[k]. matmulI8Prep computes xr and the three per-token sums once; the
// row kernel is then a dot of xr with the uint8 row, plus that epilogue.
//
// xr is quantised to int16 per token, x16[k] = nearest(xr[k]·32767/m) with m = max_k |xr[k]|,
// so Σ_k xr·q ≈ s·Σ_k x16·q (s = m/32767) runs as integer dots (i32x4.dot_i16x8_s: eight
// u8·i16 products per op, no float conversion of the weights). Decode with f32 xr was
// compute-bound at about a third of the memory bandwidth; prefill with f32 xr (rows decoded to
// f32, then the f32 blocked kernel) ran at the fp32 speed, the integer blocks about 1.5× that.
// The added error is at most s/2 per xr element, ~1/65534 of the largest |xr|, far below the
// uint8 weights' own rounding (1/512 of a row's range). Decode (T = 1) and prefill (T ≥ 2) give
// bit-identical rows for a token: the same integer sums, converted to f32 at the same points.
// Twin: matmulI8x16 in src/backends/ts/kernels.ts.
//
// One allocation holds the matrix: mx [O] f32, rx [O] f32, my [K] f32, ry [K] f32, q [O, K] u8.
// For matmulI8, `x` points at the prep output (matmulI8PrepBytes): sums [T, 4] f32 (½Σxr,
// Σx·my, Σx, s), then x16 [T, K] i16.

/** Per-token floats of the prep's sums: ½Σxr, Σx·my, Σx, and x16's scale s. */
const SUMS = 4;

/** Bytes of matmulI8Prep's output for T tokens of K. */
export function matmulI8PrepBytes(T: i32, K: i32): i32 {
  return T * SUMS * 4 + T * K * 2;
}

/**
 * sums[t] = (½·Σ xr, Σ x·my, Σ x, s) and x16[t, k] = nearest(xr·32767/m), xr[t, k] = x[t, k]·ry[k],
 * m = max_k |xr[t, k]|, s = m/32767 (x16 = 0, s = 0 when m = 0). W is the int8 matrix block.
 * x16 holds each full block of 16 as its even elements, then its odd ones (the order of the
 * dots' byte split); the tail (K mod 16) keeps its order.
 */
export function matmulI8Prep(prep: usize, x: usize, W: usize, T: i32, K: i32, O: i32): void {
  const my = W + (<usize>O << 3);
  const ry = my + (<usize>K << 2);
  const sums = prep;
  const x16 = sums + <usize>(T * SUMS * 4);
  for (let t = 0; t < T; t++) {
    const xt = x + ((<usize>t * K) << 2);
    let half = f32x4.splat(0);
    let xm = f32x4.splat(0);
    let xs = f32x4.splat(0);
    let mv = f32x4.splat(0);
    let k = 0;
    for (; k + 4 <= K; k += 4) {
      const o = <usize>k << 2;
      const xv = v128.load(xt + o);
      const r = f32x4.mul(xv, v128.load(ry + o));
      half = f32x4.add(half, r);
      xm = madd(xv, v128.load(my + o), xm);
      xs = f32x4.add(xs, xv);
      mv = f32x4.max(mv, f32x4.abs(r));
    }
    let m = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    for (let j = k; j < K; j++) m = max(m, abs(load<f32>(xt + (<usize>j << 2)) * load<f32>(ry + (<usize>j << 2))));
    // x16 in natural order, from xr recomputed (the same f32 products)
    const inv: f32 = m > 0 ? <f32>32767 / m : 0;
    const q16 = x16 + ((<usize>t * K) << 1);
    const iv = f32x4.splat(inv);
    let j = 0;
    for (; j + 8 <= K; j += 8) {
      const o = <usize>j << 2;
      const lo = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(f32x4.mul(v128.load(xt + o), v128.load(ry + o)), iv)));
      const hi = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(f32x4.mul(v128.load(xt + o, 16), v128.load(ry + o, 16)), iv)));
      v128.store(q16 + (<usize>j << 1), i16x8.narrow_i32x4_s(lo, hi));
    }
    for (; j < K; j++) {
      const r = load<f32>(xt + (<usize>j << 2)) * load<f32>(ry + (<usize>j << 2));
      store<i16>(q16 + (<usize>j << 1), <i16><i32>nearest<f32>(r * inv));
    }
    // full blocks of 16: the 8 even elements, then the 8 odd ones (see dotU8x16)
    for (let b = 0; b + 16 <= K; b += 16) {
      const p = q16 + (<usize>b << 1);
      const lo = v128.load(p);
      const hi = v128.load(p, 16);
      v128.store(p, i8x16.shuffle(lo, hi, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29));
      v128.store(p, i8x16.shuffle(lo, hi, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31), 16);
    }
    let h = hsum(half);
    let xmSum = hsum(xm);
    let s = hsum(xs);
    for (; k < K; k++) {
      const o = <usize>k << 2;
      const xv = load<f32>(xt + o);
      h += xv * load<f32>(ry + o);
      xmSum += xv * load<f32>(my + o);
      s += xv;
    }
    const st = sums + (<usize>t * SUMS * 4);
    store<f32>(st, h * 0.5);
    store<f32>(st, xmSum, 4);
    store<f32>(st, s, 8);
    store<f32>(st, m / 32767, 12);
  }
}

// The int8 dots (dotU8x16, dot2U8x16, dot2x2U8x16). x16 holds each full block of 16 as its 8 even
// elements, then its 8 odd ones (matmulI8Prep), so 16 weight bytes split into two i16x8 with one
// op each, v & 0x00ff (even bytes) and v >> 8 (odd bytes), and feed two i32x4.dot_i16x8_s (eight
// u8·i16 products each); the tail (K mod 16) is scalar, in natural order. A lane of the summed
// i32 accumulators gains 4 products of at most 255·32767 per 16 bytes, so the sums go to f32
// every I8_CHUNK = 1024 bytes: 256·255·32767 = 2139029760 < 2^31. The sums are exact integers
// until then; only that conversion rounds. (Measured, one thread, 65536×768 from DRAM: the
// zero-extending unpack (i16x8.extend_low/high_i8x16_u) with two accumulators ran at 16-17 GB/s,
// this split 64 bytes per step at 18-19.5 GB/s, and two rows at once (dot2U8x16, x16 loaded once
// for both) at 20 GB/s when the rows are far apart (two sequential streams), but 7 GB/s when they
// are adjacent.)

/** Bytes of W per integer chunk of the int8 dots (see above). */
const I8_CHUNK = 1024;

/** Σ_k x16[k]·q[k] over one row of K bytes (x16 in matmulI8Prep's order), 64 bytes per step. */
function dotU8x16(x16: usize, q: usize, K: i32): f32 {
  const lowBytes = i16x8.splat(0xff);
  let f = f32x4.splat(0);
  let k = 0;
  while (k + 16 <= K) {
    const end = k + I8_CHUNK <= K ? k + I8_CHUNK : K;
    let a0 = i32x4.splat(0);
    let a1 = i32x4.splat(0);
    let a2 = i32x4.splat(0);
    let a3 = i32x4.splat(0);
    for (; k + 64 <= end; k += 64) {
      const xo = x16 + (<usize>k << 1);
      const v = v128.load(q + k);
      const w = v128.load(q + k, 16);
      const u = v128.load(q + k, 32);
      const z = v128.load(q + k, 48);
      a0 = i32x4.add(a0, i32x4.add(i32x4.dot_i16x8_s(v128.load(xo), v128.and(v, lowBytes)), i32x4.dot_i16x8_s(v128.load(xo, 64), v128.and(u, lowBytes))));
      a1 = i32x4.add(a1, i32x4.add(i32x4.dot_i16x8_s(v128.load(xo, 16), i16x8.shr_u(v, 8)), i32x4.dot_i16x8_s(v128.load(xo, 80), i16x8.shr_u(u, 8))));
      a2 = i32x4.add(a2, i32x4.add(i32x4.dot_i16x8_s(v128.load(xo, 32), v128.and(w, lowBytes)), i32x4.dot_i16x8_s(v128.load(xo, 96), v128.and(z, lowBytes))));
      a3 = i32x4.add(a3, i32x4.add(i32x4.dot_i16x8_s(v128.load(xo, 48), i16x8.shr_u(w, 8)), i32x4.dot_i16x8_s(v128.load(xo, 112), i16x8.shr_u(z, 8))));
    }
    for (; k + 16 <= end; k += 16) {
      const xo = x16 + (<usize>k << 1);
      const v = v128.load(q + k);
      a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(xo), v128.and(v, lowBytes)));
      a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load(xo, 16), i16x8.shr_u(v, 8)));
    }
    f = f32x4.add(f, f32x4.convert_i32x4_s(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3))));
  }
  let t = 0;
  for (; k < K; k++) t += <i32>load<i16>(x16 + (<usize>k << 1)) * <i32>load<u8>(q + k);
  return hsum(f) + <f32>t;
}

/** dotU8x16 of rows q and q1 (each K bytes), stored at out0 and out1; x16 is loaded once for both. */
function dot2U8x16(out0: usize, out1: usize, x16: usize, q: usize, q1: usize, K: i32): void {
  const lowBytes = i16x8.splat(0xff);
  let f = f32x4.splat(0);
  let g = f32x4.splat(0);
  let k = 0;
  while (k + 16 <= K) {
    const end = k + I8_CHUNK <= K ? k + I8_CHUNK : K;
    let a0 = i32x4.splat(0);
    let a1 = i32x4.splat(0);
    let b0 = i32x4.splat(0);
    let b1 = i32x4.splat(0);
    for (; k + 32 <= end; k += 32) {
      const xo = x16 + (<usize>k << 1);
      const x0 = v128.load(xo);
      const x1 = v128.load(xo, 16);
      const x2 = v128.load(xo, 32);
      const x3 = v128.load(xo, 48);
      const v = v128.load(q + k);
      const w = v128.load(q + k, 16);
      const u = v128.load(q1 + k);
      const z = v128.load(q1 + k, 16);
      a0 = i32x4.add(a0, i32x4.add(i32x4.dot_i16x8_s(x0, v128.and(v, lowBytes)), i32x4.dot_i16x8_s(x2, v128.and(w, lowBytes))));
      a1 = i32x4.add(a1, i32x4.add(i32x4.dot_i16x8_s(x1, i16x8.shr_u(v, 8)), i32x4.dot_i16x8_s(x3, i16x8.shr_u(w, 8))));
      b0 = i32x4.add(b0, i32x4.add(i32x4.dot_i16x8_s(x0, v128.and(u, lowBytes)), i32x4.dot_i16x8_s(x2, v128.and(z, lowBytes))));
      b1 = i32x4.add(b1, i32x4.add(i32x4.dot_i16x8_s(x1, i16x8.shr_u(u, 8)), i32x4.dot_i16x8_s(x3, i16x8.shr_u(z, 8))));
    }
    if (k + 16 <= end) {
      const xo = x16 + (<usize>k << 1);
      const x0 = v128.load(xo);
      const x1 = v128.load(xo, 16);
      const v = v128.load(q + k);
      const u = v128.load(q1 + k);
      a0 = i32x4.add(a0, i32x4.dot_i16x8_s(x0, v128.and(v, lowBytes)));
      a1 = i32x4.add(a1, i32x4.dot_i16x8_s(x1, i16x8.shr_u(v, 8)));
      b0 = i32x4.add(b0, i32x4.dot_i16x8_s(x0, v128.and(u, lowBytes)));
      b1 = i32x4.add(b1, i32x4.dot_i16x8_s(x1, i16x8.shr_u(u, 8)));
      k += 16;
    }
    f = f32x4.add(f, f32x4.convert_i32x4_s(i32x4.add(a0, a1)));
    g = f32x4.add(g, f32x4.convert_i32x4_s(i32x4.add(b0, b1)));
  }
  let t = 0;
  let t1 = 0;
  for (; k < K; k++) {
    const xk = <i32>load<i16>(x16 + (<usize>k << 1));
    t += xk * <i32>load<u8>(q + k);
    t1 += xk * <i32>load<u8>(q1 + k);
  }
  store<f32>(out0, hsum(f) + <f32>t);
  store<f32>(out1, hsum(g) + <f32>t1);
}

/** y[t, o] = rx[o]·(dot + ½Σxr) + Σx·my + mx[o]·Σx for rows [o0, o1) of every token. */
function epilogueI8(out: usize, sums: usize, W: usize, T: i32, O: i32, o0: i32, o1: i32): void {
  const mx = W;
  const rx = W + (<usize>O << 2);
  for (let t = 0; t < T; t++) {
    const st = sums + (<usize>t * SUMS * 4);
    const half = load<f32>(st);
    const xm = load<f32>(st, 4);
    const xs = load<f32>(st, 8);
    const row = out + ((<usize>t * O) << 2);
    for (let o = o0; o < o1; o++) {
      const p = row + (<usize>o << 2);
      const oo = <usize>o << 2;
      store<f32>(p, load<f32>(rx + oo) * (load<f32>(p) + half) + xm + load<f32>(mx + oo) * xs);
    }
  }
}

/**
 * The integer dots of rows q0, q1 (K bytes each) against tokens xa, xb (x16, K each): stored at
 * pa0, pa1 (token a) and pb0, pb1 (token b). Each row's bytes are split once for both tokens and
 * each token's x16 is loaded once for both rows. The lanes sum exactly what dotU8x16 sums, and go
 * to f32 at the same chunk ends: the results equal dotU8x16's bit for bit.
 */
function dot2x2U8x16(pa0: usize, pa1: usize, pb0: usize, pb1: usize, xa: usize, xb: usize, q0: usize, q1: usize, K: i32): void {
  const lowBytes = i16x8.splat(0xff);
  let fa0 = f32x4.splat(0);
  let fa1 = f32x4.splat(0);
  let fb0 = f32x4.splat(0);
  let fb1 = f32x4.splat(0);
  let k = 0;
  while (k + 16 <= K) {
    const end = k + I8_CHUNK <= K ? k + I8_CHUNK : K;
    let a0 = i32x4.splat(0);
    let a1 = i32x4.splat(0);
    let b0 = i32x4.splat(0);
    let b1 = i32x4.splat(0);
    for (; k + 16 <= end; k += 16) {
      const o = <usize>k << 1;
      const xae = v128.load(xa + o);
      const xao = v128.load(xa + o, 16);
      const xbe = v128.load(xb + o);
      const xbo = v128.load(xb + o, 16);
      const v = v128.load(q0 + k);
      const u = v128.load(q1 + k);
      const ve = v128.and(v, lowBytes);
      const vo = i16x8.shr_u(v, 8);
      const ue = v128.and(u, lowBytes);
      const uo = i16x8.shr_u(u, 8);
      a0 = i32x4.add(a0, i32x4.add(i32x4.dot_i16x8_s(xae, ve), i32x4.dot_i16x8_s(xao, vo)));
      a1 = i32x4.add(a1, i32x4.add(i32x4.dot_i16x8_s(xae, ue), i32x4.dot_i16x8_s(xao, uo)));
      b0 = i32x4.add(b0, i32x4.add(i32x4.dot_i16x8_s(xbe, ve), i32x4.dot_i16x8_s(xbo, vo)));
      b1 = i32x4.add(b1, i32x4.add(i32x4.dot_i16x8_s(xbe, ue), i32x4.dot_i16x8_s(xbo, uo)));
    }
    fa0 = f32x4.add(fa0, f32x4.convert_i32x4_s(a0));
    fa1 = f32x4.add(fa1, f32x4.convert_i32x4_s(a1));
    fb0 = f32x4.add(fb0, f32x4.convert_i32x4_s(b0));
    fb1 = f32x4.add(fb1, f32x4.convert_i32x4_s(b1));
  }
  let ta0 = 0;
  let ta1 = 0;
  let tb0 = 0;
  let tb1 = 0;
  for (; k < K; k++) {
    const w0 = <i32>load<u8>(q0 + k);
    const w1 = <i32>load<u8>(q1 + k);
    const xak = <i32>load<i16>(xa + (<usize>k << 1));
    const xbk = <i32>load<i16>(xb + (<usize>k << 1));
    ta0 += xak * w0;
    ta1 += xak * w1;
    tb0 += xbk * w0;
    tb1 += xbk * w1;
  }
  store<f32>(pa0, hsum(fa0) + <f32>ta0);
  store<f32>(pa1, hsum(fa1) + <f32>ta1);
  store<f32>(pb0, hsum(fb0) + <f32>tb0);
  store<f32>(pb1, hsum(fb1) + <f32>tb1);
}

export function matmulI8(out: usize, x: usize, W: usize, T: i32, K: i32, O: i32, row0: i32, row1: i32, scratch: usize): void {
  const sums = x;
  const x16 = sums + <usize>(T * SUMS * 4);
  const q = W + (<usize>O << 3) + (<usize>K << 3);
  if (T == 1) {
    // decode: rows o and o + half together, two sequential streams (see dot2U8x16), then the odd row
    const half = (row1 - row0) >> 1;
    for (let o = row0; o < row0 + half; o++) {
      dot2U8x16(out + (<usize>o << 2), out + (<usize>(o + half) << 2), x16, q + <usize>o * K, q + <usize>(o + half) * K, K);
    }
    for (let o = row0 + 2 * half; o < row1; o++) store<f32>(out + (<usize>o << 2), dotU8x16(x16, q + <usize>o * K, K));
  } else {
    // prefill: blocks of tokens whose x16 stays in L2; in a block, two rows against two tokens
    // (two rows against four measured 15-20% slower: more live vectors than registers)
    const tb = tokenBlock(K);
    for (let t0 = 0; t0 < T; t0 += tb) {
      const t1 = T - t0 < tb ? T : t0 + tb;
      let o = row0;
      for (; o + 2 <= row1; o += 2) {
        const q0 = q + <usize>o * K;
        let t = t0;
        for (; t + 2 <= t1; t += 2) {
          const pa = out + ((<usize>t * O + o) << 2);
          const pb = pa + (<usize>O << 2);
          const xa = x16 + ((<usize>t * K) << 1);
          dot2x2U8x16(pa, pa + 4, pb, pb + 4, xa, xa + (<usize>K << 1), q0, q0 + K, K);
        }
        if (t < t1) {
          const pa = out + ((<usize>t * O + o) << 2);
          dot2U8x16(pa, pa + 4, x16 + ((<usize>t * K) << 1), q0, q0 + K, K);
        }
      }
      if (o < row1) {
        for (let t = t0; t < t1; t++) {
          store<f32>(out + ((<usize>t * O + o) << 2), dotU8x16(x16 + ((<usize>t * K) << 1), q + <usize>o * K, K));
        }
      }
    }
  }
  // y = s·(integer dot), then the epilogue
  for (let t = 0; t < T; t++) {
    const sc = load<f32>(sums + (<usize>t * SUMS * 4), 12);
    const row = out + ((<usize>t * O) << 2);
    for (let o = row0; o < row1; o++) {
      const p = row + (<usize>o << 2);
      store<f32>(p, sc * load<f32>(p));
    }
  }
  epilogueI8(out, sums, W, T, O, row0, row1);
}
