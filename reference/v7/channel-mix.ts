// RWKV-7 channel mix (the feed-forward block): token shift → relu² key → value, with the
// optional DeepEmbed modulation of the hidden layer by a per-token embedding.
//
// Mirrors: rwkv/model.py (pip 0.8.32) `RWKV_x070_CMix_one` / `RWKV_x070_CMix_seq`
// (L597-601), and, for DeepEmbed (`RWKV_DE_VERSION=1`, models "rwkv7a-*"), the same functions'
// DeepEmbed branch (L578-584) with the load-time fold of L274-277 done here at run time;
// RWKV-LM `RWKV-v7/rwkv_v7_numpy.py: channel_mixing`; DeepEmbed fixture: docs/fixtures.md.
//
// Dimensions:  T tokens · C channels · F FFN width (4C in released models) · V vocab
//              D DeepEmbed rank (32): s_emb rows hold a D×D matrix (D² = 1024).
// Weights keep their checkpoint keys and orientation (Linear [out, in], s1/s2 [in, out]).
// Unlike v4–v6 there is no receptance gate in the v7 channel mix.

import { add, linear, map, mul, relu, sub, vecMat } from '../common/linalg.ts';
import { has, mat, vec, type Mat, type RefWeights } from '../common/types.ts';

/** DeepEmbed tensors of one layer (`blocks.<l>.ffn.s*`). */
export interface DeepEmbedWeights {
  readonly D: number;
  readonly s_emb: Mat; //   [V, D²]  per-token D×D matrices (row-major)
  readonly s_emb_x: Mat; // [D², C]  Linear weight: ln0(emb[t]) · s_embᵀ_x is added to s_emb[t]
  readonly s1: Mat; //      [C, D]
  readonly s2: Mat; //      [D, F]
  readonly s0: Float64Array; // [F] (checkpoint [1, 1, F])
}

/** The weights of one layer's channel mix, under their checkpoint names (`blocks.<l>.ffn.*`). */
export interface ChannelMixWeights {
  readonly x_k: Float64Array; // [C] token-shift mix (checkpoint [1, 1, C])
  readonly key: Mat; //          [F, C]
  readonly value: Mat; //        [C, F]
  readonly deepEmbed: DeepEmbedWeights | undefined;
}

export function loadChannelMix(weights: RefWeights, layer: number): ChannelMixWeights {
  const p = `blocks.${layer}.ffn.`;
  let deepEmbed: DeepEmbedWeights | undefined;
  if (has(weights, `${p}s_emb.weight`)) {
    const s1 = mat(weights, `${p}s1`);
    const s_emb = mat(weights, `${p}s_emb.weight`);
    if (s_emb.cols !== s1.cols * s1.cols) {
      throw new Error(`reference v7: ${p}s_emb.weight rows must hold a ${s1.cols}×${s1.cols} matrix, got ${s_emb.cols} values`);
    }
    deepEmbed = {
      D: s1.cols,
      s_emb,
      s_emb_x: mat(weights, `${p}s_emb_x.weight`),
      s1,
      s2: mat(weights, `${p}s2`),
      s0: vec(weights, `${p}s0`),
    };
  }
  return {
    x_k: vec(weights, `${p}x_k`),
    key: mat(weights, `${p}key.weight`),
    value: mat(weights, `${p}value.weight`),
    deepEmbed,
  };
}

/**
 * The DeepEmbed row of `token`, folded at run time (the official loader does it once for all V):
 *   s_emb'[t] = s_emb[t] + ln0(emb[t]) · s_emb_xᵀ          [D²]
 * @param e0  [C] ln0(emb[token]), the block-0 input of this token
 */
export function deepEmbedRow(de: DeepEmbedWeights, token: number, e0: Float64Array): Float64Array {
  const row = de.s_emb.data.subarray(token * de.s_emb.cols, (token + 1) * de.s_emb.cols);
  return add(row, linear(de.s_emb_x, e0));
}

// ---------------------------------------------------------------------------------------------
// RNN mode: one token (`RWKV_x070_CMix_one`)
// ---------------------------------------------------------------------------------------------

/**
 * Channel mix of one token.
 *
 * @param p      this layer's weights
 * @param xPrev  [C] state `ffn_x_prev`: the previous token's ln2 output; overwritten with xx
 * @param xx     [C] this token's ln2 output
 * @param sEmb   [D²] DeepEmbed only: `deepEmbedRow` of this token
 * @returns      [C] out, to be added to the residual stream
 */
export function channelMixToken(p: ChannelMixWeights, xPrev: Float64Array, xx: Float64Array, sEmb: Float64Array | undefined): Float64Array {
  const C = xx.length;

  // xk = xx + (x_prev − xx)∘x_k          (token shift)
  const xk = new Float64Array(C);
  for (let c = 0; c < C; c++) xk[c] = xx[c]! + (xPrev[c]! - xx[c]!) * p.x_k[c]!;

  // x_prev ← xx
  xPrev.set(xx);

  // k = relu(xk·Wk)²                     [F]
  const k = linear(p.key, xk);
  for (let f = 0; f < k.length; f++) k[f] = relu(k[f]!) ** 2;

  const de = p.deepEmbed;
  if (de !== undefined) {
    if (sEmb === undefined) throw new Error("reference v7: a DeepEmbed channel mix needs the token's s_emb row");
    // ss = (xx·s1) · reshape(s_emb'[token], D×D)       [D]   (xx: the ln2 output, not shifted)
    const ss = vecMat(vecMat(xx, de.s1), { rows: de.D, cols: de.D, data: sEmb });
    // k ← k ∘ (ss·s2 + s0)                              [F]
    const scale = vecMat(ss, de.s2);
    for (let f = 0; f < k.length; f++) k[f] = k[f]! * (scale[f]! + de.s0[f]!);
  }

  // out = k·Wv                           [C]
  return linear(p.value, k);
}

// ---------------------------------------------------------------------------------------------
// GPT mode: T tokens (`RWKV_x070_CMix_seq`)
// ---------------------------------------------------------------------------------------------

/**
 * Channel mix of T tokens at once.
 *
 * @param p      this layer's weights
 * @param xPrev  [C] state `ffn_x_prev`; overwritten with the last row of xx
 * @param xx     [T][C] ln2 outputs
 * @param sEmb   [T][D²] DeepEmbed only: `deepEmbedRow` of each token
 * @returns      [T][C] out
 */
export function channelMixSequence(
  p: ChannelMixWeights,
  xPrev: Float64Array,
  xx: Float64Array[],
  sEmb: Float64Array[] | undefined,
): Float64Array[] {
  const T = xx.length;

  // shifted[t] = xx[t−1], shifted[0] = x_prev
  const shifted = [Float64Array.from(xPrev), ...xx.slice(0, T - 1)];

  // xk = xx + (shifted − xx)∘x_k         [T][C]
  const xk = xx.map((x, t) => add(x, mul(sub(shifted[t]!, x), p.x_k)));

  // x_prev ← xx[T−1]
  xPrev.set(xx[T - 1]!);

  // k = relu(xk·Wk)²                     [T][F]
  let k = xk.map((x) => map((z) => relu(z) ** 2, linear(p.key, x)));

  const de = p.deepEmbed;
  if (de !== undefined) {
    if (sEmb === undefined) throw new Error("reference v7: a DeepEmbed channel mix needs the tokens' s_emb rows");
    // ss = (xx·s1) · reshape(s_emb'[token_t], D×D)     [T][D]
    const ss = xx.map((x, t) => vecMat(vecMat(x, de.s1), { rows: de.D, cols: de.D, data: sEmb[t]! }));
    // k = k ∘ (ss·s2 + s0)                              [T][F]
    k = k.map((kt, t) => mul(kt, add(vecMat(ss[t]!, de.s2), de.s0)));
  }

  // out = k·Wv                           [T][C]
  return k.map((kt) => linear(p.value, kt));
}
