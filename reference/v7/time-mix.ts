// RWKV-7 time mix ("attention" block): token shift → r, w, k, v, a, g → κ̂ and the key update
// → value residual → WKV → GroupNorm → bonus → gate → output projection.
//
// Mirrors: rwkv/model.py (pip 0.8.32) `RWKV_x070_TMix_one` (RNN mode, one token) and
// `RWKV_x070_TMix_seq` (GPT mode: projections for all T rows first, then the recurrence loop);
// RWKV-LM `RWKV-v7/rwkv_v7_numpy.py: time_mixing`. model.py L492-516 (one token) and L545-572
// (sequence) hold every equation used here.
//
// Dimensions:  T tokens · C channels (= H·N) · H heads · N head size (64 in released models)
//              Dw, Da, Dv, Dg: LoRA ranks of the decay, iclr, value-residual and gate LoRAs.
// Weights keep their checkpoint keys and orientation: Linear weights are [out, in] (used as W·x,
// `linear`), LoRA factors are [in, out] (used as x·M, `vecMat`). Nothing is folded at load time.
//
// Names follow the paper and the official code: r receptance, w decay, k key, v value,
// a in-context learning rate ("iclr"), g gate, kk = κ̂ the normalised removal key,
// xr … xg the token-shifted inputs of each projection, vFirst the value of layer 0.
// The token path and the sequence path are written independently (the sequence path never calls
// the token path); they share only `wkvStep`/`wkvSequence` and the small linalg helpers.

import { DECAY_SCALE, GN_EPS, L2_EPS } from '../common/constants.ts';
import { add, groupNorm, linear, map, mul, sigmoid, sub, vecMat } from '../common/linalg.ts';
import { mat, vec, type Mat, type RefWeights } from '../common/types.ts';
import { wkvSequence, wkvStep } from './wkv.ts';

/** The weights of one layer's time mix, under their checkpoint names (`blocks.<l>.att.*`). */
export interface TimeMixWeights {
  readonly H: number;
  readonly N: number;
  // token-shift mixes, [C] each (checkpoint [1, 1, C])
  readonly x_r: Float64Array;
  readonly x_w: Float64Array;
  readonly x_k: Float64Array;
  readonly x_v: Float64Array;
  readonly x_a: Float64Array;
  readonly x_g: Float64Array;
  // decay: w0 [C], LoRA w1 [C, Dw], w2 [Dw, C]
  readonly w0: Float64Array;
  readonly w1: Mat;
  readonly w2: Mat;
  // in-context learning rate: a0 [C], LoRA a1 [C, Da], a2 [Da, C]
  readonly a0: Float64Array;
  readonly a1: Mat;
  readonly a2: Mat;
  // value residual, layers ≥ 1 only: v0 [C], LoRA v1 [C, Dv], v2 [Dv, C]
  // (layer 0 defines v_first instead; its v0/v1/v2, when a checkpoint has them, are unused)
  readonly valueResidual: { readonly v0: Float64Array; readonly v1: Mat; readonly v2: Mat } | undefined;
  // gate LoRA: g1 [C, Dg], g2 [Dg, C]
  readonly g1: Mat;
  readonly g2: Mat;
  // k_k [C] scales k into κ; k_a [C] how much iclr replaces k; r_k [C] (checkpoint [H, N]) bonus
  readonly k_k: Float64Array;
  readonly k_a: Float64Array;
  readonly r_k: Float64Array;
  // projections, Linear [out, in] = [C, C]
  readonly receptance: Mat;
  readonly key: Mat;
  readonly value: Mat;
  readonly output: Mat;
  // GroupNorm (H groups of N) after the WKV, [C] each
  readonly ln_x: { readonly weight: Float64Array; readonly bias: Float64Array };
}

export function loadTimeMix(weights: RefWeights, layer: number): TimeMixWeights {
  const p = `blocks.${layer}.att.`;
  const rk = weights.get(`${p}r_k`);
  if (rk === undefined || rk.shape.length !== 2) {
    throw new Error(`reference v7: ${p}r_k must be [H, N], got ${rk === undefined ? 'nothing' : `[${rk.shape.join(', ')}]`}`);
  }
  return {
    H: rk.shape[0]!,
    N: rk.shape[1]!,
    x_r: vec(weights, `${p}x_r`),
    x_w: vec(weights, `${p}x_w`),
    x_k: vec(weights, `${p}x_k`),
    x_v: vec(weights, `${p}x_v`),
    x_a: vec(weights, `${p}x_a`),
    x_g: vec(weights, `${p}x_g`),
    w0: vec(weights, `${p}w0`),
    w1: mat(weights, `${p}w1`),
    w2: mat(weights, `${p}w2`),
    a0: vec(weights, `${p}a0`),
    a1: mat(weights, `${p}a1`),
    a2: mat(weights, `${p}a2`),
    valueResidual: layer === 0 ? undefined : { v0: vec(weights, `${p}v0`), v1: mat(weights, `${p}v1`), v2: mat(weights, `${p}v2`) },
    g1: mat(weights, `${p}g1`),
    g2: mat(weights, `${p}g2`),
    k_k: vec(weights, `${p}k_k`),
    k_a: vec(weights, `${p}k_a`),
    r_k: vec(weights, `${p}r_k`),
    receptance: mat(weights, `${p}receptance.weight`),
    key: mat(weights, `${p}key.weight`),
    value: mat(weights, `${p}value.weight`),
    output: mat(weights, `${p}output.weight`),
    ln_x: { weight: vec(weights, `${p}ln_x.weight`), bias: vec(weights, `${p}ln_x.bias`) },
  };
}

/**
 * κ̂ = F.normalize per head: each group of N channels divided by max(‖group‖₂, eps).
 * [C] → [C]
 */
export function l2NormalizePerHead(x: Float64Array, N: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let h = 0; h < x.length; h += N) {
    let sq = 0;
    for (let j = 0; j < N; j++) sq += x[h + j]! ** 2;
    const norm = Math.max(Math.sqrt(sq), L2_EPS);
    for (let j = 0; j < N; j++) y[h + j] = x[h + j]! / norm;
  }
  return y;
}

// ---------------------------------------------------------------------------------------------
// RNN mode: one token (`RWKV_x070_TMix_one`)
// ---------------------------------------------------------------------------------------------

/**
 * Time mix of one token.
 *
 * @param p       this layer's weights
 * @param xPrev   [C] state `att_x_prev`: the previous token's ln1 output; overwritten with xx
 * @param S       [H][N][N] state `att_kv`, S[h][i=value][j=key]; updated in place
 * @param xx      [C] this token's ln1 output
 * @param vFirst  [C] layer 0's value for this token; undefined in layer 0 itself
 * @returns out [C] (to be added to the residual stream) and v [C] (layer 0: becomes v_first)
 */
export function timeMixToken(
  p: TimeMixWeights,
  xPrev: Float64Array,
  S: Float64Array[][],
  xx: Float64Array,
  vFirst: Float64Array | undefined,
): { out: Float64Array; v: Float64Array } {
  const { H, N } = p;
  const C = xx.length;

  // d = x_prev − xx                      (token shift: previous token minus this one)
  const d = new Float64Array(C);
  for (let c = 0; c < C; c++) d[c] = xPrev[c]! - xx[c]!;

  // xr = xx + d∘x_r,  xw = xx + d∘x_w,  …,  xg = xx + d∘x_g
  const xr = new Float64Array(C);
  const xw = new Float64Array(C);
  const xk = new Float64Array(C);
  const xv = new Float64Array(C);
  const xa = new Float64Array(C);
  const xg = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    xr[c] = xx[c]! + d[c]! * p.x_r[c]!;
    xw[c] = xx[c]! + d[c]! * p.x_w[c]!;
    xk[c] = xx[c]! + d[c]! * p.x_k[c]!;
    xv[c] = xx[c]! + d[c]! * p.x_v[c]!;
    xa[c] = xx[c]! + d[c]! * p.x_a[c]!;
    xg[c] = xx[c]! + d[c]! * p.x_g[c]!;
  }

  // x_prev ← xx                          (the state the next token will shift from)
  xPrev.set(xx);

  // r = xr·Wr
  const r = linear(p.receptance, xr);

  // w' = tanh(xw·w1)·w2                  (decay LoRA)
  const wLora = vecMat(map(Math.tanh, vecMat(xw, p.w1)), p.w2);

  // w = exp(−e^−0.5 · σ(w0 + w'))        (decay multiplier, in (e^−e^−0.5, 1) ≈ (0.545, 1))
  const w = new Float64Array(C);
  for (let c = 0; c < C; c++) w[c] = Math.exp(-DECAY_SCALE * sigmoid(p.w0[c]! + wLora[c]!));

  // k = xk·Wk
  const k = linear(p.key, xk);

  // v = xv·Wv
  const v = linear(p.value, xv);

  // a = σ(a0 + (xa·a1)·a2)               (in-context learning rate, "iclr")
  const aLora = vecMat(vecMat(xa, p.a1), p.a2);
  const a = new Float64Array(C);
  for (let c = 0; c < C; c++) a[c] = sigmoid(p.a0[c]! + aLora[c]!);

  // g = σ(xg·g1)·g2                      (output gate)
  const g = vecMat(map(sigmoid, vecMat(xg, p.g1)), p.g2);

  // kk = normalize_per_head(k∘k_k)       (κ̂; uses k BEFORE the k_a update below)
  const kk = l2NormalizePerHead(mul(k, p.k_k), N);

  // k ← k ∘ (1 + (a − 1)∘k_a)
  for (let c = 0; c < C; c++) k[c] = k[c]! * (1 + (a[c]! - 1) * p.k_a[c]!);

  // layers ≥ 1:  v ← v + (v_first − v) ∘ σ(v0 + (xv·v1)·v2)       (value residual)
  // layer 0:     v stays; the caller keeps it as v_first
  if (p.valueResidual !== undefined) {
    if (vFirst === undefined) throw new Error('reference v7: layers ≥ 1 need v_first from layer 0');
    const { v0, v1, v2 } = p.valueResidual;
    const vLora = vecMat(vecMat(xv, v1), v2);
    for (let c = 0; c < C; c++) v[c] = v[c]! + (vFirst[c]! - v[c]!) * sigmoid(v0[c]! + vLora[c]!);
  }

  // WKV, per head h:  S ← S·diag(w) + (S·a)·bᵀ + v·kᵀ ;  y = S·r
  // with the kernel's DPLR pair  a = −κ̂  and  b = κ̂∘a  (here `a` on the right is the iclr)
  const negKk = new Float64Array(C);
  const kkA = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    negKk[c] = -kk[c]!;
    kkA[c] = kk[c]! * a[c]!;
  }
  const y = new Float64Array(C);
  for (let h = 0; h < H; h++) {
    const head = (x: Float64Array) => x.subarray(h * N, (h + 1) * N);
    y.set(wkvStep(S[h]!, head(r), head(w), head(k), head(v), head(negKk), head(kkA)), h * N);
  }

  // y = GroupNorm(y; ln_x), H groups of N, eps 64e-5
  const yn = groupNorm(y, p.ln_x.weight, p.ln_x.bias, N, GN_EPS);

  // y ← y + (Σ_{j∈head} r_j k_j r_k_j) · v      (per-head "bonus": the current token's own k·v)
  for (let h = 0; h < H; h++) {
    let s = 0;
    for (let j = h * N; j < (h + 1) * N; j++) s += r[j]! * k[j]! * p.r_k[j]!;
    for (let i = h * N; i < (h + 1) * N; i++) yn[i] = yn[i]! + s * v[i]!;
  }

  // out = (y∘g)·Wo
  const out = linear(p.output, mul(yn, g));
  return { out, v };
}

// ---------------------------------------------------------------------------------------------
// GPT mode: T tokens (`RWKV_x070_TMix_seq`): every projection over all rows, then the loop
// ---------------------------------------------------------------------------------------------

/**
 * Time mix of T tokens at once.
 *
 * @param p       this layer's weights
 * @param xPrev   [C] state `att_x_prev`; overwritten with the last row of xx
 * @param S       [H][N][N] state `att_kv`; updated in place (after all T tokens)
 * @param xx      [T][C] ln1 outputs
 * @param vFirst  [T][C] layer 0's values; undefined in layer 0 itself
 * @returns out [T][C] and v [T][C] (layer 0: becomes v_first)
 */
export function timeMixSequence(
  p: TimeMixWeights,
  xPrev: Float64Array,
  S: Float64Array[][],
  xx: Float64Array[],
  vFirst: Float64Array[] | undefined,
): { out: Float64Array[]; v: Float64Array[] } {
  const { N } = p;
  const T = xx.length;

  // shifted[t] = xx[t−1], shifted[0] = x_prev      (token shift of the whole sequence)
  const shifted = [Float64Array.from(xPrev), ...xx.slice(0, T - 1)];

  // d = shifted − xx                               [T][C]
  const d = xx.map((x, t) => sub(shifted[t]!, x));

  // xr = xx + d∘x_r,  …,  xg = xx + d∘x_g          [T][C] each
  const mix = (m: Float64Array) => xx.map((x, t) => add(x, mul(d[t]!, m)));
  const xr = mix(p.x_r);
  const xw = mix(p.x_w);
  const xk = mix(p.x_k);
  const xv = mix(p.x_v);
  const xa = mix(p.x_a);
  const xg = mix(p.x_g);

  // x_prev ← xx[T−1]
  xPrev.set(xx[T - 1]!);

  // r = xr·Wr                                      [T][C]
  const r = xr.map((x) => linear(p.receptance, x));

  // w' = tanh(xw·w1)·w2                           [T][C]  (decay LoRA)
  const wLora = xw.map((x) => vecMat(map(Math.tanh, vecMat(x, p.w1)), p.w2));

  // w = exp(−e^−0.5 · σ(w0 + w'))                  [T][C]
  const w = wLora.map((wl) => map((w0, wlc) => Math.exp(-DECAY_SCALE * sigmoid(w0 + wlc)), p.w0, wl));

  // k = xk·Wk                                      [T][C]  (raw key, before the k_a update)
  const kRaw = xk.map((x) => linear(p.key, x));

  // v = xv·Wv                                      [T][C]  (before the value residual)
  const vRaw = xv.map((x) => linear(p.value, x));

  // a = σ(a0 + (xa·a1)·a2)                         [T][C]
  const aLora = xa.map((x) => vecMat(vecMat(x, p.a1), p.a2));
  const a = aLora.map((al) => map((a0, alc) => sigmoid(a0 + alc), p.a0, al));

  // g = σ(xg·g1)·g2                                [T][C]
  const g = xg.map((x) => vecMat(map(sigmoid, vecMat(x, p.g1)), p.g2));

  // kk = normalize_per_head(k∘k_k)                 [T][C]  (from the raw key)
  const kk = kRaw.map((k) => l2NormalizePerHead(mul(k, p.k_k), N));

  // k = k ∘ (1 + (a − 1)∘k_a)                      [T][C]
  const k = kRaw.map((k0, t) => map((kc, ac, ka) => kc * (1 + (ac - 1) * ka), k0, a[t]!, p.k_a));

  // v = v + (v_first − v) ∘ σ(v0 + (xv·v1)·v2)    [T][C]  (layers ≥ 1; layer 0 keeps v)
  let v = vRaw;
  if (p.valueResidual !== undefined) {
    if (vFirst === undefined) throw new Error('reference v7: layers ≥ 1 need v_first from layer 0');
    const { v0, v1, v2 } = p.valueResidual;
    const vLora = xv.map((x) => vecMat(vecMat(x, v1), v2));
    v = vRaw.map((vt, t) => map((vc, vf, v0c, vl) => vc + (vf - vc) * sigmoid(v0c + vl), vt, vFirst[t]!, v0, vLora[t]!));
  }

  // WKV recurrence over t, per head, with the kernel's DPLR pair  a = −κ̂,  b = κ̂∘a(iclr)
  const y = wkvSequence(
    S,
    r,
    w,
    k,
    v,
    kk.map((kkt) => map((x) => -x, kkt)),
    kk.map((kkt, t) => mul(kkt, a[t]!)),
  );

  // y = GroupNorm(y; ln_x) per row, H groups of N, eps 64e-5
  const yn = y.map((yt) => groupNorm(yt, p.ln_x.weight, p.ln_x.bias, N, GN_EPS));

  // y = y + (Σ_{j∈head} r_j k_j r_k_j) · v        (per-head bonus)
  const bonus = r.map((rt, t) => headSums(mul(mul(rt, k[t]!), p.r_k), N));
  const yb = yn.map((yt, t) => add(yt, mul(repeatPerHead(bonus[t]!, N), v[t]!)));

  // out = (y∘g)·Wo                                 [T][C]
  const out = yb.map((yt, t) => linear(p.output, mul(yt, g[t]!)));
  return { out, v };
}

/** Σ over each head's N channels: [C] → [H]. */
function headSums(x: Float64Array, N: number): Float64Array {
  const s = new Float64Array(x.length / N);
  for (let c = 0; c < x.length; c++) s[Math.floor(c / N)]! += x[c]!;
  return s;
}

/** Each head's scalar repeated over its N channels: [H] → [C]. */
function repeatPerHead(s: Float64Array, N: number): Float64Array {
  return Float64Array.from({ length: s.length * N }, (_, c) => s[Math.floor(c / N)]!);
}
