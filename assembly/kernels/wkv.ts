// The WKV recurrences of every version (Backend.wkv4, wkv5 for v5 and v6, wkv7), for T ≥ 1 tokens
// in one call, state in/out. Twins: wkv4, wkv5, wkv7 in src/backends/ts/kernels.ts; the math is
// the official rwkv pip package's model.py (att_seq L1058-1086, att_seq_v6_0 L1301-1340,
// RWKV_x070 L223-608). Heads are independent, so the loops run head-outer, token-inner: one head's
// state (N·N floats, 16 KiB at N = 64) stays in L1 across the tokens of a sequence. f32 throughout
// (the twins accumulate in f64 and round the state to f32 each step); tails of N (or C) not a
// multiple of 4 run the same body on one lane (ld/st with lane1 = true).
// Pointers are byte offsets; sizes count f32 elements.

import { exp4, hsum, ld, madd, st } from './simd';

// ---- RWKV-4 ----

// @ts-ignore: decorator
@inline function wkv4Channels(
  out: usize, aa: usize, bb: usize, pp: usize, w: usize, u: usize, k: usize, v: usize,
  T: i32, C: i32, c: i32, lane1: bool,
): void {
  // 4 channels c..c+4 (or one), all T tokens, the state (a, b, p) in registers
  const o = <usize>c << 2;
  const rowBytes = <usize>C << 2;
  let a = ld(aa + o, lane1);
  let b = ld(bb + o, lane1);
  let p = ld(pp + o, lane1);
  const wc = ld(w + o, lane1);
  const uc = ld(u + o, lane1);
  const one = f32x4.splat(1.0);
  let kp = k + o;
  let vp = v + o;
  let op = out + o;
  for (let t = 0; t < T; t++, kp += rowBytes, vp += rowBytes, op += rowBytes) {
    const kt = ld(kp, lane1);
    const vt = ld(vp, lane1);
    // output, the current token with the bonus u:
    //   ww = u + k,  q = max(p, ww),  e1 = e^(p − q),  e2 = e^(ww − q),
    //   wkv = (e1·a + e2·v) / (e1·b + e2)
    // one of e1, e2 is e^0 = 1 and the other e^−|p − ww|: one exp instead of two
    let ww = f32x4.add(uc, kt);
    let pFirst = f32x4.ge(p, ww);
    let e = exp4(f32x4.neg(f32x4.abs(f32x4.sub(p, ww))));
    let e1 = v128.bitselect(one, e, pFirst);
    let e2 = v128.bitselect(e, one, pFirst);
    st(op, f32x4.div(madd(e1, a, f32x4.mul(e2, vt)), madd(e1, b, e2)), lane1);
    // state: decay the past by w, add the current token:
    //   ww = w + p,  q = max(ww, k),  e1 = e^(ww − q),  e2 = e^(k − q)
    //   a = e1·a + e2·v,  b = e1·b + e2,  p = q
    ww = f32x4.add(wc, p);
    pFirst = f32x4.ge(ww, kt);
    e = exp4(f32x4.neg(f32x4.abs(f32x4.sub(ww, kt))));
    e1 = v128.bitselect(one, e, pFirst);
    e2 = v128.bitselect(e, one, pFirst);
    a = madd(e1, a, f32x4.mul(e2, vt));
    b = madd(e1, b, e2);
    p = f32x4.max(ww, kt);
  }
  st(aa + o, a, lane1);
  st(bb + o, b, lane1);
  st(pp + o, p, lane1);
}

/**
 * Backend.wkv4 (numerically stabilised: aa, bb scaled by e^−pp). out, k, v [T, C];
 * aa, bb, pp [C] (in/out); w (= −exp(time_decay)), u [C]. out must not overlap the inputs.
 * Only channels [c0, c1) are computed (0, C for all; channels are independent, so threads can
 * split a call by channel ranges).
 */
export function wkv4(out: usize, aa: usize, bb: usize, pp: usize, w: usize, u: usize, k: usize, v: usize, T: i32, C: i32, c0: i32, c1: i32): void {
  let c = c0;
  for (; c + 4 <= c1; c += 4) wkv4Channels(out, aa, bb, pp, w, u, k, v, T, C, c, false);
  for (; c < c1; c++) wkv4Channels(out, aa, bb, pp, w, u, k, v, T, C, c, true);
}

// ---- RWKV-5 / RWKV-6 ----

// @ts-ignore: decorator
@inline function wkv5Columns(
  out: usize, S: usize, r: usize, k: usize, v: usize, w: usize, u: usize, N: i32, j: i32, lane1: bool,
): void {
  // value columns j..j+4 (or one) of one head and token; r, k, v, w, u point at the head's
  // channels, S at its state. y stays in a register while i runs over the key channels.
  const rowBytes = <usize>N << 2;
  const vj = ld(v + (<usize>j << 2), lane1);
  let y = f32x4.splat(0);
  let s = S + (<usize>j << 2);
  for (let i = 0; i < N; i++, s += rowBytes) {
    const o = <usize>i << 2;
    const ri = f32x4.splat(load<f32>(r + o));
    const ki = f32x4.splat(load<f32>(k + o));
    const ui = f32x4.splat(load<f32>(u + o));
    const wi = f32x4.splat(load<f32>(w + o));
    const kv = f32x4.mul(ki, vj);
    const Sij = ld(s, lane1);
    // y[j] += r[i]·(u[i]·k[i]·v[j] + S[i, j]);  S[i, j] = k[i]·v[j] + w[i]·S[i, j]
    y = madd(ri, madd(ui, kv, Sij), y);
    st(s, madd(wi, Sij, kv), lane1);
  }
  st(out + (<usize>j << 2), y, lane1);
}

// @ts-ignore: decorator
@inline function wkv5Columns16(out: usize, S: usize, r: usize, k: usize, v: usize, w: usize, u: usize, N: i32, j: i32): void {
  // wkv5Columns for 16 columns at once (4 vectors): the per-i scalars are loaded once per 16
  const rowBytes = <usize>N << 2;
  const jo = <usize>j << 2;
  const v0 = v128.load(v + jo);
  const v1 = v128.load(v + jo, 16);
  const v2 = v128.load(v + jo, 32);
  const v3 = v128.load(v + jo, 48);
  let y0 = f32x4.splat(0);
  let y1 = f32x4.splat(0);
  let y2 = f32x4.splat(0);
  let y3 = f32x4.splat(0);
  let s = S + jo;
  for (let i = 0; i < N; i++, s += rowBytes) {
    const o = <usize>i << 2;
    const ri = f32x4.splat(load<f32>(r + o));
    const ki = f32x4.splat(load<f32>(k + o));
    const ui = f32x4.splat(load<f32>(u + o));
    const wi = f32x4.splat(load<f32>(w + o));
    // y[j] += r[i]·(u[i]·k[i]·v[j] + S[i, j]);  S[i, j] = k[i]·v[j] + w[i]·S[i, j]
    const kv0 = f32x4.mul(ki, v0);
    const S0 = v128.load(s);
    y0 = madd(ri, madd(ui, kv0, S0), y0);
    v128.store(s, madd(wi, S0, kv0));
    const kv1 = f32x4.mul(ki, v1);
    const S1 = v128.load(s, 16);
    y1 = madd(ri, madd(ui, kv1, S1), y1);
    v128.store(s, madd(wi, S1, kv1), 16);
    const kv2 = f32x4.mul(ki, v2);
    const S2 = v128.load(s, 32);
    y2 = madd(ri, madd(ui, kv2, S2), y2);
    v128.store(s, madd(wi, S2, kv2), 32);
    const kv3 = f32x4.mul(ki, v3);
    const S3 = v128.load(s, 48);
    y3 = madd(ri, madd(ui, kv3, S3), y3);
    v128.store(s, madd(wi, S3, kv3), 48);
  }
  v128.store(out + jo, y0);
  v128.store(out + jo, y1, 16);
  v128.store(out + jo, y2, 32);
  v128.store(out + jo, y3, 48);
}

/**
 * Backend.wkv5, state S[h, i = key, j = value]. For each token t and head h:
 *   out[j] = Σ_i r[i]·(u[i]·k[i]·v[j] + S[i, j]);  S[i, j] = k[i]·v[j] + w[i]·S[i, j]
 * out, r, k, v [T, C]; w [C] (v5: wPerToken = 0) or [T, C] (v6: wPerToken = 1); u [C];
 * S [H, N, N] (in/out); C = H·N. out must not overlap the inputs. Only heads [h0, h1) are
 * computed (0, H for all; heads are independent, so threads can split a call by head ranges).
 */
export function wkv5(out: usize, S: usize, r: usize, k: usize, v: usize, w: usize, u: usize, T: i32, H: i32, N: i32, wPerToken: i32, h0: i32, h1: i32): void {
  const rowBytes = <usize>(H * N) << 2;
  for (let h = h0; h < h1; h++) {
    const head = <usize>(h * N) << 2;
    const Sh = S + (<usize>h * <usize>N * <usize>N << 2);
    for (let t = 0; t < T; t++) {
      const row = <usize>t * rowBytes + head;
      const wRow = wPerToken != 0 ? row : head;
      let j = 0;
      for (; j + 16 <= N; j += 16) wkv5Columns16(out + row, Sh, r + row, k + row, v + row, w + wRow, u + head, N, j);
      for (; j + 4 <= N; j += 4) wkv5Columns(out + row, Sh, r + row, k + row, v + row, w + wRow, u + head, N, j, false);
      for (; j < N; j++) wkv5Columns(out + row, Sh, r + row, k + row, v + row, w + wRow, u + head, N, j, true);
    }
  }
}

// ---- RWKV-7 ----

/**
 * Backend.wkv7, state S[h, i = value, j = key]. For each token t and head h, each value row i:
 *   sa = Σ_j S[i, j]·a[j];  S[i, j] = S[i, j]·w[j] + sa·b[j] + v[i]·k[j];  out[i] = Σ_j S[i, j]·r[j]
 * out, r, w, k, v, a, b [T, C]; S [H, N, N] (in/out); C = H·N. out must not overlap the inputs.
 * Only heads [h0, h1) are computed (0, H for all; see wkv5).
 */
export function wkv7(out: usize, S: usize, r: usize, w: usize, k: usize, v: usize, a: usize, b: usize, T: i32, H: i32, N: i32, h0: i32, h1: i32): void {
  const rowBytes = <usize>(H * N) << 2;
  const N4 = N & ~3;
  for (let h = h0; h < h1; h++) {
    const head = <usize>(h * N) << 2;
    const Sh = S + (<usize>h * <usize>N * <usize>N << 2);
    for (let t = 0; t < T; t++) {
      const row = <usize>t * rowBytes + head;
      const rt = r + row, wt = w + row, kt = k + row, vt = v + row, at = a + row, bt = b + row;
      let i = 0;
      // two value rows at a time: each a, w, b, k, r vector is loaded once for both
      for (; i + 2 <= N; i += 2) {
        const S0 = Sh + (<usize>(i * N) << 2);
        const S1 = S0 + (<usize>N << 2);
        // sa = Σ_j S[i, j]·a[j]
        let acc0 = f32x4.splat(0);
        let acc1 = f32x4.splat(0);
        let j = 0;
        for (; j < N4; j += 4) {
          const o = <usize>j << 2;
          const av = v128.load(at + o);
          acc0 = madd(v128.load(S0 + o), av, acc0);
          acc1 = madd(v128.load(S1 + o), av, acc1);
        }
        let sa0 = hsum(acc0);
        let sa1 = hsum(acc1);
        for (; j < N; j++) {
          const o = <usize>j << 2;
          const aj = load<f32>(at + o);
          sa0 += load<f32>(S0 + o) * aj;
          sa1 += load<f32>(S1 + o) * aj;
        }
        // S[i, j] = S[i, j]·w[j] + sa·b[j] + v[i]·k[j];  y = Σ_j S[i, j]·r[j]
        const sav0 = f32x4.splat(sa0);
        const sav1 = f32x4.splat(sa1);
        const vi0 = f32x4.splat(load<f32>(vt + (<usize>i << 2)));
        const vi1 = f32x4.splat(load<f32>(vt + (<usize>i << 2), 4));
        acc0 = f32x4.splat(0);
        acc1 = f32x4.splat(0);
        for (j = 0; j < N4; j += 4) {
          const o = <usize>j << 2;
          const wv = v128.load(wt + o);
          const bv = v128.load(bt + o);
          const kv = v128.load(kt + o);
          const rv = v128.load(rt + o);
          const s0 = madd(v128.load(S0 + o), wv, madd(sav0, bv, f32x4.mul(vi0, kv)));
          const s1 = madd(v128.load(S1 + o), wv, madd(sav1, bv, f32x4.mul(vi1, kv)));
          v128.store(S0 + o, s0);
          v128.store(S1 + o, s1);
          acc0 = madd(s0, rv, acc0);
          acc1 = madd(s1, rv, acc1);
        }
        let y0 = hsum(acc0);
        let y1 = hsum(acc1);
        for (; j < N; j++) {
          const o = <usize>j << 2;
          const wj = ld(wt + o, true);
          const bj = ld(bt + o, true);
          const kj = ld(kt + o, true);
          const rj = load<f32>(rt + o);
          y0 += st1(S0 + o, ld(S0 + o, true), wj, sav0, bj, vi0, kj) * rj;
          y1 += st1(S1 + o, ld(S1 + o, true), wj, sav1, bj, vi1, kj) * rj;
        }
        store<f32>(out + row + (<usize>i << 2), y0);
        store<f32>(out + row + (<usize>i << 2), y1, 4);
      }
      // the last row when N is odd
      for (; i < N; i++) {
        const Si = Sh + (<usize>(i * N) << 2);
        // sa = Σ_j S[i, j]·a[j]
        let acc = f32x4.splat(0);
        let j = 0;
        for (; j < N4; j += 4) {
          const o = <usize>j << 2;
          acc = madd(v128.load(Si + o), v128.load(at + o), acc);
        }
        let sa = hsum(acc);
        for (; j < N; j++) {
          const o = <usize>j << 2;
          sa += load<f32>(Si + o) * load<f32>(at + o);
        }
        // S[i, j] = S[i, j]·w[j] + sa·b[j] + v[i]·k[j];  y = Σ_j S[i, j]·r[j]
        const sav = f32x4.splat(sa);
        const vi = f32x4.splat(load<f32>(vt + (<usize>i << 2)));
        acc = f32x4.splat(0);
        for (j = 0; j < N4; j += 4) {
          const o = <usize>j << 2;
          const s = madd(v128.load(Si + o), v128.load(wt + o), madd(sav, v128.load(bt + o), f32x4.mul(vi, v128.load(kt + o))));
          v128.store(Si + o, s);
          acc = madd(s, v128.load(rt + o), acc);
        }
        let y = hsum(acc);
        for (; j < N; j++) {
          const o = <usize>j << 2;
          const s = st1(Si + o, ld(Si + o, true), ld(wt + o, true), sav, ld(bt + o, true), vi, ld(kt + o, true));
          y += s * load<f32>(rt + o);
        }
        store<f32>(out + row + (<usize>i << 2), y);
      }
    }
  }
}

/** The wkv7 state update of one element by the SIMD body's arithmetic; stores and returns it. */
// @ts-ignore: decorator
@inline function st1(p: usize, S: v128, w: v128, sa: v128, b: v128, v: v128, k: v128): f32 {
  const s = madd(S, w, madd(sa, b, f32x4.mul(v, k)));
  st(p, s, true);
  return f32x4.extract_lane(s, 0);
}
