// RWKV-5 model (5.0, 5.1, 5.2): embedding → ln0 → L × (time mix, channel mix) → ln_out → head.
// Mirrors rwkv/model.py `RWKV.forward` for versions 5.x (L1443-1677): forwardToken is the
// RNN path (`att_one_v5*`, `ffn_one`), forwardSequence the GPT path (`att_seq_v5*`, `ffn_seq`),
// written separately so that their agreement means something.
//
// Dimensions: T tokens, C n_embd, H heads, N head size (C = H·N), F FFN width, V vocab, L layers.
// Nothing is folded at load time: ln0 is applied to the embedding row on every call; decays and
// bonuses are transformed where the WKV uses them (time-mix.ts); matrices keep [out, in].
//
// Which 5.x (decided from key names and shapes, not key order; model.py L658-675 uses
// `gate.weight` and the shape of `att.time_decay` too, but in key order):
//   att.time_faaaa present (time_decay [H, N])  → 5.2
//   att.gate.weight present, time_decay [H]      → 5.1
//   no gate, time_decay [H]                      → 5.0
//
// State (docs/fixtures.md "The official state layout"; model.py L1448-1471, list entries
// 3i+0 .. 3i+2), per layer:
//   att_x_prev [C], att_kv [H, N, N] indexed [head][key i][value j], ffn_x_prev [C].

import { LN_EPS } from '../common/constants.ts';
import { layerNorm, linear } from '../common/linalg.ts';
import type { ReferenceModel } from '../common/model.ts';
import { countLayers, mat, vec, type Mat, type RefWeights } from '../common/types.ts';
import { channelMixSequence, channelMixToken, type ChannelMixState, type ChannelMixWeights } from './channel-mix.ts';
import { timeMixSequence, timeMixToken, type TimeMixState, type TimeMixWeights, type V5Version } from './time-mix.ts';

export interface LayerState extends TimeMixState, ChannelMixState {}
export type State = LayerState[];

interface BlockWeights {
  'ln1.weight': Float64Array; // [C]
  'ln1.bias': Float64Array; // [C]
  'ln2.weight': Float64Array; // [C]
  'ln2.bias': Float64Array; // [C]
  att: TimeMixWeights;
  ffn: ChannelMixWeights;
}

function shapeOf(w: RefWeights, key: string): readonly number[] {
  const t = w.get(key);
  if (t === undefined) throw new Error(`reference v5: missing tensor ${key}`);
  return t.shape;
}

/** 5.0 / 5.1 / 5.2 from the tensor names and the rank of time_decay (see the table above). */
export function detectV5Version(w: RefWeights): V5Version {
  const decayDims = shapeOf(w, 'blocks.0.att.time_decay').filter((d) => d !== 1).length;
  const gate = w.has('blocks.0.att.gate.weight');
  if (w.has('blocks.0.att.time_faaaa')) {
    if (!gate) throw new Error('reference v5: att.time_faaaa without att.gate.weight is no known 5.x');
    return '5.2';
  }
  if (decayDims > 1) throw new Error('reference v5: time_decay is [H, N] but att.time_faaaa is missing');
  return gate ? '5.1' : '5.0';
}

/** Heads H and head size N: 5.0/5.1 from time_decay [H]; 5.2 from time_faaaa [H, N]. */
function headShape(w: RefWeights, version: V5Version, C: number): { H: number; N: number } {
  let H: number;
  if (version === '5.2') {
    const s = shapeOf(w, 'blocks.0.att.time_faaaa');
    H = s[s.length - 2]!;
  } else {
    H = shapeOf(w, 'blocks.0.att.time_decay').reduce((a, b) => a * b, 1);
  }
  if (!(H > 0) || C % H !== 0) throw new Error(`reference v5: ${C} channels do not split into ${H} heads`);
  return { H, N: C / H };
}

function readBlock(w: RefWeights, i: number, version: V5Version, H: number, N: number): BlockWeights {
  const b = `blocks.${i}.`;
  const att: TimeMixWeights = {
    version,
    H,
    N,
    time_mix_k: vec(w, `${b}att.time_mix_k`),
    time_mix_v: vec(w, `${b}att.time_mix_v`),
    time_mix_r: vec(w, `${b}att.time_mix_r`),
    time_decay: vec(w, `${b}att.time_decay`),
    'key.weight': mat(w, `${b}att.key.weight`),
    'value.weight': mat(w, `${b}att.value.weight`),
    'receptance.weight': mat(w, `${b}att.receptance.weight`),
    'output.weight': mat(w, `${b}att.output.weight`),
    'ln_x.weight': vec(w, `${b}att.ln_x.weight`),
    'ln_x.bias': vec(w, `${b}att.ln_x.bias`),
  };
  if (version === '5.2') att.time_faaaa = vec(w, `${b}att.time_faaaa`);
  else att.time_first = vec(w, `${b}att.time_first`);
  if (version !== '5.0') {
    att.time_mix_g = vec(w, `${b}att.time_mix_g`);
    att['gate.weight'] = mat(w, `${b}att.gate.weight`);
  }
  return {
    'ln1.weight': vec(w, `${b}ln1.weight`),
    'ln1.bias': vec(w, `${b}ln1.bias`),
    'ln2.weight': vec(w, `${b}ln2.weight`),
    'ln2.bias': vec(w, `${b}ln2.bias`),
    att,
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
  const version = detectV5Version(weights);
  const { H, N } = headShape(weights, version, C);
  const ln0w = vec(weights, 'blocks.0.ln0.weight'); // [C]
  const ln0b = vec(weights, 'blocks.0.ln0.bias'); // [C]
  const blocks: BlockWeights[] = [];
  for (let i = 0; i < L; i++) blocks.push(readBlock(weights, i, version, H, N));
  const lnOutW = vec(weights, 'ln_out.weight'); // [C]
  const lnOutB = vec(weights, 'ln_out.bias'); // [C]
  const head: Mat = mat(weights, 'head.weight'); // [V, C]

  /** x = LN(emb[token]; ln0)   [C] */
  function embed(token: number): Float64Array {
    if (!Number.isInteger(token) || token < 0 || token >= V) {
      throw new Error(`reference v5: token ${token} outside the vocabulary [0, ${V})`);
    }
    return layerNorm(emb.data.subarray(token * C, (token + 1) * C), ln0w, ln0b, LN_EPS);
  }

  /** logits = LN(x; ln_out)·Wheadᵀ   [V] */
  function logits(x: Float64Array): Float64Array {
    return linear(head, layerNorm(x, lnOutW, lnOutB, LN_EPS));
  }

  /** A zero S: [H][N][N]. */
  function zeroKv(): Float64Array[][] {
    return Array.from({ length: H }, () => Array.from({ length: N }, () => new Float64Array(N)));
  }

  function initialState(): State {
    return Array.from({ length: L }, () => ({
      attXPrev: new Float64Array(C),
      attKv: zeroKv(),
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
    if (tokens.length === 0) throw new Error('reference v5: forwardSequence needs at least one token');
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

  return { version, nLayer: L, nEmbd: C, nVocab: V, initialState, cloneState, forwardToken, forwardSequence, flattenState };
}
