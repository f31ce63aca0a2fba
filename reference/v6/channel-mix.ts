// RWKV-6 channel mixing (the feed-forward block): token shift → r, k → r∘(relu(k)²·Wv).
// Mirrors rwkv/model.py `ffn_one_v6` (channelMixToken) and `ffn_seq_v6` (channelMixSequence),
// model.py L1007-1029. Same as RWKV-4/5 except the token shift is written with time_maa:
//   kx = xx + (sx − xx)∘maa_k      (time_maa = 1 − time_mix of the older versions)
// The block in model.ts applies ln2 and adds the residual; these take xx = LN(x; ln2).
//
// Dimensions: T tokens, C channels, F hidden width (from the shapes; 3.5·C rounded to 32).
// Weights (blocks.<i>.ffn.*): time_maa_k/r [1,1,C] (read as [C]) · key.weight [F, C] ·
//   receptance.weight [C, C] · value.weight [C, F].

import { linear, relu, sigmoid } from '../common/linalg.ts';
import type { Mat } from '../common/types.ts';

export interface ChannelMixWeights {
  time_maa_k: Float64Array; // [C]
  time_maa_r: Float64Array; // [C]
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
  const kx = new Float64Array(C);
  const rx = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    // d = sx − xx
    const d = s.ffnXPrev[c]! - xx[c]!;
    // kx = xx + d∘maa_k ; rx = xx + d∘maa_r
    kx[c] = xx[c]! + d * ffn.time_maa_k[c]!;
    rx[c] = xx[c]! + d * ffn.time_maa_r[c]!;
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
    const kx = new Float64Array(C);
    const rx = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      // d = sx − xx ; kx = xx + d∘maa_k ; rx = xx + d∘maa_r
      const d = sx[t]![c]! - xx[t]![c]!;
      kx[c] = xx[t]![c]! + d * ffn.time_maa_k[c]!;
      rx[c] = xx[t]![c]! + d * ffn.time_maa_r[c]!;
    }
    out.push(feedForward(ffn, kx, rx));
  }
  return out;
}
