// Scalar kernels over flat Float32Arrays: the plain twins of the WASM SIMD kernels in
// assembly/, with the same names and parameter order (outputs first, then inputs, then sizes).
// The loops are the plainest ones that compute each result, not the SIMD kernels' order: the WKV
// kernels here run token-outer, head-inner, while assembly/kernels/wkv.ts runs head-outer to keep
// a head's state in cache (heads are independent, so each head sees the same recurrence), and a
// dot product here is one sum from left to right, while the SIMD kernels keep several partial
// sums. Accumulations run in f64 (JS numbers) and are rounded to f32 when stored; the twins agree
// within the tolerances of test/property/wasm-*.prop.test.ts, not bit for bit.
//
// Legend: T rows (tokens), C channels, K/O matmul in/out, H heads, N head size.

import { DECAY_SCALE } from '../../constants.ts';
import { halfToFloat } from '../../tensor/float.ts';
import type { BinaryOp, UnaryOp } from '../backend.ts';
import type { QuantI8 } from '../quant-i8.ts';

/** out[T, O] = x[T, K] · W[O, K]ᵀ */
export function matmul(out: Float32Array, x: Float32Array, W: Float32Array, T: number, K: number, O: number): void {
  for (let t = 0; t < T; t++) {
    const xo = t * K;
    for (let o = 0; o < O; o++) {
      const wo = o * K;
      let s = 0;
      for (let i = 0; i < K; i++) s += x[xo + i]! * W[wo + i]!;
      out[t * O + o] = s;
    }
  }
}

/**
 * out[T, O] = x[T, K] · W[O, K]ᵀ with W stored as 16-bit values (bf16 or f16 bits): each row
 * of W is decoded into a float32 scratch row, then dotted with every x row.
 */
export function matmul16(
  out: Float32Array,
  x: Float32Array,
  W: Uint16Array,
  T: number,
  K: number,
  O: number,
  encoding: 'bf16' | 'f16',
): void {
  const rowBits = new Uint32Array(K);
  const row = new Float32Array(rowBits.buffer);
  const table = encoding === 'f16' ? halfTable() : undefined;
  for (let o = 0; o < O; o++) {
    const wo = o * K;
    if (table === undefined) for (let i = 0; i < K; i++) rowBits[i] = W[wo + i]! << 16;
    else for (let i = 0; i < K; i++) row[i] = table[W[wo + i]!]!;
    for (let t = 0; t < T; t++) {
      const xo = t * K;
      let s = 0;
      for (let i = 0; i < K; i++) s += x[xo + i]! * row[i]!;
      out[t * O + o] = s;
    }
  }
}

/**
 * out[T, O] = x[T, K] · Wᵀ with W in the int8 scheme (src/backends/quant-i8.ts):
 *   y[t, o] = rx[o]·(Σ_k xr[t, k]·q[o, k] + ½·Σ_k xr[t, k]) + Σ_k x[t, k]·my[k] + mx[o]·Σ_k x[t, k]
 * with xr[t, k] = x[t, k]·ry[k], which is Σ_k x[t, k]·W[o, k] for the dequantised
 * W[o, k] = (q + 0.5)·rx[o]·ry[k] + mx[o] + my[k], factored so the inner loop reads only q.
 */
export function matmulI8(out: Float32Array, x: Float32Array, W: QuantI8, T: number, K: number, O: number): void {
  const { q, mx, rx, my, ry } = W;
  const xr = new Float64Array(K);
  for (let t = 0; t < T; t++) {
    const xo = t * K;
    let half = 0;
    let xm = 0;
    let xs = 0;
    for (let k = 0; k < K; k++) {
      const xk = x[xo + k]!;
      xr[k] = xk * ry[k]!;
      half += xr[k]!;
      xm += xk * my[k]!;
      xs += xk;
    }
    half *= 0.5;
    for (let o = 0; o < O; o++) {
      const qo = o * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += xr[k]! * q[qo + k]!;
      out[t * O + o] = rx[o]! * (s + half) + xm + mx[o]! * xs;
    }
  }
}

/** Round to the nearest integer, ties to even (WASM's f32.nearest). */
function nearestEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

/**
 * matmulI8 as the WASM int8 kernel computes it (decode and prefill): xr[k] = x[k]·ry[k] (f32)
 * quantised to int16 per token, x16[k] = nearest(xr[k]·(32767/m)) with m = max_k |xr[k]| (f32
 * steps as in WASM), and Σ_k xr·q replaced by s·Σ_k x16·q with s = m/32767; the rest as matmulI8.
 */
export function matmulI8x16(out: Float32Array, x: Float32Array, W: QuantI8, T: number, K: number, O: number): void {
  const { q, mx, rx, my, ry } = W;
  const fr = Math.fround;
  const x16 = new Int32Array(K);
  for (let t = 0; t < T; t++) {
    const xo = t * K;
    let half = 0;
    let xm = 0;
    let xs = 0;
    let m = 0;
    for (let k = 0; k < K; k++) {
      const xk = x[xo + k]!;
      const r = fr(xk * ry[k]!);
      half += r;
      xm += xk * my[k]!;
      xs += xk;
      m = Math.max(m, Math.abs(r));
    }
    half *= 0.5;
    const inv = m > 0 ? fr(32767 / m) : 0;
    const scale = fr(m / 32767);
    for (let k = 0; k < K; k++) x16[k] = nearestEven(fr(fr(x[xo + k]! * ry[k]!) * inv));
    for (let o = 0; o < O; o++) {
      const qo = o * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += x16[k]! * q[qo + k]!;
      out[t * O + o] = rx[o]! * (scale * s + half) + xm + mx[o]! * xs;
    }
  }
}

/** float32 → bf16 bits, rounded to nearest even (NaN stays a quiet NaN); into `bits` when given. */
export function encodeBf16(data: Float32Array, bits: Uint16Array = new Uint16Array(data.length)): Uint16Array {
  const u32 = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < u32.length; i++) {
    const u = u32[i]!;
    if ((u & 0x7fffffff) > 0x7f800000) bits[i] = (u >>> 16) | 0x40;
    else bits[i] = (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
  }
  return bits;
}

/** 16-bit values (bf16 or f16 bits) → float32. */
export function decode16(bits: Uint16Array, encoding: 'bf16' | 'f16'): Float32Array {
  if (encoding === 'f16') {
    const table = halfTable();
    return Float32Array.from(bits, (b) => table[b]!);
  }
  const u32 = Uint32Array.from(bits, (b) => b << 16);
  return new Float32Array(u32.buffer);
}

let HALF_TABLE: Float32Array | undefined;
/** All 65536 half values as float32 (256 KiB, built once). */
function halfTable(): Float32Array {
  if (HALF_TABLE === undefined) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = halfToFloat(h);
  }
  return HALF_TABLE;
}

/** Per group of G channels in each row: (x − mean)/sqrt(var + eps)·w + b. */
export function layerNorm(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  b: Float32Array,
  rows: number,
  C: number,
  G: number,
  eps: number,
): void {
  for (let r = 0; r < rows; r++) {
    for (let g = r * C, c0 = 0; c0 < C; g += G, c0 += G) {
      let mean = 0;
      for (let i = 0; i < G; i++) mean += x[g + i]!;
      mean /= G;
      let variance = 0;
      for (let i = 0; i < G; i++) {
        const d = x[g + i]! - mean;
        variance += d * d;
      }
      variance /= G;
      const inv = 1 / Math.sqrt(variance + eps);
      for (let i = 0; i < G; i++) out[g + i] = (x[g + i]! - mean) * inv * w[c0 + i]! + b[c0 + i]!;
    }
  }
}

/** Per group of G values: x / max(‖x‖₂, eps) (torch F.normalize). */
export function l2NormalizeGroups(out: Float32Array, x: Float32Array, n: number, G: number, eps: number): void {
  for (let g = 0; g < n; g += G) {
    let ss = 0;
    for (let i = 0; i < G; i++) ss += x[g + i]! * x[g + i]!;
    const inv = 1 / Math.max(Math.sqrt(ss), eps);
    for (let i = 0; i < G; i++) out[g + i] = x[g + i]! * inv;
  }
}

const UNARY: Record<UnaryOp, (x: number) => number> = {
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  tanh: Math.tanh,
  silu: (x) => x / (1 + Math.exp(-x)),
  relu2: (x) => (x > 0 ? x * x : 0),
  neg: (x) => -x,
  expNegExp: (x) => Math.exp(-Math.exp(x)),
  rwkv7Decay: (x) => Math.exp(-DECAY_SCALE / (1 + Math.exp(-x))),
};

export function unary(op: UnaryOp, out: Float32Array, x: Float32Array, n: number): void {
  const f = UNARY[op];
  for (let i = 0; i < n; i++) out[i] = f(x[i]!);
}

/** out = a ∘ b; b has `bn` elements and repeats every bn (bn = C broadcasts a row, bn = n is full). */
export function binary(op: BinaryOp, out: Float32Array, a: Float32Array, b: Float32Array, n: number, bn: number): void {
  for (let base = 0; base < n; base += bn) {
    if (op === 'add') for (let i = 0; i < bn; i++) out[base + i] = a[base + i]! + b[i + (bn === n ? base : 0)]!;
    else if (op === 'sub') for (let i = 0; i < bn; i++) out[base + i] = a[base + i]! - b[i + (bn === n ? base : 0)]!;
    else for (let i = 0; i < bn; i++) out[base + i] = a[base + i]! * b[i + (bn === n ? base : 0)]!;
  }
}

/** out = a + (b − a)∘t; b and t repeat with periods bn and tn (C or n). */
export function lerp(out: Float32Array, a: Float32Array, b: Float32Array, t: Float32Array, n: number, bn: number, tn: number): void {
  for (let i = 0; i < n; i++) {
    const ai = a[i]!;
    out[i] = ai + (b[i % bn]! - ai) * t[i % tn]!;
  }
}

/** out[T, C]: row 0 = prev, row t = x[t − 1]. */
export function shift(out: Float32Array, x: Float32Array, prev: Float32Array, T: number, C: number): void {
  // backwards, so out may alias x
  for (let t = T - 1; t >= 1; t--) out.set(x.subarray((t - 1) * C, t * C), t * C);
  out.set(prev.subarray(0, C), 0);
}

export function groupSum(out: Float32Array, x: Float32Array, n: number, G: number): void {
  for (let g = 0, h = 0; g < n; g += G, h++) {
    let s = 0;
    for (let i = 0; i < G; i++) s += x[g + i]!;
    out[h] = s;
  }
}

export function groupScale(out: Float32Array, x: Float32Array, s: Float32Array, n: number, G: number): void {
  for (let i = 0; i < n; i++) out[i] = x[i]! * s[Math.floor(i / G)]!;
}

/** out[T, J]: out[t, j] = Σ_i x[t, i]·M[t, i·J + j]. */
export function rowVecMat(out: Float32Array, x: Float32Array, M: Float32Array, T: number, I: number, J: number): void {
  const acc = new Float64Array(J);
  for (let t = 0; t < T; t++) {
    acc.fill(0);
    for (let i = 0; i < I; i++) {
      const xi = x[t * I + i]!;
      const row = t * I * J + i * J;
      for (let j = 0; j < J; j++) acc[j]! += xi * M[row + j]!;
    }
    for (let j = 0; j < J; j++) out[t * J + j] = acc[j]!;
  }
}

/** RWKV-4 WKV with the max trick; see Backend.wkv4. */
export function wkv4(
  out: Float32Array,
  aa: Float32Array,
  bb: Float32Array,
  pp: Float32Array,
  w: Float32Array,
  u: Float32Array,
  k: Float32Array,
  v: Float32Array,
  T: number,
  C: number,
): void {
  for (let c = 0; c < C; c++) {
    let a = aa[c]!;
    let b = bb[c]!;
    let p = pp[c]!;
    const wc = w[c]!;
    const uc = u[c]!;
    for (let t = 0; t < T; t++) {
      const kt = k[t * C + c]!;
      const vt = v[t * C + c]!;
      // output: the current token gets the bonus u
      let ww = uc + kt;
      let q = Math.max(p, ww);
      let e1 = Math.exp(p - q);
      let e2 = Math.exp(ww - q);
      out[t * C + c] = (e1 * a + e2 * vt) / (e1 * b + e2);
      // state: decay the past by w, add the current token
      ww = wc + p;
      q = Math.max(ww, kt);
      e1 = Math.exp(ww - q);
      e2 = Math.exp(kt - q);
      // round to f32 at each step, as an f32 state would be
      a = Math.fround(e1 * a + e2 * vt);
      b = Math.fround(e1 * b + e2);
      p = Math.fround(q);
    }
    aa[c] = a;
    bb[c] = b;
    pp[c] = p;
  }
}

/** RWKV-5/6 WKV; S[h, i = key, j = value]; w is [C] (wRows = 1) or [T, C]. See Backend.wkv5. */
export function wkv5(
  out: Float32Array,
  S: Float32Array,
  r: Float32Array,
  k: Float32Array,
  v: Float32Array,
  w: Float32Array,
  u: Float32Array,
  T: number,
  H: number,
  N: number,
  wPerToken: boolean,
): void {
  const C = H * N;
  const y = new Float64Array(N);
  for (let t = 0; t < T; t++) {
    const row = t * C;
    const wRow = wPerToken ? row : 0;
    for (let h = 0; h < H; h++) {
      const base = h * N;
      const sBase = h * N * N;
      y.fill(0);
      for (let i = 0; i < N; i++) {
        const ri = r[row + base + i]!;
        const ki = k[row + base + i]!;
        const ui = u[base + i]!;
        const wi = w[wRow + base + i]!;
        const si = sBase + i * N;
        for (let j = 0; j < N; j++) {
          const kv = ki * v[row + base + j]!;
          const s = S[si + j]!;
          y[j]! += ri * (ui * kv + s);
          S[si + j] = kv + wi * s;
        }
      }
      for (let j = 0; j < N; j++) out[row + base + j] = y[j]!;
    }
  }
}

/** RWKV-7 WKV; S[h, i = value, j = key]. See Backend.wkv7. */
export function wkv7(
  out: Float32Array,
  S: Float32Array,
  r: Float32Array,
  w: Float32Array,
  k: Float32Array,
  v: Float32Array,
  a: Float32Array,
  b: Float32Array,
  T: number,
  H: number,
  N: number,
): void {
  const C = H * N;
  for (let t = 0; t < T; t++) {
    const row = t * C;
    for (let h = 0; h < H; h++) {
      const base = row + h * N;
      const sBase = h * N * N;
      for (let i = 0; i < N; i++) {
        const si = sBase + i * N;
        let sa = 0;
        for (let j = 0; j < N; j++) sa += S[si + j]! * a[base + j]!;
        const vi = v[base + i]!;
        let y = 0;
        for (let j = 0; j < N; j++) {
          const s = Math.fround(S[si + j]! * w[base + j]! + sa * b[base + j]! + vi * k[base + j]!);
          S[si + j] = s;
          y += s * r[base + j]!;
        }
        out[base + i] = y;
      }
    }
  }
}
