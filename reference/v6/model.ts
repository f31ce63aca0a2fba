// RWKV-6 model: embedding → ln0 → L × (time mix, channel mix) → ln_out → head.
// Mirrors rwkv/model.py `RWKV.forward` for version 6.0 (L1443-1677): forwardToken is the
// RNN path (`att_one_v6_0`, `ffn_one_v6`), forwardSequence the GPT path (`att_seq_v6_0`,
// `ffn_seq_v6`), written separately so that their agreement means something.
//
// Dimensions: T tokens, C n_embd, H heads, N head size (C = H·N), F FFN width, V vocab, L layers.
// Nothing is folded at load time: ln0 is applied to the embedding row on every call; the decay
// is computed per token in time-mix.ts; LoRA matrices keep checkpoint orientation; Linear
// weights keep [out, in]. H and N come from time_faaaa [H, N].
//
// State (docs/fixtures.md "The official state layout"; model.py L1448-1471, list entries
// 3i+0 .. 3i+2), per layer:
//   att_x_prev [C], att_kv [H, N, N] indexed [head][key i][value j], ffn_x_prev [C].
// State tuning: a checkpoint may hold `blocks.<i>.att.time_state` [H, N, N]. It is stored
// [head][value j][key i] (RWKV-LM's state-tuning kernel layout), so a fresh att_kv is its
// transpose in the last two dimensions (model.py `time_state.transpose(1, 2)`).

import { LN_EPS } from '../common/constants.ts';
import { layerNorm, linear } from '../common/linalg.ts';
import type { ReferenceModel } from '../common/model.ts';
import { countLayers, mat, vec, type Mat, type RefWeights } from '../common/types.ts';
import { channelMixSequence, channelMixToken, type ChannelMixState, type ChannelMixWeights } from './channel-mix.ts';
import { timeMixSequence, timeMixToken, type TimeMixState, type TimeMixWeights } from './time-mix.ts';

export interface LayerState extends TimeMixState, ChannelMixState {}
export type State = LayerState[];

interface BlockWeights {
  'ln1.weight': Float64Array; // [C]
  'ln1.bias': Float64Array; // [C]
  'ln2.weight': Float64Array; // [C]
  'ln2.bias': Float64Array; // [C]
  att: TimeMixWeights;
  ffn: ChannelMixWeights;
  time_state?: Float64Array; // [H, N, N] as stored: [head][value j][key i]
}

function shapeOf(w: RefWeights, key: string): readonly number[] {
  const t = w.get(key);
  if (t === undefined) throw new Error(`reference v6: missing tensor ${key}`);
  return t.shape;
}

/** A 3-D tensor [n, rows, cols] as n matrices [rows, cols] (e.g. time_maa_w2 [5, D, C]). */
function matStack(w: RefWeights, key: string): Mat[] {
  const shape = shapeOf(w, key);
  if (shape.length !== 3) throw new Error(`reference v6: ${key} should be 3-D, got [${shape.join(', ')}]`);
  const [n, rows, cols] = shape as [number, number, number];
  const data = vec(w, key);
  return Array.from({ length: n }, (_, i) => ({ rows, cols, data: data.subarray(i * rows * cols, (i + 1) * rows * cols) }));
}

function readBlock(w: RefWeights, i: number, H: number, N: number): BlockWeights {
  const b = `blocks.${i}.`;
  const block: BlockWeights = {
    'ln1.weight': vec(w, `${b}ln1.weight`),
    'ln1.bias': vec(w, `${b}ln1.bias`),
    'ln2.weight': vec(w, `${b}ln2.weight`),
    'ln2.bias': vec(w, `${b}ln2.bias`),
    att: {
      H,
      N,
      time_maa_x: vec(w, `${b}att.time_maa_x`),
      time_maa_w: vec(w, `${b}att.time_maa_w`),
      time_maa_k: vec(w, `${b}att.time_maa_k`),
      time_maa_v: vec(w, `${b}att.time_maa_v`),
      time_maa_r: vec(w, `${b}att.time_maa_r`),
      time_maa_g: vec(w, `${b}att.time_maa_g`),
      time_maa_w1: mat(w, `${b}att.time_maa_w1`),
      time_maa_w2: matStack(w, `${b}att.time_maa_w2`),
      time_decay: vec(w, `${b}att.time_decay`),
      time_decay_w1: mat(w, `${b}att.time_decay_w1`),
      time_decay_w2: mat(w, `${b}att.time_decay_w2`),
      time_faaaa: vec(w, `${b}att.time_faaaa`),
      'key.weight': mat(w, `${b}att.key.weight`),
      'value.weight': mat(w, `${b}att.value.weight`),
      'receptance.weight': mat(w, `${b}att.receptance.weight`),
      'gate.weight': mat(w, `${b}att.gate.weight`),
      'output.weight': mat(w, `${b}att.output.weight`),
      'ln_x.weight': vec(w, `${b}att.ln_x.weight`),
      'ln_x.bias': vec(w, `${b}att.ln_x.bias`),
    },
    ffn: {
      time_maa_k: vec(w, `${b}ffn.time_maa_k`),
      time_maa_r: vec(w, `${b}ffn.time_maa_r`),
      'key.weight': mat(w, `${b}ffn.key.weight`),
      'receptance.weight': mat(w, `${b}ffn.receptance.weight`),
      'value.weight': mat(w, `${b}ffn.value.weight`),
    },
  };
  const tsKey = `${b}att.time_state`;
  if (w.has(tsKey)) {
    const ts = vec(w, tsKey);
    if (ts.length !== H * N * N) throw new Error(`reference v6: ${tsKey} has ${ts.length} values, expected [${H}, ${N}, ${N}]`);
    block.time_state = ts;
  }
  return block;
}

export function createModel(weights: RefWeights): ReferenceModel<State> {
  const emb = mat(weights, 'emb.weight'); // [V, C]
  const V = emb.rows;
  const C = emb.cols;
  const L = countLayers(weights);
  // H, N from time_faaaa [H, N]
  const faaaa = shapeOf(weights, 'blocks.0.att.time_faaaa');
  const H = faaaa[faaaa.length - 2]!;
  const N = faaaa[faaaa.length - 1]!;
  if (faaaa.length < 2 || H * N !== C)
    throw new Error(`reference v6: time_faaaa [${faaaa.join(', ')}] does not split ${C} channels into heads`);
  const ln0w = vec(weights, 'blocks.0.ln0.weight'); // [C]
  const ln0b = vec(weights, 'blocks.0.ln0.bias'); // [C]
  const blocks: BlockWeights[] = [];
  for (let i = 0; i < L; i++) blocks.push(readBlock(weights, i, H, N));
  const lnOutW = vec(weights, 'ln_out.weight'); // [C]
  const lnOutB = vec(weights, 'ln_out.bias'); // [C]
  const head: Mat = mat(weights, 'head.weight'); // [V, C]

  /** x = LN(emb[token]; ln0)   [C] */
  function embed(token: number): Float64Array {
    if (!Number.isInteger(token) || token < 0 || token >= V) {
      throw new Error(`reference v6: token ${token} outside the vocabulary [0, ${V})`);
    }
    return layerNorm(emb.data.subarray(token * C, (token + 1) * C), ln0w, ln0b, LN_EPS);
  }

  /** logits = LN(x; ln_out)·Wheadᵀ   [V] */
  function logits(x: Float64Array): Float64Array {
    return linear(head, layerNorm(x, lnOutW, lnOutB, LN_EPS));
  }

  /** A fresh S [H][N][N]: zeros, or S[h][i][j] = time_state[h][j][i] (the stored transpose). */
  function initialKv(block: BlockWeights): Float64Array[][] {
    const ts = block.time_state;
    return Array.from({ length: H }, (_, h) =>
      Array.from({ length: N }, (_, i) => {
        const row = new Float64Array(N);
        if (ts) for (let j = 0; j < N; j++) row[j]! = ts[(h * N + j) * N + i]!;
        return row;
      }),
    );
  }

  function initialState(): State {
    return blocks.map((block) => ({
      attXPrev: new Float64Array(C),
      attKv: initialKv(block),
      ffnXPrev: new Float64Array(C),
    }));
  }

  function cloneState(state: State): State {
    return state.map((s) => ({
      attXPrev: s.attXPrev.slice(),
      attKv: s.attKv.map((Sh) => Sh.map((row) => row.slice())),
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
    if (tokens.length === 0) throw new Error('reference v6: forwardSequence needs at least one token');
    // X = LN(emb[tokens]; ln0)   [T][C]
    let X = tokens.map(embed);
    for (let i = 0; i < L; i++) {
      const b = blocks[i]!;
      // X = X + TimeMix(LN(X; ln1))
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
    const layerSize = 2 * C + H * N * N;
    const flat = new Float64Array(L * layerSize);
    state.forEach((s, i) => {
      let o = i * layerSize;
      // att_x_prev [C]
      flat.set(s.attXPrev, o);
      o += C;
      // att_kv [H, N, N] row-major: [head][key i][value j]
      for (const Sh of s.attKv) {
        for (const row of Sh) {
          flat.set(row, o);
          o += N;
        }
      }
      // ffn_x_prev [C]
      flat.set(s.ffnXPrev, o);
    });
    return flat;
  }

  return { version: '6', nLayer: L, nEmbd: C, nVocab: V, initialState, cloneState, forwardToken, forwardSequence, flattenState };
}
