// RWKV-4 time mixing (the "attention" block): token shift → r, k, v → WKV → r∘wkv → output.
// Mirrors rwkv/model.py `att_one` (timeMixToken) and `att_seq` (timeMixSequence),
// model.py L1034-1086.
// The official functions also apply ln1 and add the residual; here the block in model.ts does
// both, so these functions take xx = LN(x; ln1) and return only the block's output.
//
// Dimensions: T tokens, C channels (= A, the attention width).
// Weights keep their checkpoint names (blocks.<i>.att.*), with the stored shapes:
//   time_mix_k/v/r [1,1,C] (read as [C]) · time_decay, time_first [C] (raw) ·
//   key/value/receptance.weight [C, C] ([out, in]) · output.weight [C, C].

import { linear, sigmoid } from '../common/linalg.ts';
import type { Mat } from '../common/types.ts';
import { wkvSequence, wkvStep, type WkvState } from './wkv.ts';

export interface TimeMixWeights {
  time_mix_k: Float64Array; // [C]
  time_mix_v: Float64Array; // [C]
  time_mix_r: Float64Array; // [C]
  time_decay: Float64Array; // [C] raw; the decay is w = −exp(time_decay)
  time_first: Float64Array; // [C] the bonus u, used as is
  'key.weight': Mat; // [C, C]
  'value.weight': Mat; // [C, C]
  'receptance.weight': Mat; // [C, C]
  'output.weight': Mat; // [C, C]
}

/** The time-mix part of a layer's state: the previous token's xx and the WKV state (aa, bb, pp). */
export interface TimeMixState {
  attXPrev: Float64Array; // [C] LN(x; ln1) of the previous token ("sx")
  attAa: Float64Array; // [C] WKV numerator   · e^{−pp}
  attBb: Float64Array; // [C] WKV denominator · e^{−pp}
  attPp: Float64Array; // [C] running max exponent
}

/** The WKV state inside a layer's state (the same arrays: the WKV advances them in place). */
function wkvState(s: TimeMixState): WkvState {
  return { aa: s.attAa, bb: s.attBb, pp: s.attPp };
}

/** w = −exp(time_decay): the per-channel log-decay (negative), applied at run time. */
function logDecay(att: TimeMixWeights): Float64Array {
  return att.time_decay.map((d) => -Math.exp(d));
}

/** One token. xx [C] = LN(x; ln1). Returns the output [C] to add to x; updates s in place. */
export function timeMixToken(att: TimeMixWeights, xx: Float64Array, s: TimeMixState): Float64Array {
  const C = xx.length;
  const sx = s.attXPrev;
  // token shift: kx = xx∘μk + sx∘(1−μk), and likewise vx, rx
  const kx = new Float64Array(C);
  const vx = new Float64Array(C);
  const rx = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    kx[c] = xx[c]! * att.time_mix_k[c]! + sx[c]! * (1 - att.time_mix_k[c]!);
    vx[c] = xx[c]! * att.time_mix_v[c]! + sx[c]! * (1 - att.time_mix_v[c]!);
    rx[c] = xx[c]! * att.time_mix_r[c]! + sx[c]! * (1 - att.time_mix_r[c]!);
  }
  // sx ← xx (the next token shifts against this one)
  s.attXPrev = xx;

  // r = σ(rx·Wr) ; k = kx·Wk ; v = vx·Wv
  const r = linear(att['receptance.weight'], rx).map(sigmoid);
  const k = linear(att['key.weight'], kx);
  const v = linear(att['value.weight'], vx);

  // wkv = WKV(w, u, k, v), state (aa, bb, pp) advanced
  const wkv = wkvStep(wkvState(s), logDecay(att), att.time_first, k, v);

  // out = (r∘wkv)·Wo
  const rwkv = new Float64Array(C);
  for (let c = 0; c < C; c++) rwkv[c] = r[c]! * wkv[c]!;
  return linear(att['output.weight'], rwkv);
}

/**
 * T tokens at once. xx [T][C] = LN(x; ln1) of every token. Returns the outputs [T][C];
 * the state ends as after the last token.
 */
export function timeMixSequence(att: TimeMixWeights, xx: Float64Array[], s: TimeMixState): Float64Array[] {
  const T = xx.length;
  const C = xx[0]!.length;
  // sx = [sx_prev; xx[0 .. T−2]]: each token's shift partner is the token before it
  const sx = [s.attXPrev, ...xx.slice(0, T - 1)];
  s.attXPrev = xx[T - 1]!;

  // all projections first, [T][C] each
  const r: Float64Array[] = [];
  const k: Float64Array[] = [];
  const v: Float64Array[] = [];
  for (let t = 0; t < T; t++) {
    const kx = new Float64Array(C);
    const vx = new Float64Array(C);
    const rx = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      // kx = xx∘μk + sx∘(1−μk) ; vx, rx likewise
      kx[c] = xx[t]![c]! * att.time_mix_k[c]! + sx[t]![c]! * (1 - att.time_mix_k[c]!);
      vx[c] = xx[t]![c]! * att.time_mix_v[c]! + sx[t]![c]! * (1 - att.time_mix_v[c]!);
      rx[c] = xx[t]![c]! * att.time_mix_r[c]! + sx[t]![c]! * (1 - att.time_mix_r[c]!);
    }
    // r = σ(rx·Wr) ; k = kx·Wk ; v = vx·Wv
    r.push(linear(att['receptance.weight'], rx).map(sigmoid));
    k.push(linear(att['key.weight'], kx));
    v.push(linear(att['value.weight'], vx));
  }

  // the recurrence over t
  const wkv = wkvSequence(wkvState(s), logDecay(att), att.time_first, k, v);

  // out[t] = (r[t]∘wkv[t])·Wo
  const out: Float64Array[] = [];
  for (let t = 0; t < T; t++) {
    const rwkv = new Float64Array(C);
    for (let c = 0; c < C; c++) rwkv[c] = r[t]![c]! * wkv[t]![c]!;
    out.push(linear(att['output.weight'], rwkv));
  }
  return out;
}
