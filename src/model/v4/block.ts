// RWKV-4 block (model.py `att_one`/`att_seq` L1034-1086, `ffn_one`/`ffn_seq` L984-1004),
// as Backend ops for any T ≥ 1. The same equations in plain loops: reference/v4/.
// Legend: T tokens, C n_embd, F ffn width. State: attXPrev, attAa, attBb, attPp, ffnXPrev [C].
// Token-shift mixes arrive as time_maa = 1 − time_mix (src/model/prepare.ts), so
// kx = xx·μk + sx·(1−μk) reads lerp(xx, sx, 1 − μk).

import type { Tensor } from '../../backends/backend.ts';
import { type BlockContext, preNormBlock } from '../version.ts';

export type V4StateKey = 'attXPrev' | 'attAa' | 'attBb' | 'attPp' | 'ffnXPrev';

// x += TMix(LN(x; ln1));  x += CMix(LN(x; ln2))
export const blockV4 = preNormBlock<V4StateKey>(timeMixV4, channelMixV4);

/** xx = LN(x; ln1) [T, C] → the time mix's output [T, C]. */
export function timeMixV4({ f, W, state }: BlockContext<V4StateKey>, xx: Tensor): Tensor {
  // sx = previous token's xx
  const sx = f.shift(xx, state.attXPrev);
  f.saveLastRow(state.attXPrev, xx);
  // kx = xx∘μk + sx∘(1−μk), likewise vx, rx
  const kx = f.lerp(xx, sx, W('att.time_maa_k'));
  const vx = f.lerp(xx, sx, W('att.time_maa_v'));
  const rx = f.lerp(xx, sx, W('att.time_maa_r'));
  // r = σ(rx·Wr);  k = kx·Wk;  v = vx·Wv
  const r = f.unary('sigmoid', f.matmul(rx, W('att.receptance.weight')));
  const k = f.matmul(kx, W('att.key.weight'));
  const v = f.matmul(vx, W('att.value.weight'));
  // wkv_t = (Σ_{s<t} e^{w(t−1−s)+k_s} v_s + e^{u+k_t} v_t) / (same without v), stabilised
  const wkv = f.wkv4(state.attAa, state.attBb, state.attPp, W('att.time_decay'), W('att.time_first'), k, v);
  // out = (r∘wkv)·Wo
  return f.matmul(f.mul(r, wkv), W('att.output.weight'));
}

/**
 * xx = LN(x; ln2) [T, C] → the channel mix's output [T, C]. The channel mix of v4, v5.x and v6
 * (the same once mixes are in time_maa form).
 */
export function channelMixV4({ f, W, state }: BlockContext<'ffnXPrev'>, xx: Tensor): Tensor {
  // sx = previous token's xx
  const sx = f.shift(xx, state.ffnXPrev);
  f.saveLastRow(state.ffnXPrev, xx);
  const kx = f.lerp(xx, sx, W('ffn.time_maa_k'));
  const rx = f.lerp(xx, sx, W('ffn.time_maa_r'));
  // r = σ(rx·Wr);  k = relu(kx·Wk)²;  out = r∘(k·Wv)
  const r = f.unary('sigmoid', f.matmul(rx, W('ffn.receptance.weight')));
  const k = f.unary('relu2', f.matmul(kx, W('ffn.key.weight')));
  return f.mul(r, f.matmul(k, W('ffn.value.weight')));
}
