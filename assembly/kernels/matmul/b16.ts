// W stored as bf16 or f16: out[T, O] = x[T, K] · W[O, K]ᵀ over rows [row0, row1) (see common.ts).
// Twin: matmul16 in src/backends/ts/kernels.ts.

import { dotF32, hsum, madd, rows4AllTokens, tokenBlock } from './common';

// ---- bf16 / f16 → f32 ----

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
