// RWKV-4 in the version registry (src/model/version.ts says what each field is).

import { V4_PP_INIT } from '../../constants.ts';
import { type PrepareContext, type VersionSpec, mapValues } from '../version.ts';
import { blockV4, type V4StateKey } from './block.ts';

/**
 * The block weights v4 and v5.x share. Token-shift mixes x·μ + prev·(1−μ) = x + (prev − x)·(1 − μ)
 * become time_maa = 1 − μ (v6's form), so every version's token shift is one lerp.
 */
export function prepareV4Common(ctx: PrepareContext, p: string, att: readonly string[], gate: boolean): void {
  const { cfg, take, put, keep } = ctx;
  const C = cfg.nEmbd;
  const F = cfg.nFfn;
  for (const m of att)
    put(
      `${p}att.time_maa_${m}`,
      [C],
      mapValues(take(`${p}att.time_mix_${m}`, [1, 1, C]), (x) => 1 - x),
    );
  for (const m of ['k', 'r'])
    put(
      `${p}ffn.time_maa_${m}`,
      [C],
      mapValues(take(`${p}ffn.time_mix_${m}`, [1, 1, C]), (x) => 1 - x),
    );
  for (const m of ['key', 'value', 'receptance', 'output']) keep(`${p}att.${m}.weight`, [C, C]);
  if (gate) keep(`${p}att.gate.weight`, [C, C]);
  keep(`${p}ffn.key.weight`, [F, C]);
  keep(`${p}ffn.receptance.weight`, [C, C]);
  keep(`${p}ffn.value.weight`, [C, F]);
}

export const V4: VersionSpec<V4StateKey> = {
  versions: ['4'],
  detect: (has) => (has('blocks.0.att.time_mix_k') && has('blocks.0.att.time_first') ? '4' : undefined),
  signature: 'att.time_mix_k + time_first (v4)',
  // one "head" as wide as the attention
  configure: ({ dimAtt }) => ({ nHead: 1, headSize: dimAtt, lora: {} }),
  prepare(ctx, i) {
    const p = `blocks.${i}.`;
    const C = ctx.cfg.nEmbd;
    prepareV4Common(ctx, p, ['k', 'v', 'r'], false);
    // w = −exp(time_decay) (model.py L796-804), u = time_first as is
    ctx.put(
      `${p}att.time_decay`,
      [C],
      mapValues(ctx.take(`${p}att.time_decay`, [C]), (x) => -Math.exp(x)),
    );
    ctx.keep(`${p}att.time_first`, [C]);
  },
  // model.py state list 5i+0 .. 5i+4; aa/bb = WKV numerator/denominator scaled by e^−pp
  stateLayout: (cfg) =>
    (
      [
        ['attXPrev', 'att_x_prev'],
        ['attAa', 'att_aa'],
        ['attBb', 'att_bb'],
        ['attPp', 'att_pp'],
        ['ffnXPrev', 'ffn_x_prev'],
      ] as const
    ).map(([key, name]) => ({ key, name, shape: [cfg.nEmbd] })),
  // pp = −1e30: "minus infinity", so the first token sets the scale (model.py L1448-1471)
  initState: ({ cfg, backend, state }) => backend.write(state.attPp, new Float32Array(cfg.nEmbd).fill(V4_PP_INIT)),
  block: blockV4,
  ops: () => ['wkv4'],
};
