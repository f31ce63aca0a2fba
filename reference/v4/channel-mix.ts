// RWKV-4 channel mixing (the feed-forward block): token shift → r, k → r∘(relu(k)²·Wv).
// Mirrors rwkv/model.py `ffn_one` (channelMixToken) and `ffn_seq` (channelMixSequence), L984-1004.
// As in time-mix.ts, the block in model.ts applies ln2 and adds the residual; these functions take
// xx = LN(x; ln2) and return the block's output.
//
// Dimensions: T tokens, C channels, F hidden width of the FFN (4·C in v4).
// Weights (blocks.<i>.ffn.*): time_mix_k/r [1,1,C] (read as [C]) · key.weight [F, C] ·
//   receptance.weight [C, C] · value.weight [C, F].

import { linear, relu, sigmoid } from '../common/linalg.ts';
import type { Mat } from '../common/types.ts';

export interface ChannelMixWeights {
  time_mix_k: Float64Array; // [C]
  time_mix_r: Float64Array; // [C]
  'key.weight': Mat; // [F, C]
  'receptance.weight': Mat; // [C, C]
  'value.weight': Mat; // [C, F]
}

export interface ChannelMixState {
  ffnXPrev: Float64Array; // [C] LN(x; ln2) of the previous token ("sx")
}

/** r∘(relu(kx·Wk)²·Wv) with r = σ(rx·Wr), for one token's mixed inputs kx, rx [C]. */
function feedForward(ffn: ChannelMixWeights, kx: Float64Array, rx: Float64Array): Float64Array {
  // r = σ(rx·Wr)
  const r = linear(ffn['receptance.weight'], rx).map(sigmoid);
  // k = relu(kx·Wk)²   [F]
  const k = linear(ffn['key.weight'], kx).map((z) => relu(z) ** 2);
  // out = r∘(k·Wv)
  const kv = linear(ffn['value.weight'], k);
  return kv.map((y, c) => r[c]! * y);
}

/** One token. xx [C] = LN(x; ln2). Returns the output [C]; updates s in place. */
export function channelMixToken(ffn: ChannelMixWeights, xx: Float64Array, s: ChannelMixState): Float64Array {
  const C = xx.length;
  const sx = s.ffnXPrev;
  // kx = xx∘μk + sx∘(1−μk) ; rx = xx∘μr + sx∘(1−μr)
  const kx = new Float64Array(C);
  const rx = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    kx[c] = xx[c]! * ffn.time_mix_k[c]! + sx[c]! * (1 - ffn.time_mix_k[c]!);
    rx[c] = xx[c]! * ffn.time_mix_r[c]! + sx[c]! * (1 - ffn.time_mix_r[c]!);
  }
  // sx ← xx
  s.ffnXPrev = xx;
  return feedForward(ffn, kx, rx);
}

/** T tokens. xx [T][C] = LN(x; ln2) of every token. Returns the outputs [T][C]. */
export function channelMixSequence(ffn: ChannelMixWeights, xx: Float64Array[], s: ChannelMixState): Float64Array[] {
  const T = xx.length;
  const C = xx[0]!.length;
  // sx = [sx_prev; xx[0 .. T−2]]
  const sx = [s.ffnXPrev, ...xx.slice(0, T - 1)];
  s.ffnXPrev = xx[T - 1]!;
  const out: Float64Array[] = [];
  for (let t = 0; t < T; t++) {
    // kx = xx∘μk + sx∘(1−μk) ; rx = xx∘μr + sx∘(1−μr)
    const kx = new Float64Array(C);
    const rx = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      kx[c] = xx[t]![c]! * ffn.time_mix_k[c]! + sx[t]![c]! * (1 - ffn.time_mix_k[c]!);
      rx[c] = xx[t]![c]! * ffn.time_mix_r[c]! + sx[t]![c]! * (1 - ffn.time_mix_r[c]!);
    }
    out.push(feedForward(ffn, kx, rx));
  }
  return out;
}
