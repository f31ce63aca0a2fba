// RWKV-4 block (model.py `att_one`/`att_seq` L1034-1086, `ffn_one`/`ffn_seq` L984-1004),
// as Backend ops for any T ≥ 1. The same equations in plain loops: reference/v4/.
// Legend: T tokens, C n_embd, F ffn width. State entries: [att_x_prev, aa, bb, pp, ffn_x_prev].
// Token-shift mixes arrive as time_maa = 1 − time_mix (src/model/prepare.ts), so
// kx = xx·μk + sx·(1−μk) reads lerp(xx, sx, 1 − μk).

import type { Tensor } from '../../backends/backend.ts';
import { LN_EPS } from '../../constants.ts';
import type { BlockContext } from '../block.ts';

export function blockV4(ctx: BlockContext, x: Tensor): void {
  timeMixV4(ctx, x);
  channelMixV4(ctx, x);
}

export function timeMixV4({ f, cfg, W, state }: BlockContext, x: Tensor): void {
  const [attShift, aa, bb, pp] = state as [Tensor, Tensor, Tensor, Tensor];
  // xx = LN(x; ln1);  sx = previous token's xx
  const xx = f.layerNorm(x, W('ln1.weight'), W('ln1.bias'), cfg.nEmbd, LN_EPS);
  const sx = f.shift(xx, attShift);
  f.saveLastRow(attShift, xx);
  // kx = xx∘μk + sx∘(1−μk), likewise vx, rx
  const kx = f.lerp(xx, sx, W('att.time_maa_k'));
  const vx = f.lerp(xx, sx, W('att.time_maa_v'));
  const rx = f.lerp(xx, sx, W('att.time_maa_r'));
  // r = σ(rx·Wr);  k = kx·Wk;  v = vx·Wv
  const r = f.unary('sigmoid', f.matmul(rx, W('att.receptance.weight')));
  const k = f.matmul(kx, W('att.key.weight'));
  const v = f.matmul(vx, W('att.value.weight'));
  // wkv_t = (Σ_{s<t} e^{w(t−1−s)+k_s} v_s + e^{u+k_t} v_t) / (same without v), stabilised
  const wkv = f.wkv4(aa, bb, pp, W('att.time_decay'), W('att.time_first'), k, v);
  // x = x + (r∘wkv)·Wo
  f.addInPlace(x, f.matmul(f.mul(r, wkv), W('att.output.weight')));
}

/** Channel mix of v4, v5.x and v6 (the same once mixes are in time_maa form). */
export function channelMixV4({ f, cfg, W, state }: BlockContext, x: Tensor): void {
  const ffnShift = state[state.length - 1]!;
  // xx = LN(x; ln2);  sx = previous token's xx
  const xx = f.layerNorm(x, W('ln2.weight'), W('ln2.bias'), cfg.nEmbd, LN_EPS);
  const sx = f.shift(xx, ffnShift);
  f.saveLastRow(ffnShift, xx);
  const kx = f.lerp(xx, sx, W('ffn.time_maa_k'));
  const rx = f.lerp(xx, sx, W('ffn.time_maa_r'));
  // r = σ(rx·Wr);  k = relu(kx·Wk)²;  x = x + r∘(k·Wv)
  const r = f.unary('sigmoid', f.matmul(rx, W('ffn.receptance.weight')));
  const k = f.unary('relu2', f.matmul(kx, W('ffn.key.weight')));
  f.addInPlace(x, f.mul(r, f.matmul(k, W('ffn.value.weight'))));
}
