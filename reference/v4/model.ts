// RWKV-4 model: embedding → ln0 → L × (time mix, channel mix) → ln_out → head.
// Mirrors rwkv/model.py `RWKV.forward` for version 4 (L1443-1677): forwardToken is the
// RNN path (`att_one`, `ffn_one`, one token per call), forwardSequence the GPT path (`att_seq`,
// `ffn_seq`, T tokens per call). The two are written separately on purpose: their agreement is
// a test, not a tautology.
//
// Dimensions: T tokens, C n_embd, F FFN width, V vocabulary, L layers.
// Unlike model.py, nothing is folded at load time: ln0 is a LayerNorm applied to the embedding
// row on every call, time_decay is turned into −exp(time_decay) where the WKV needs it, and every
// matrix keeps its checkpoint layout [out, in].
//
// State (docs/fixtures.md "The official state layout"; model.py L1448-1471, state list
// 5i+0 .. 5i+4), per layer, each [C]:
//   att_x_prev, att_aa, att_bb, att_pp, ffn_x_prev (the fields attXPrev, attAa, attBb, attPp,
//   ffnXPrev of LayerState, the names src/model's blocks read them by).

import { V4_PP_INIT, LN_EPS } from '../common/constants.ts';
import { layerNorm, linear } from '../common/linalg.ts';
import type { ReferenceModel } from '../common/model.ts';
import { countLayers, mat, vec, type Mat, type RefWeights } from '../common/types.ts';
import { channelMixSequence, channelMixToken, type ChannelMixState, type ChannelMixWeights } from './channel-mix.ts';
import { timeMixSequence, timeMixToken, type TimeMixState, type TimeMixWeights } from './time-mix.ts';

/** One layer's state; the field order is the official flattening order. */
export interface LayerState extends TimeMixState, ChannelMixState {}

/** The whole state: one entry per layer. */
export type State = LayerState[];

interface BlockWeights {
  'ln1.weight': Float64Array; // [C]
  'ln1.bias': Float64Array; // [C]
  'ln2.weight': Float64Array; // [C]
  'ln2.bias': Float64Array; // [C]
  att: TimeMixWeights;
  ffn: ChannelMixWeights;
}

function readBlock(w: RefWeights, i: number): BlockWeights {
  const b = `blocks.${i}.`;
  return {
    'ln1.weight': vec(w, `${b}ln1.weight`),
    'ln1.bias': vec(w, `${b}ln1.bias`),
    'ln2.weight': vec(w, `${b}ln2.weight`),
    'ln2.bias': vec(w, `${b}ln2.bias`),
    att: {
      time_mix_k: vec(w, `${b}att.time_mix_k`),
      time_mix_v: vec(w, `${b}att.time_mix_v`),
      time_mix_r: vec(w, `${b}att.time_mix_r`),
      time_decay: vec(w, `${b}att.time_decay`),
      time_first: vec(w, `${b}att.time_first`),
      'key.weight': mat(w, `${b}att.key.weight`),
      'value.weight': mat(w, `${b}att.value.weight`),
      'receptance.weight': mat(w, `${b}att.receptance.weight`),
      'output.weight': mat(w, `${b}att.output.weight`),
    },
    ffn: {
      time_mix_k: vec(w, `${b}ffn.time_mix_k`),
      time_mix_r: vec(w, `${b}ffn.time_mix_r`),
      'key.weight': mat(w, `${b}ffn.key.weight`),
      'receptance.weight': mat(w, `${b}ffn.receptance.weight`),
      'value.weight': mat(w, `${b}ffn.value.weight`),
    },
  };
}

export function createModel(weights: RefWeights): ReferenceModel<State> {
  const emb = mat(weights, 'emb.weight'); // [V, C]
  const V = emb.rows;
  const C = emb.cols;
  const L = countLayers(weights);
  const ln0w = vec(weights, 'blocks.0.ln0.weight'); // [C]
  const ln0b = vec(weights, 'blocks.0.ln0.bias'); // [C]
  const blocks: BlockWeights[] = [];
  for (let i = 0; i < L; i++) blocks.push(readBlock(weights, i));
  const lnOutW = vec(weights, 'ln_out.weight'); // [C]
  const lnOutB = vec(weights, 'ln_out.bias'); // [C]
  const head: Mat = mat(weights, 'head.weight'); // [V, C]

  /** x = LN(emb[token]; ln0)   [C] */
  function embed(token: number): Float64Array {
    if (!Number.isInteger(token) || token < 0 || token >= V) {
      throw new Error(`reference v4: token ${token} outside the vocabulary [0, ${V})`);
    }
    return layerNorm(emb.data.subarray(token * C, (token + 1) * C), ln0w, ln0b, LN_EPS);
  }

  /** logits = LN(x; ln_out)·Wheadᵀ   [V] */
  function logits(x: Float64Array): Float64Array {
    return linear(head, layerNorm(x, lnOutW, lnOutB, LN_EPS));
  }

  function initialState(): State {
    const state: State = [];
    for (let i = 0; i < L; i++) {
      state.push({
        attXPrev: new Float64Array(C),
        attAa: new Float64Array(C),
        attBb: new Float64Array(C),
        // pp starts at "minus infinity" so that the first token sets the scale
        attPp: new Float64Array(C).fill(V4_PP_INIT),
        ffnXPrev: new Float64Array(C),
      });
    }
    return state;
  }

  function cloneState(state: State): State {
    return state.map((s) => ({
      attXPrev: s.attXPrev.slice(),
      attAa: s.attAa.slice(),
      attBb: s.attBb.slice(),
      attPp: s.attPp.slice(),
      ffnXPrev: s.ffnXPrev.slice(),
    }));
  }

  function forwardToken(state: State, token: number): Float64Array {
    let x = embed(token);
    for (let i = 0; i < L; i++) {
      const b = blocks[i]!;
      // x = x + TimeMix(LN(x; ln1))
      const xa = layerNorm(x, b['ln1.weight']!, b['ln1.bias']!, LN_EPS);
      const att = timeMixToken(b.att, xa, state[i]!);
      x = x.map((xc, c) => xc + att[c]!);
      // x = x + ChannelMix(LN(x; ln2))
      const xf = layerNorm(x, b['ln2.weight']!, b['ln2.bias']!, LN_EPS);
      const ffn = channelMixToken(b.ffn, xf, state[i]!);
      x = x.map((xc, c) => xc + ffn[c]!);
    }
    return logits(x);
  }

  function forwardSequence(state: State, tokens: readonly number[]): Float64Array[] {
    if (tokens.length === 0) throw new Error('reference v4: forwardSequence needs at least one token');
    // X = LN(emb[tokens]; ln0)   [T][C]
    let X = tokens.map(embed);
    for (let i = 0; i < L; i++) {
      const b = blocks[i]!;
      // X = X + TimeMix(LN(X; ln1)), all T rows at once
      const XA = X.map((x) => layerNorm(x, b['ln1.weight']!, b['ln1.bias']!, LN_EPS));
      const att = timeMixSequence(b.att, XA, state[i]!);
      X = X.map((x, t) => x.map((xc, c) => xc + att[t]![c]!));
      // X = X + ChannelMix(LN(X; ln2))
      const XF = X.map((x) => layerNorm(x, b['ln2.weight']!, b['ln2.bias']!, LN_EPS));
      const ffn = channelMixSequence(b.ffn, XF, state[i]!);
      X = X.map((x, t) => x.map((xc, c) => xc + ffn[t]![c]!));
    }
    return X.map(logits);
  }

  function flattenState(state: State): Float64Array {
    const flat = new Float64Array(L * 5 * C);
    state.forEach((s, i) => {
      // per layer: att_x_prev, att_aa, att_bb, att_pp, ffn_x_prev
      [s.attXPrev, s.attAa, s.attBb, s.attPp, s.ffnXPrev].forEach((part, j) => flat.set(part, (i * 5 + j) * C));
    });
    return flat;
  }

  return { version: '4', nLayer: L, nEmbd: C, nVocab: V, initialState, cloneState, forwardToken, forwardSequence, flattenState };
}
