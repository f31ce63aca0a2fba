// RWKV-6 in the version registry (src/model/version.ts says what each field is).

import { faaaaHeads } from '../v5/version.ts';
import { type VersionSpec, matrixStateLayout, transpose } from '../version.ts';
import { blockV6, type V6StateKey } from './block.ts';

/** v6 token-shift LoRA targets, in the order of time_maa_w1's column blocks and time_maa_w2. */
export const V6_MAA_TARGETS = ['w', 'k', 'v', 'r', 'g'] as const;

export const V6: VersionSpec<V6StateKey> = {
  versions: ['6'],
  detect: (has) => (has('blocks.0.att.time_maa_x') ? '6' : undefined),
  signature: 'att.time_maa_x (v6)',
  configure: ({ get, where }) => ({
    ...faaaaHeads(get, where),
    // time_maa_w1 [C, 5D] packs the five token-shift LoRAs
    lora: { time_maa: get('blocks.0.att.time_maa_w1').shape[1]! / 5, time_decay: get('blocks.0.att.time_decay_w1').shape[1]! },
  }),
  prepare({ cfg, take, put, keep }, i) {
    const p = `blocks.${i}.`;
    const [C, F, H, N] = [cfg.nEmbd, cfg.nFfn, cfg.nHead, cfg.headSize];
    for (const m of ['x', ...V6_MAA_TARGETS]) put(`${p}att.time_maa_${m}`, [C], take(`${p}att.time_maa_${m}`, [1, 1, C]));
    // LoRA factors used as `x @ M` become [out, in]; the packed time_maa_w1 [C, 5D] and
    // time_maa_w2 [5, D, C] are split into one pair per target (w, k, v, r, g)
    const D = cfg.lora['time_maa']!;
    const w1 = take(`${p}att.time_maa_w1`, [C, 5 * D]);
    const w2 = take(`${p}att.time_maa_w2`, [5, D, C]);
    V6_MAA_TARGETS.forEach((m, j) => {
      // column block j of w1 [C, 5D] → [D, C]
      const a = new Float32Array(D * C);
      for (let c = 0; c < C; c++) for (let d = 0; d < D; d++) a[d * C + c] = w1[c * 5 * D + j * D + d]!;
      put(`${p}att.time_maa_w1.${m}`, [D, C], a);
      put(`${p}att.time_maa_w2.${m}`, [C, D], transpose(w2.subarray(j * D * C, (j + 1) * D * C), D, C));
    });
    // time_decay stays raw: the LoRA is added per token before w = exp(−exp(·))
    const Dd = cfg.lora['time_decay']!;
    put(`${p}att.time_decay`, [C], take(`${p}att.time_decay`, [1, 1, C]));
    put(`${p}att.time_decay_w1`, [Dd, C], transpose(take(`${p}att.time_decay_w1`, [C, Dd]), C, Dd));
    put(`${p}att.time_decay_w2`, [C, Dd], transpose(take(`${p}att.time_decay_w2`, [Dd, C]), Dd, C));
    put(`${p}att.time_faaaa`, [C], take(`${p}att.time_faaaa`, [H, N]));
    for (const m of ['key', 'value', 'receptance', 'gate', 'output']) keep(`${p}att.${m}.weight`, [C, C]);
    for (const m of ['k', 'r']) put(`${p}ffn.time_maa_${m}`, [C], take(`${p}ffn.time_maa_${m}`, [1, 1, C]));
    keep(`${p}ffn.key.weight`, [F, C]);
    keep(`${p}ffn.receptance.weight`, [C, C]);
    keep(`${p}ffn.value.weight`, [C, F]);
    if (cfg.hasTimeState) {
      // state tuning: stored [H, value, key] (RWKV-LM); model.py's att_kv is [H, key, value]
      const ts = take(`${p}att.time_state`, [H, N, N]);
      const t = new Float32Array(H * N * N);
      for (let h = 0; h < H; h++) t.set(transpose(ts.subarray(h * N * N, (h + 1) * N * N), N, N), h * N * N);
      put(`${p}att.time_state`, [H, N, N], t);
    }
    keep(`${p}att.ln_x.weight`, [C]);
    keep(`${p}att.ln_x.bias`, [C]);
  },
  stateLayout: matrixStateLayout,
  // state tuning: the tuned att_kv is the initial state
  initState({ cfg, backend, state, W }) {
    if (cfg.hasTimeState) backend.copy(state.attKv, W('att.time_state'));
  },
  block: blockV6,
  ops: () => ['wkv5'],
};
