// RWKV-6 block (model.py `att_one_v6_0` L1263-1298, `att_seq_v6_0` L1301-1340,
// `ffn_one_v6` L1007-1029) as Backend ops for any T ≥ 1; plain-loop twin: reference/v6/.
// Legend: T tokens, C n_embd, H heads, N head size, D token-shift LoRA rank, Dd decay LoRA rank.
// State: [att_x_prev, att_kv [H, key, value], ffn_x_prev].
// The packed token-shift LoRA (time_maa_w1 [C, 5D], time_maa_w2 [5, D, C]) arrives split per
// target: time_maa_w1.<m> [D, C], time_maa_w2.<m> [C, D] (src/model/prepare.ts).

import type { Tensor } from '../../backends/backend.ts';
import { GN_EPS, LN_EPS } from '../../constants.ts';
import type { BlockContext } from '../block.ts';
import { channelMixV4 } from '../v4/block.ts';

export function blockV6(ctx: BlockContext, x: Tensor): void {
  timeMixV6(ctx, x);
  // v6 channel mix: kx = xx + (sx − xx)∘maa_k — the v4 form once mixes are time_maa
  channelMixV4(ctx, x);
}

export function timeMixV6({ f, cfg, W, state }: BlockContext, x: Tensor): void {
  const [attShift, S] = state as [Tensor, Tensor];
  // xx = LN(x; ln1);  sx = previous token's xx;  d = sx − xx
  const xx = f.layerNorm(x, W('ln1.weight'), W('ln1.bias'), cfg.nEmbd, LN_EPS);
  const sx = f.shift(xx, attShift);
  f.saveLastRow(attShift, xx);
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
  let y = f.wkv5(S, r, k, v, w, W('att.time_faaaa'), cfg.nHead);
  // out = GroupNorm(out; ln_x, eps 64e-5)∘g;  x = x + out·Wo
  y = f.layerNorm(y, W('att.ln_x.weight'), W('att.ln_x.bias'), cfg.headSize, GN_EPS);
  f.addInPlace(x, f.matmul(f.mul(y, g), W('att.output.weight')));
}
