// RWKV-5 time mixing, versions 5.0, 5.1 and 5.2:
//   token shift → r, k, v (, g) → WKV → GroupNorm(ln_x) (→ ∘ silu(g)) → output.
// Mirrors rwkv/model.py `att_one_v5` (5.0) and `att_one_v5_1` (5.1, 5.2) for timeMixToken;
// `att_seq_v5` (5.0), `att_seq_v5_1` (5.1), `att_seq_v5_2` (5.2) for timeMixSequence (model.py
// L1091-1258).
// The block in model.ts applies ln1 and adds the residual; these take xx = LN(x; ln1).
//
// Dimensions: T tokens, H heads, N head size, C = H·N channels.
// The three versions differ only in:
//   | version | gate                         | decay w (per key channel)                | bonus u               |
//   | 5.0     | none                         | exp(−exp(time_decay[h])), time_decay [H]  | exp(time_first[h]) [H] |
//   | 5.1     | silu(gx·Wg), time_mix_g      | same as 5.0                                | same as 5.0            |
//   | 5.2     | as 5.1                       | exp(−exp(time_decay[h][i])), [H, N]        | time_faaaa [H, N]      |
// Weights (blocks.<i>.att.*): time_mix_k/v/r(/g) [1,1,C] (read as [C]) · key/value/receptance
// (/gate).weight [C, C] ([out, in]) · output.weight [C, C] · ln_x.weight/bias [C].

import { GN_EPS } from '../common/constants.ts';
import { groupNorm, linear, silu } from '../common/linalg.ts';
import type { Mat } from '../common/types.ts';
import { wkvSequence, wkvSequenceParallel, wkvStep, type WkvState } from './wkv.ts';

export type V5Version = '5.0' | '5.1' | '5.2';

export interface TimeMixWeights {
  version: V5Version;
  H: number; // heads
  N: number; // head size
  time_mix_k: Float64Array; // [C]
  time_mix_v: Float64Array; // [C]
  time_mix_r: Float64Array; // [C]
  time_mix_g?: Float64Array; // [C] 5.1, 5.2
  time_decay: Float64Array; // raw: [H] (5.0, 5.1) or [H·N] (5.2)
  time_first?: Float64Array; // [H] log-space bonus (5.0, 5.1)
  time_faaaa?: Float64Array; // [H·N] linear bonus (5.2)
  'key.weight': Mat; // [C, C]
  'value.weight': Mat; // [C, C]
  'receptance.weight': Mat; // [C, C]
  'gate.weight'?: Mat; // [C, C] 5.1, 5.2
  'output.weight': Mat; // [C, C]
  'ln_x.weight': Float64Array; // [C]
  'ln_x.bias': Float64Array; // [C]
}

export interface TimeMixState {
  attXPrev: Float64Array; // [C] LN(x; ln1) of the previous token ("sx")
  attKv: WkvState; // [H][N][N] S[head][key i][value j]
}

function need<T>(x: T | undefined, what: string): T {
  if (x === undefined) throw new Error(`reference v5: missing ${what}`);
  return x;
}

/** 5.0/5.1: per-head decay wHead = exp(−exp(time_decay)) and bonus uHead = exp(time_first), [H]. */
function headDecayAndBonus(att: TimeMixWeights): { wHead: Float64Array; uHead: Float64Array } {
  // w = exp(−exp(time_decay))
  const wHead = att.time_decay.map((d) => Math.exp(-Math.exp(d)));
  // u = exp(time_first)
  const uHead = need(att.time_first, 'att.time_first').map(Math.exp);
  return { wHead, uHead };
}

/** Decay w and bonus u per key channel [C] (5.0/5.1 repeat the head's scalar over its N channels). */
function decayAndBonus(att: TimeMixWeights): { w: Float64Array; u: Float64Array } {
  const { H, N } = att;
  if (att.version === '5.2') {
    // w = exp(−exp(time_decay)) ; u = time_faaaa
    return { w: att.time_decay.map((d) => Math.exp(-Math.exp(d))), u: need(att.time_faaaa, 'att.time_faaaa') };
  }
  const { wHead, uHead } = headDecayAndBonus(att);
  const w = new Float64Array(H * N);
  const u = new Float64Array(H * N);
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < N; i++) {
      w[h * N + i]! = wHead[h]!;
      u[h * N + i]! = uHead[h]!;
    }
  }
  return { w, u };
}

/** out = GN(y; ln_x, H groups, eps 64e-5), then (5.1+) out∘silu(gx·Wg), then out·Wo. */
function outputProjection(att: TimeMixWeights, y: Float64Array, gx: Float64Array | undefined): Float64Array {
  // out = GroupNorm(y) with one group per head
  let out = groupNorm(y, att['ln_x.weight'], att['ln_x.bias'], att.N, GN_EPS);
  if (att.version !== '5.0') {
    // g = silu(gx·Wg) ; out = out∘g
    const g = linear(need(att['gate.weight'], 'att.gate.weight'), need(gx, 'gx')).map(silu);
    out = out.map((o, c) => o * g[c]!);
  }
  // out·Wo
  return linear(att['output.weight'], out);
}

/** One token. xx [C] = LN(x; ln1). Returns the output [C]; updates s in place. */
export function timeMixToken(att: TimeMixWeights, xx: Float64Array, s: TimeMixState): Float64Array {
  const C = xx.length;
  const sx = s.attXPrev;
  const gated = att.version !== '5.0';
  // kx = xx∘μk + sx∘(1−μk), and likewise vx, rx (and gx for 5.1+)
  const kx = new Float64Array(C);
  const vx = new Float64Array(C);
  const rx = new Float64Array(C);
  const gx = gated ? new Float64Array(C) : undefined;
  const mixG = gated ? need(att.time_mix_g, 'att.time_mix_g') : undefined;
  for (let c = 0; c < C; c++) {
    kx[c] = xx[c]! * att.time_mix_k[c]! + sx[c]! * (1 - att.time_mix_k[c]!);
    vx[c] = xx[c]! * att.time_mix_v[c]! + sx[c]! * (1 - att.time_mix_v[c]!);
    rx[c] = xx[c]! * att.time_mix_r[c]! + sx[c]! * (1 - att.time_mix_r[c]!);
    if (gx && mixG) gx[c] = xx[c]! * mixG[c]! + sx[c]! * (1 - mixG[c]!);
  }
  // sx ← xx
  s.attXPrev = xx;

  // r = rx·Wr (no sigmoid from v5 on) ; k = kx·Wk ; v = vx·Wv
  const r = linear(att['receptance.weight'], rx);
  const k = linear(att['key.weight'], kx);
  const v = linear(att['value.weight'], vx);

  // y = r @ (u∘(k⊗v) + S) ; S = k⊗v + w∘S
  const { w, u } = decayAndBonus(att);
  const y = wkvStep(s.attKv, r, k, v, w, u);
  return outputProjection(att, y, gx);
}

/**
 * T tokens. xx [T][C] = LN(x; ln1). Returns the outputs [T][C]. 5.0/5.1 run the WKV in the
 * official closed (parallel) form, 5.2 as the per-token loop, as model.py does.
 */
export function timeMixSequence(att: TimeMixWeights, xx: Float64Array[], s: TimeMixState): Float64Array[] {
  const T = xx.length;
  const C = xx[0]!.length;
  const gated = att.version !== '5.0';
  const mixG = gated ? need(att.time_mix_g, 'att.time_mix_g') : undefined;
  // sx = [sx_prev; xx[0 .. T−2]]
  const sx = [s.attXPrev, ...xx.slice(0, T - 1)];
  s.attXPrev = xx[T - 1]!;

  // projections of all T tokens: r, k, v [T][C]; gx kept for the gate
  const r: Float64Array[] = [];
  const k: Float64Array[] = [];
  const v: Float64Array[] = [];
  const gx: (Float64Array | undefined)[] = [];
  for (let t = 0; t < T; t++) {
    const kx = new Float64Array(C);
    const vx = new Float64Array(C);
    const rx = new Float64Array(C);
    const g = mixG ? new Float64Array(C) : undefined;
    for (let c = 0; c < C; c++) {
      // kx = xx∘μk + sx∘(1−μk) ; vx, rx, gx likewise
      kx[c] = xx[t]![c]! * att.time_mix_k[c]! + sx[t]![c]! * (1 - att.time_mix_k[c]!);
      vx[c] = xx[t]![c]! * att.time_mix_v[c]! + sx[t]![c]! * (1 - att.time_mix_v[c]!);
      rx[c] = xx[t]![c]! * att.time_mix_r[c]! + sx[t]![c]! * (1 - att.time_mix_r[c]!);
      if (g && mixG) g[c] = xx[t]![c]! * mixG[c]! + sx[t]![c]! * (1 - mixG[c]!);
    }
    // r = rx·Wr ; k = kx·Wk ; v = vx·Wv
    r.push(linear(att['receptance.weight'], rx));
    k.push(linear(att['key.weight'], kx));
    v.push(linear(att['value.weight'], vx));
    gx.push(g);
  }

  let y: Float64Array[];
  if (att.version === '5.2') {
    // per-channel decay: the recurrence, token by token
    const { w, u } = decayAndBonus(att);
    y = wkvSequence(s.attKv, r, k, v, w, u);
  } else {
    // per-head scalar decay: out = ((r kᵀ)∘W) v + (r S)∘wb ; S = w^T·S + (k∘wk) v
    const { wHead, uHead } = headDecayAndBonus(att);
    y = wkvSequenceParallel(s.attKv, r, k, v, wHead, uHead);
  }
  return y.map((yt, t) => outputProjection(att, yt, gx[t]));
}
