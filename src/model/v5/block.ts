// RWKV-5 block: 5.0 (no gate), 5.1 (gate, per-head decay), 5.2 (per-channel decay,
// time_faaaa) — model.py `att_one_v5` L1091-1113, `att_one_v5_1` L1157-1181, `att_seq_v5*`.
// As Backend ops for any T ≥ 1; plain-loop twin: reference/v5/.
// Legend: T tokens, C n_embd, H heads, N head size. State: attXPrev [C], attKv [H, key, value], ffnXPrev [C].
// Decays arrive per channel as w = exp(−exp(time_decay)) and the bonus u as time_faaaa [C]
// (5.0/5.1: exp(time_first) repeated over each head), see src/model/v5/version.ts.

import type { Tensor } from '../../backends/backend.ts';
import { GN_EPS } from '../../constants.ts';
import { type BlockContext, preNormBlock } from '../version.ts';
import { channelMixV4 } from '../v4/block.ts';

export type V5StateKey = 'attXPrev' | 'attKv' | 'ffnXPrev';

// x += TMix(LN(x; ln1));  x += CMix(LN(x; ln2))   (the v4 channel mix)
export const blockV5 = preNormBlock<V5StateKey>(timeMixV5, channelMixV4);

/** xx = LN(x; ln1) [T, C] → the time mix's output [T, C]. */
export function timeMixV5({ f, cfg, W, state }: BlockContext<V5StateKey>, xx: Tensor): Tensor {
  const gated = cfg.version !== '5.0';
  // sx = previous token's xx;  kx = xx∘μk + sx∘(1−μk) …
  const sx = f.shift(xx, state.attXPrev);
  f.saveLastRow(state.attXPrev, xx);
  const kx = f.lerp(xx, sx, W('att.time_maa_k'));
  const vx = f.lerp(xx, sx, W('att.time_maa_v'));
  const rx = f.lerp(xx, sx, W('att.time_maa_r'));
  // r = rx·Wr (no sigmoid from v5 on);  k = kx·Wk;  v = vx·Wv
  const r = f.matmul(rx, W('att.receptance.weight'));
  const k = f.matmul(kx, W('att.key.weight'));
  const v = f.matmul(vx, W('att.value.weight'));
  // per head: out = r·(u∘(k⊗v) + S);  S = k⊗v + w∘S
  let y = f.wkv5(state.attKv, r, k, v, W('att.time_decay'), W('att.time_faaaa'), cfg.nHead);
  // out = GroupNorm(out; ln_x, H groups, eps 64e-5)
  y = f.layerNorm(y, W('att.ln_x.weight'), W('att.ln_x.bias'), cfg.headSize, GN_EPS);
  if (gated) {
    // 5.1+: out = out∘silu(gx·Wg)
    const gx = f.lerp(xx, sx, W('att.time_maa_g'));
    y = f.mul(y, f.unary('silu', f.matmul(gx, W('att.gate.weight'))));
  }
  // out = out·Wo
  return f.matmul(y, W('att.output.weight'));
}
