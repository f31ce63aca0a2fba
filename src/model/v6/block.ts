// RWKV-6 block (model.py `att_one_v6_0` L1263-1298, `att_seq_v6_0` L1301-1340,
// `ffn_one_v6` L1007-1029) as Backend ops for any T ≥ 1; plain-loop twin: reference/v6/.
// Legend: T tokens, C n_embd, H heads, N head size, D token-shift LoRA rank, Dd decay LoRA rank.
// State: attXPrev [C], attKv [H, key, value], ffnXPrev [C].
// The packed token-shift LoRA (time_maa_w1 [C, 5D], time_maa_w2 [5, D, C]) arrives split per
// target: time_maa_w1.<m> [D, C], time_maa_w2.<m> [C, D] (src/model/v6/version.ts).

import type { Tensor } from '../../backends/backend.ts';
import { GN_EPS } from '../../constants.ts';
import { type BlockContext, preNormBlock } from '../version.ts';
import { channelMixV4 } from '../v4/block.ts';

export type V6StateKey = 'attXPrev' | 'attKv' | 'ffnXPrev';

// x += TMix(LN(x; ln1));  x += CMix(LN(x; ln2))   (the v4 channel mix: the v6 one once its mixes are time_maa)
export const blockV6 = preNormBlock<V6StateKey>(timeMixV6, channelMixV4);

/** xx = LN(x; ln1) [T, C] → the time mix's output [T, C]. */
export function timeMixV6({ f, cfg, W, state }: BlockContext<V6StateKey>, xx: Tensor): Tensor {
  // sx = previous token's xx;  d = sx − xx
  const sx = f.shift(xx, state.attXPrev);
  f.saveLastRow(state.attXPrev, xx);
  // xxx = xx + d∘maa_x
  const xxx = f.lerp(xx, sx, W('att.time_maa_x'));
  // m_z = tanh(xxx·W1_z)·W2_z   for z in (w, k, v, r, g);   z_x = xx + d∘(maa_z + m_z)
  const mixed = (z: string): Tensor => {
    const m = f.matmul(f.unary('tanh', f.matmul(xxx, W(`att.time_maa_w1.${z}`))), W(`att.time_maa_w2.${z}`));
    return f.lerp(xx, sx, f.add(m, W(`att.time_maa_${z}`)));
  };
  const wx = mixed('w');
  const kx = mixed('k');
  const vx = mixed('v');
  const rx = mixed('r');
  const gx = mixed('g');
  // r = rx·Wr;  k = kx·Wk;  v = vx·Wv;  g = silu(gx·Wg)
  const r = f.matmul(rx, W('att.receptance.weight'));
  const k = f.matmul(kx, W('att.key.weight'));
  const v = f.matmul(vx, W('att.value.weight'));
  const g = f.unary('silu', f.matmul(gx, W('att.gate.weight')));
  // w = exp(−exp(time_decay + tanh(wx·Wd1)·Wd2)), one decay per token and channel
  const wLora = f.matmul(f.unary('tanh', f.matmul(wx, W('att.time_decay_w1'))), W('att.time_decay_w2'));
  const w = f.unary('expNegExp', f.add(wLora, W('att.time_decay')));
  // per head: out = r·(u∘(k⊗v) + S);  S = k⊗v + w∘S
  let y = f.wkv5(state.attKv, r, k, v, w, W('att.time_faaaa'), cfg.nHead);
  // out = (GroupNorm(out; ln_x, eps 64e-5)∘g)·Wo
  y = f.layerNorm(y, W('att.ln_x.weight'), W('att.ln_x.bias'), cfg.headSize, GN_EPS);
  return f.matmul(f.mul(y, g), W('att.output.weight'));
}
