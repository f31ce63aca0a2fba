// RWKV-7 "Goose" (x070) model, with or without DeepEmbed: embedding → L blocks → head.
//
// Mirrors: rwkv/model.py (pip 0.8.32) class `RWKV_x070` (L223-608): `forward` dispatching to
// `forward_one` (RNN mode, here `forwardToken`) or `forward_seq` (GPT mode, here
// `forwardSequence`); RWKV-LM `RWKV-v7/rwkv_v7_numpy.py: RWKV7_OP / forward`.
//
// Dimensions:  T tokens · C channels · H heads · N head size · F FFN width · V vocab · L layers.
//
// Per block (pre-norm residual):
//   x ← x + TMix(LN(x; ln1))        x ← x + CMix(LN(x; ln2))
// Input x = LN(emb[token]; ln0); output logits = LN(x; ln_out)·head.
// Differences from the official loader, on purpose (this is the reference, not the engine):
// ln0 is applied at run time instead of being folded into `emb`, the DeepEmbed `s_emb` fold is
// done at run time for the token at hand, and no matrix is transposed.
//
// State (per layer, the official layout; flattenState writes exactly this order):
//   att_x_prev [C]       previous token's ln1 output   (token shift of the time mix)
//   att_kv     [H,N,N]   WKV state, [head][value i][key j]
//   ffn_x_prev [C]       previous token's ln2 output   (token shift of the channel mix)
// v_first (layer 0's value) is recomputed for every token and is not part of the state.

import { LN_EPS } from '../common/constants.ts';
import { layerNorm, linear } from '../common/linalg.ts';
import type { ReferenceModel } from '../common/model.ts';
import { countLayers, has, mat, vec, type Mat, type RefWeights } from '../common/types.ts';
import { channelMixSequence, channelMixToken, deepEmbedRow, loadChannelMix, type ChannelMixWeights } from './channel-mix.ts';
import { loadTimeMix, timeMixSequence, timeMixToken, type TimeMixWeights } from './time-mix.ts';

export interface LayerState {
  readonly attXPrev: Float64Array; // [C]
  readonly attKv: Float64Array[][]; // [H][N][N], S[h][i=value][j=key]
  readonly ffnXPrev: Float64Array; // [C]
}

export interface State {
  readonly layers: LayerState[]; // [L]
}

interface Norm {
  readonly weight: Float64Array; // [C]
  readonly bias: Float64Array; //   [C]
}

interface Block {
  readonly ln1: Norm;
  readonly ln2: Norm;
  readonly att: TimeMixWeights;
  readonly ffn: ChannelMixWeights;
}

const norm = (w: RefWeights, prefix: string): Norm => ({ weight: vec(w, `${prefix}.weight`), bias: vec(w, `${prefix}.bias`) });

export function createModel(weights: RefWeights): ReferenceModel<State> {
  // ---- configuration, from shapes (nothing is read from file metadata) ----
  // V and C from the embedding, L from the largest block index, H and N from att.r_k [H, N],
  // F and the LoRA ranks from their own matrices when they are used.
  const emb: Mat = mat(weights, 'emb.weight'); // [V, C]
  const V = emb.rows;
  const C = emb.cols;
  const L = countLayers(weights);
  const blocks: Block[] = [];
  for (let l = 0; l < L; l++) {
    blocks.push({
      ln1: norm(weights, `blocks.${l}.ln1`),
      ln2: norm(weights, `blocks.${l}.ln2`),
      att: loadTimeMix(weights, l),
      ffn: loadChannelMix(weights, l),
    });
  }
  const { H, N } = blocks[0]!.att;
  if (H * N !== C) throw new Error(`reference v7: att.r_k says ${H} heads × ${N}, but emb.weight has C = ${C}`);
  // ln0 exists in block 0 only: it normalises the embedding before the first block
  const ln0 = norm(weights, 'blocks.0.ln0');
  const lnOut = norm(weights, 'ln_out');
  const head: Mat = mat(weights, 'head.weight'); // [V, C], Linear [out, in]
  // DeepEmbed ("rwkv7a") checkpoints carry ffn.s_emb in every block
  const deepEmbed = has(weights, 'blocks.0.ffn.s_emb.weight');

  /** x = LN(emb[token]; ln0)   [C]  (the official loader folds this into emb; we do it here) */
  function embed(token: number): Float64Array {
    if (!Number.isInteger(token) || token < 0 || token >= V) {
      throw new Error(`reference v7: token ${token} is outside the vocabulary [0, ${V})`);
    }
    return layerNorm(emb.data.subarray(token * C, (token + 1) * C), ln0.weight, ln0.bias, LN_EPS);
  }

  /** logits = LN(x; ln_out)·head   [V] */
  function logits(x: Float64Array): Float64Array {
    return linear(head, layerNorm(x, lnOut.weight, lnOut.bias, LN_EPS));
  }

  /** A fresh state: every entry zero (v7 has no v4-style −1e30 and no tuned initial state). */
  function initialState(): State {
    const layers: LayerState[] = [];
    for (let l = 0; l < L; l++) {
      layers.push({
        attXPrev: new Float64Array(C),
        attKv: Array.from({ length: H }, () => Array.from({ length: N }, () => new Float64Array(N))),
        ffnXPrev: new Float64Array(C),
      });
    }
    return { layers };
  }

  function cloneState(state: State): State {
    return {
      layers: state.layers.map((s) => ({
        attXPrev: Float64Array.from(s.attXPrev),
        attKv: s.attKv.map((Sh) => Sh.map((row) => Float64Array.from(row))),
        ffnXPrev: Float64Array.from(s.ffnXPrev),
      })),
    };
  }

  /** A state of another model is a caller error, not something to compute on. */
  function checkState(state: State): void {
    if (state.layers.length !== L) throw new Error(`reference v7: state has ${state.layers.length} layers, model has ${L}`);
  }

  // ---- RNN mode (`forward_one`) ----
  function forwardToken(state: State, token: number): Float64Array {
    checkState(state);
    // x = LN(emb[token]; ln0)
    const e0 = embed(token);
    let x = e0;
    let vFirst: Float64Array | undefined;
    for (let l = 0; l < L; l++) {
      const b = blocks[l]!;
      const s = state.layers[l]!;
      // x ← x + TMix(LN(x; ln1));  layer 0's v becomes v_first for the layers above
      const att = timeMixToken(b.att, s.attXPrev, s.attKv, layerNorm(x, b.ln1.weight, b.ln1.bias, LN_EPS), vFirst);
      if (l === 0) vFirst = att.v;
      x = x.map((xc, c) => xc + att.out[c]!);
      // x ← x + CMix(LN(x; ln2))   (DeepEmbed: with this token's s_emb' row)
      const sEmb = b.ffn.deepEmbed === undefined ? undefined : deepEmbedRow(b.ffn.deepEmbed, token, e0);
      const ffn = channelMixToken(b.ffn, s.ffnXPrev, layerNorm(x, b.ln2.weight, b.ln2.bias, LN_EPS), sEmb);
      x = x.map((xc, c) => xc + ffn[c]!);
    }
    return logits(x);
  }

  // ---- GPT mode (`forward_seq`, full_output = True) ----
  function forwardSequence(state: State, tokens: readonly number[]): Float64Array[] {
    checkState(state);
    if (tokens.length === 0) throw new Error('reference v7: forwardSequence needs at least one token');
    // X = LN(emb[tokens]; ln0)          [T][C]
    const E0 = tokens.map(embed);
    let X = E0;
    let vFirst: Float64Array[] | undefined;
    for (let l = 0; l < L; l++) {
      const b = blocks[l]!;
      const s = state.layers[l]!;
      // X ← X + TMix(LN(X; ln1))        (row-wise LN)
      const att = timeMixSequence(
        b.att,
        s.attXPrev,
        s.attKv,
        X.map((x) => layerNorm(x, b.ln1.weight, b.ln1.bias, LN_EPS)),
        vFirst,
      );
      if (l === 0) vFirst = att.v;
      X = X.map((x, t) => x.map((xc, c) => xc + att.out[t]![c]!));
      // X ← X + CMix(LN(X; ln2))
      const de = b.ffn.deepEmbed;
      const sEmb = de === undefined ? undefined : tokens.map((tok, t) => deepEmbedRow(de, tok, E0[t]!));
      const ffn = channelMixSequence(
        b.ffn,
        s.ffnXPrev,
        X.map((x) => layerNorm(x, b.ln2.weight, b.ln2.bias, LN_EPS)),
        sEmb,
      );
      X = X.map((x, t) => x.map((xc, c) => xc + ffn[t]![c]!));
    }
    // logits at every position        [T][V]  (model.py's full_output = True)
    return X.map(logits);
  }

  /** Per layer: att_x_prev [C], att_kv [H][N value][N key] row-major, ffn_x_prev [C]. */
  function flattenState(state: State): Float64Array {
    checkState(state);
    const out = new Float64Array(L * (2 * C + H * N * N));
    let o = 0;
    for (const s of state.layers) {
      out.set(s.attXPrev, o);
      o += C;
      for (const Sh of s.attKv) {
        for (const row of Sh) {
          out.set(row, o);
          o += N;
        }
      }
      out.set(s.ffnXPrev, o);
      o += C;
    }
    return out;
  }

  return {
    version: deepEmbed ? '7-deepembed' : '7',
    nLayer: L,
    nEmbd: C,
    nVocab: V,
    initialState,
    cloneState,
    forwardToken,
    forwardSequence,
    flattenState,
  };
}
