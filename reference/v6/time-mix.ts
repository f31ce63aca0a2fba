// RWKV-6 time mixing: data-dependent token shift (LoRA) → r, k, v, g → data-dependent decay
// (LoRA) → WKV → GroupNorm(ln_x) → ∘ g → output.
// Mirrors rwkv/model.py `att_one_v6_0` (timeMixToken) and `att_seq_v6_0` (timeMixSequence),
// model.py L1263-1340. The block in model.ts applies ln1 and adds the residual; these take xx = LN(x; ln1).
//
// Dimensions: T tokens, H heads, N head size, C = H·N channels, D the token-shift LoRA rank
// (time_maa_w1 is [C, 5·D]), Dd the decay LoRA rank.
// Weights (blocks.<i>.att.*), in checkpoint orientation (used as x @ M, no transposes):
//   time_maa_x/w/k/v/r/g [1,1,C] (read as [C]) · time_maa_w1 [C, 5·D] · time_maa_w2 [5, D, C]
//   (the five [D, C] slices in the order w, k, v, r, g) · time_decay [1,1,C] (raw) ·
//   time_decay_w1 [C, Dd] · time_decay_w2 [Dd, C] · time_faaaa [H, N] (the bonus u, as is) ·
//   key/value/receptance/gate/output.weight [C, C] ([out, in]) · ln_x.weight/bias [C].

import { GN_EPS } from '../common/constants.ts';
import { groupNorm, linear, silu, vecMat } from '../common/linalg.ts';
import type { Mat } from '../common/types.ts';
import { wkvSequence, wkvStep, type WkvState } from './wkv.ts';

export interface TimeMixWeights {
  H: number; // heads
  N: number; // head size
  time_maa_x: Float64Array; // [C]
  time_maa_w: Float64Array; // [C]
  time_maa_k: Float64Array; // [C]
  time_maa_v: Float64Array; // [C]
  time_maa_r: Float64Array; // [C]
  time_maa_g: Float64Array; // [C]
  time_maa_w1: Mat; // [C, 5·D]
  time_maa_w2: Mat[]; // 5 × [D, C]: w, k, v, r, g
  time_decay: Float64Array; // [C] raw
  time_decay_w1: Mat; // [C, Dd]
  time_decay_w2: Mat; // [Dd, C]
  time_faaaa: Float64Array; // [H·N]
  'key.weight': Mat; // [C, C]
  'value.weight': Mat; // [C, C]
  'receptance.weight': Mat; // [C, C]
  'gate.weight': Mat; // [C, C]
  'output.weight': Mat; // [C, C]
  'ln_x.weight': Float64Array; // [C]
  'ln_x.bias': Float64Array; // [C]
}

export interface TimeMixState {
  attXPrev: Float64Array; // [C] LN(x; ln1) of the previous token ("sx")
  attKv: WkvState; // [H][N][N] S[head][key i][value j]
}

/** The five mixed inputs of one token, each [C]. */
interface Mixed {
  wx: Float64Array;
  kx: Float64Array;
  vx: Float64Array;
  rx: Float64Array;
  gx: Float64Array;
}

/**
 * Data-dependent token shift of one token: xx, sx [C] → wx, kx, vx, rx, gx [C].
 *   d = sx − xx ; xxx = xx + d∘maa_x
 *   (mw, mk, mv, mr, mg) = tanh(xxx @ W1) viewed [5, D], each slice @ W2[c]
 *   wx = xx + d∘(maa_w + mw), and likewise k, v, r, g
 */
function tokenShift(att: TimeMixWeights, xx: Float64Array, sx: Float64Array): Mixed {
  const C = xx.length;
  // d = sx − xx
  const d = sx.map((s, c) => s - xx[c]!);
  // xxx = xx + d∘maa_x
  const xxx = xx.map((x, c) => x + d[c]! * att.time_maa_x[c]!);
  // z = tanh(xxx @ time_maa_w1)   [5·D]
  const z = vecMat(xxx, att.time_maa_w1).map(Math.tanh);
  const D = z.length / 5;
  // m[n] = z[n·D .. n·D + D) @ time_maa_w2[n]   [C], n = w, k, v, r, g
  const m = att.time_maa_w2.map((W2, n) => vecMat(z.subarray(n * D, (n + 1) * D), W2));
  const maa = [att.time_maa_w, att.time_maa_k, att.time_maa_v, att.time_maa_r, att.time_maa_g];
  // ?x = xx + d∘(maa_? + m_?)
  const [wx, kx, vx, rx, gx] = maa.map((mu, n): Float64Array => {
    const y = new Float64Array(C);
    for (let c = 0; c < C; c++) y[c] = xx[c]! + d[c]! * (mu[c]! + m[n]![c]!);
    return y;
  }) as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
  return { wx, kx, vx, rx, gx };
}

/** w = exp(−exp(time_decay + tanh(wx @ time_decay_w1) @ time_decay_w2))   [C], this token's decay. */
function decay(att: TimeMixWeights, wx: Float64Array): Float64Array {
  // lora = tanh(wx @ Wd1) @ Wd2
  const lora = vecMat(vecMat(wx, att.time_decay_w1).map(Math.tanh), att.time_decay_w2);
  // w = exp(−exp(time_decay + lora))
  return lora.map((l, c) => Math.exp(-Math.exp(att.time_decay[c]! + l)));
}

/** out = (GN(y; ln_x, H groups, eps 64e-5) ∘ g)·Wo. */
function outputProjection(att: TimeMixWeights, y: Float64Array, g: Float64Array): Float64Array {
  // GroupNorm with one group per head
  const yn = groupNorm(y, att['ln_x.weight'], att['ln_x.bias'], att.N, GN_EPS);
  // (yn∘g)·Wo
  return linear(
    att['output.weight'],
    yn.map((o, c) => o * g[c]!),
  );
}

/** One token. xx [C] = LN(x; ln1). Returns the output [C]; updates s in place. */
export function timeMixToken(att: TimeMixWeights, xx: Float64Array, s: TimeMixState): Float64Array {
  const { wx, kx, vx, rx, gx } = tokenShift(att, xx, s.attXPrev);
  // sx ← xx
  s.attXPrev = xx;

  // r = rx·Wr ; k = kx·Wk ; v = vx·Wv ; g = silu(gx·Wg)
  const r = linear(att['receptance.weight'], rx);
  const k = linear(att['key.weight'], kx);
  const v = linear(att['value.weight'], vx);
  const g = linear(att['gate.weight'], gx).map(silu);
  // w = exp(−exp(time_decay + lora(wx)))
  const w = decay(att, wx);

  // y = r @ (u∘(k⊗v) + S) ; S = k⊗v + w∘S     with u = time_faaaa
  const y = wkvStep(s.attKv, r, k, v, w, att.time_faaaa);
  return outputProjection(att, y, g);
}

/** T tokens. xx [T][C] = LN(x; ln1). Returns the outputs [T][C]; the state ends after the last token. */
export function timeMixSequence(att: TimeMixWeights, xx: Float64Array[], s: TimeMixState): Float64Array[] {
  const T = xx.length;
  // sx = [sx_prev; xx[0 .. T−2]]
  const sx = [s.attXPrev, ...xx.slice(0, T - 1)];
  s.attXPrev = xx[T - 1]!;

  // every token's inputs first: r, k, v, g, w [T][C]
  const r: Float64Array[] = [];
  const k: Float64Array[] = [];
  const v: Float64Array[] = [];
  const g: Float64Array[] = [];
  const w: Float64Array[] = [];
  for (let t = 0; t < T; t++) {
    const mixed = tokenShift(att, xx[t]!, sx[t]!);
    r.push(linear(att['receptance.weight'], mixed.rx));
    k.push(linear(att['key.weight'], mixed.kx));
    v.push(linear(att['value.weight'], mixed.vx));
    g.push(linear(att['gate.weight'], mixed.gx).map(silu));
    w.push(decay(att, mixed.wx));
  }

  // then the recurrence over t
  const y = wkvSequence(s.attKv, r, k, v, w, att.time_faaaa);
  return y.map((yt, t) => outputProjection(att, yt, g[t]!));
}
