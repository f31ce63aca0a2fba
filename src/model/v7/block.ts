// RWKV-7 "Goose" block (model.py RWKV_x070: `TMix_one` L492-516, `TMix_seq` L545-572,
// `CMix_one` L597-601, DeepEmbed CMix L578-584) as Backend ops for any T ≥ 1.
// Plain-loop twin: reference/v7/.
// Legend: T tokens, C n_embd, H heads, N head size, F ffn width; LoRA ranks Dw, Da, Dv, Dg.
// State: attXPrev [C], attKv [H, value, key], ffnXPrev [C]. LoRA factors arrive [out, in]
// (src/model/v7/version.ts).

import type { Tensor } from '../../backends/backend.ts';
import { GN_EPS, L2_EPS } from '../../constants.ts';
import { type BlockContext, preNormBlock } from '../version.ts';

export type V7StateKey = 'attXPrev' | 'attKv' | 'ffnXPrev';

// x += TMix(LN(x; ln1));  x += CMix(LN(x; ln2))
export const blockV7 = preNormBlock<V7StateKey>(timeMixV7, channelMixV7);

/** xx = LN(x; ln1) [T, C] → the time mix's output [T, C]. */
export function timeMixV7({ f, cfg, W, state, layer, shared }: BlockContext<V7StateKey>, xx: Tensor): Tensor {
  const H = cfg.nHead;
  const N = cfg.headSize;
  // sx = previous token's xx;  x_z = xx + (sx − xx)∘x_z  for z in r, w, k, v, a, g
  const sx = f.shift(xx, state.attXPrev);
  f.saveLastRow(state.attXPrev, xx);
  const xr = f.lerp(xx, sx, W('att.x_r'));
  const xw = f.lerp(xx, sx, W('att.x_w'));
  const xk = f.lerp(xx, sx, W('att.x_k'));
  const xv = f.lerp(xx, sx, W('att.x_v'));
  const xa = f.lerp(xx, sx, W('att.x_a'));
  const xg = f.lerp(xx, sx, W('att.x_g'));
  // r = xr·Wr
  const r = f.matmul(xr, W('att.receptance.weight'));
  // w = exp(−e^−0.5·σ(w0 + tanh(xw·w1)·w2))   (decay in (e^−e^−0.5, 1))
  const w = f.unary('rwkv7Decay', f.add(f.matmul(f.unary('tanh', f.matmul(xw, W('att.w1'))), W('att.w2')), W('att.w0')));
  // k = xk·Wk;  v = xv·Wv
  let k = f.matmul(xk, W('att.key.weight'));
  let v = f.matmul(xv, W('att.value.weight'));
  // a = σ(a0 + (xa·a1)·a2)   (in-context learning rate)
  const a = f.unary('sigmoid', f.add(f.matmul(f.matmul(xa, W('att.a1')), W('att.a2')), W('att.a0')));
  // g = σ(xg·g1)·g2
  const g = f.matmul(f.unary('sigmoid', f.matmul(xg, W('att.g1'))), W('att.g2'));
  // κ̂ = normalize_per_head(k∘k_k)   (before the k_a update)
  const kk = f.l2NormalizeGroups(f.mul(k, W('att.k_k')), N, L2_EPS);
  // k = k∘(1 + (a − 1)∘k_a)  =  k + (k∘a − k)∘k_a
  k = f.lerp(k, f.mul(k, a), W('att.k_a'));
  if (layer === 0) {
    // v_first = layer 0's v
    shared.vFirst = v;
  } else {
    // v = v + (v_first − v)∘σ(v0 + (xv·v1)·v2)   (value residual)
    const nu = f.unary('sigmoid', f.add(f.matmul(f.matmul(xv, W('att.v1')), W('att.v2')), W('att.v0')));
    v = f.lerp(v, shared.vFirst!, nu);
  }
  // S = attKv:  S = S∘w[key] + (S·a)⊗b + v⊗k with a = −κ̂, b = κ̂∘a_iclr;  y = S·r
  let y = f.wkv7(state.attKv, r, w, k, v, f.unary('neg', kk), f.mul(kk, a), H);
  // y = GroupNorm(y; ln_x, eps 64e-5)
  y = f.layerNorm(y, W('att.ln_x.weight'), W('att.ln_x.bias'), N, GN_EPS);
  // y = y + (Σ_head r∘k∘r_k)·v   (per-head bonus)
  const bonus = f.groupScale(v, f.groupSum(f.mul(f.mul(r, k), W('att.r_k')), N), N);
  y = f.add(y, bonus);
  // out = (y∘g)·Wo
  return f.matmul(f.mul(y, g), W('att.output.weight'));
}

/** xx = LN(x; ln2) [T, C] → the channel mix's output [T, C]. */
export function channelMixV7({ f, cfg, W, state, tokens }: BlockContext<V7StateKey>, xx: Tensor): Tensor {
  // sx = previous token's xx;  kx = xx + (sx − xx)∘x_k
  const sx = f.shift(xx, state.ffnXPrev);
  f.saveLastRow(state.ffnXPrev, xx);
  const kx = f.lerp(xx, sx, W('ffn.x_k'));
  // k = relu(kx·Wk)²
  let k = f.unary('relu2', f.matmul(kx, W('ffn.key.weight')));
  if (cfg.version === '7-deepembed') {
    // ss = (xx·s1)·reshape(s_emb'[token], S×S);  k = k∘(ss·s2 + s0)
    const S = cfg.lora['s']!;
    const e = f.zeros([tokens.length, S * S], 'ffn.s_emb');
    f.backend.embedding(e, W('ffn.s_emb.weight'), tokens);
    const ss = f.rowVecMat(f.matmul(xx, W('ffn.s1')), e, S);
    k = f.mul(k, f.add(f.matmul(ss, W('ffn.s2')), W('ffn.s0')));
  }
  // out = k·Wv
  return f.matmul(k, W('ffn.value.weight'));
}
