// RWKV-5 (5.0, 5.1, 5.2) in the version registry (src/model/version.ts says what each field is).

import { RwkvError, shapeString } from '../../errors.ts';
import { prepareV4Common } from '../v4/version.ts';
import type { HostTensor } from '../../tensor/tensor.ts';
import { type VersionSpec, mapValues, matrixStateLayout, perChannel, squeezed } from '../version.ts';
import { blockV5, type V5StateKey } from './block.ts';

export const V5: VersionSpec<V5StateKey> = {
  versions: ['5.0', '5.1', '5.2'],
  // 5.2: per-channel decay and bonus time_faaaa; 5.1: gate, per-head decay; 5.0: no gate
  detect: (has) =>
    has('blocks.0.att.ln_x.weight')
      ? has('blocks.0.att.time_faaaa')
        ? '5.2'
        : has('blocks.0.att.gate.weight')
          ? '5.1'
          : '5.0'
      : undefined,
  signature: 'att.ln_x (v5)',
  configure({ version, get, dimAtt, where }) {
    if (version !== '5.2') {
      // 5.0 / 5.1: time_decay [H]
      const nHead = squeezed(get('blocks.0.att.time_decay'))[0]!;
      return { nHead, headSize: dimAtt / nHead, lora: {} };
    }
    return { ...faaaaHeads(get, where), lora: {} };
  },
  prepare(ctx, i) {
    const { cfg, take, put } = ctx;
    const p = `blocks.${i}.`;
    const [C, H, N] = [cfg.nEmbd, cfg.nHead, cfg.headSize];
    const v = cfg.version;
    prepareV4Common(ctx, p, v === '5.0' ? ['k', 'v', 'r'] : ['k', 'v', 'r', 'g'], v !== '5.0');
    if (v === '5.2') {
      // w = exp(−exp(time_decay)) per channel; u = time_faaaa flattened
      put(
        `${p}att.time_decay`,
        [C],
        mapValues(take(`${p}att.time_decay`, [H, N]), (x) => Math.exp(-Math.exp(x))),
      );
      put(`${p}att.time_faaaa`, [C], take(`${p}att.time_faaaa`, [H, N]));
    } else {
      // per head → per channel: w = exp(−exp(time_decay)), u = exp(time_first)
      put(
        `${p}att.time_decay`,
        [C],
        perChannel(
          mapValues(take(`${p}att.time_decay`, [H]), (x) => Math.exp(-Math.exp(x))),
          H,
          N,
        ),
      );
      put(`${p}att.time_faaaa`, [C], perChannel(mapValues(take(`${p}att.time_first`, [H]), Math.exp), H, N));
    }
    ctx.keep(`${p}att.ln_x.weight`, [C]);
    ctx.keep(`${p}att.ln_x.bias`, [C]);
  },
  stateLayout: matrixStateLayout,
  block: blockV5,
  ops: () => ['wkv5'],
};

/** n_head and head_size from time_faaaa [H, N] (5.2, 6; a one-head model keeps its H = 1). */
export function faaaaHeads(get: (key: string) => HostTensor, where: { file?: string }): { nHead: number; headSize: number } {
  const faaaa = get('blocks.0.att.time_faaaa');
  if (faaaa.shape.length !== 2) {
    throw new RwkvError('SHAPE_MISMATCH', 'time_faaaa must be [n_head, head_size]', {
      ...where,
      tensor: 'blocks.0.att.time_faaaa',
      actual: shapeString(faaaa.shape),
    });
  }
  return { nHead: faaaa.shape[0]!, headSize: faaaa.shape[1]! };
}
