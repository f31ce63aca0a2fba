// W stored as uint8 with per-row and per-column offsets and scales: out[T, O] = x[T, K] · W[O, K]ᵀ
// over rows [row0, row1) (see common.ts). Twin: matmulI8x16 in src/backends/ts/kernels.ts.

import { hsum, madd, tokenBlock } from './common';

// ---- int8: the official uint8 scheme (rwkv pip package, model.py L818-847; dequantised L91-97) ----
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
