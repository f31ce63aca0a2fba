// Version detection and model configuration from the weights alone (no flags).
// Keys are the original checkpoint keys (src/io returns that layout for every file format).
//
// Signatures (SPEC §2.1.1, decided by named keys, never by iteration order):
//   v7          blocks.0.att.r_k                      (+ DeepEmbed: blocks.0.ffn.s_emb.weight)
//   v6          blocks.0.att.time_maa_x
//   v5.2        blocks.0.att.ln_x.weight + att.time_faaaa
//   v5.1        blocks.0.att.ln_x.weight + att.gate.weight (per-head time_decay [H])
//   v5.0        blocks.0.att.ln_x.weight, no gate
//   v4          none of the above (att.time_mix_k, att.time_first, ffn.receptance)

import { RwkvError, shapeString } from '../errors.ts';
import { type Checkpoint, type HostTensor, numel } from '../tensor/tensor.ts';

export type RwkvVersion = '4' | '5.0' | '5.1' | '5.2' | '6' | '7' | '7-deepembed';
export const VERSIONS: readonly RwkvVersion[] = ['4', '5.0', '5.1', '5.2', '6', '7', '7-deepembed'];

export interface ModelConfig {
  readonly version: RwkvVersion;
  readonly nLayer: number;
  readonly nEmbd: number; // C
  readonly dimAtt: number; // A (= C in every released model; must be here)
  readonly nHead: number; // H (v4: 1, no heads)
  readonly headSize: number; // N (v4: C)
  readonly nFfn: number; // F
  readonly nVocab: number; // V
  /** LoRA ranks by name (v6: time_maa, time_decay; v7: w, a, v, g; DeepEmbed: s, s_emb). */
  readonly lora: Readonly<Record<string, number>>;
  /** v6 state tuning: blocks.N.att.time_state present (becomes the initial state). */
  readonly hasTimeState: boolean;
  /** Number of parameters in the checkpoint (every tensor, as stored). */
  readonly nParams: number;
}

function dims(t: HostTensor): number[] {
  return [...t.shape];
}

/** The tensor's shape with leading 1s removed (e.g. [1, 1, C] → [C]). */
function squeezed(t: HostTensor): number[] {
  return t.shape.filter((d) => d !== 1).length === 0 ? [1] : t.shape.filter((d) => d !== 1);
}

export function detectVersion(ckpt: Checkpoint, file?: string): RwkvVersion {
  const has = (k: string) => ckpt.has(k);
  if (has('blocks.0.att.r_k')) return has('blocks.0.ffn.s_emb.weight') ? '7-deepembed' : '7';
  if (has('blocks.0.att.time_maa_x')) return '6';
  if (has('blocks.0.att.ln_x.weight')) {
    if (has('blocks.0.att.time_faaaa')) return '5.2';
    return has('blocks.0.att.gate.weight') ? '5.1' : '5.0';
  }
  if (has('blocks.0.att.time_mix_k') && has('blocks.0.att.time_first')) return '4';
  throw new RwkvError('UNKNOWN_ARCHITECTURE', 'the tensors match no RWKV version (v4, v5.x, v6, v7)', {
    ...(file !== undefined ? { file } : {}),
    expected: 'blocks.0.att.r_k (v7), att.time_maa_x (v6), att.ln_x (v5) or att.time_mix_k + time_first (v4)',
    actual: `keys ${[...ckpt.keys()].slice(0, 6).join(', ')}${ckpt.size > 6 ? ', …' : ''}`,
  });
}

export function detectConfig(ckpt: Checkpoint, file?: string): ModelConfig {
  const version = detectVersion(ckpt, file);
  const where = file !== undefined ? { file } : {};
  const get = (k: string): HostTensor => {
    const t = ckpt.get(k);
    if (t === undefined) throw new RwkvError('MISSING_TENSOR', `tensor missing for an RWKV-${version} model`, { ...where, tensor: k });
    return t;
  };
  const emb = get('emb.weight');
  if (emb.shape.length !== 2) {
    throw new RwkvError('SHAPE_MISMATCH', 'emb.weight must be a matrix [V, C]', {
      ...where,
      tensor: 'emb.weight',
      actual: shapeString(emb.shape),
    });
  }
  const [nVocab, nEmbd] = emb.shape as [number, number];
  let nLayer = 0;
  for (const k of ckpt.keys()) {
    const m = /^blocks\.(\d+)\./.exec(k);
    if (m) nLayer = Math.max(nLayer, Number(m[1]) + 1);
  }
  if (nLayer === 0) throw new RwkvError('MISSING_TENSOR', 'no blocks.N.* tensors', { ...where, tensor: 'blocks.0.*' });
  const dimAtt = get('blocks.0.att.key.weight').shape[0]!;
  const nFfn = get('blocks.0.ffn.key.weight').shape[0]!;
  let nHead = 1;
  let headSize = dimAtt;
  const lora: Record<string, number> = {};
  switch (version) {
    case '4':
      break;
    case '5.0':
    case '5.1':
      nHead = squeezed(get('blocks.0.att.time_decay'))[0]!;
      headSize = dimAtt / nHead;
      break;
    case '5.2':
    case '6': {
      // time_faaaa is [H, N] (a one-head model keeps its H = 1)
      const faaaa = get('blocks.0.att.time_faaaa');
      if (faaaa.shape.length !== 2) {
        throw new RwkvError('SHAPE_MISMATCH', 'time_faaaa must be [n_head, head_size]', {
          ...where,
          tensor: 'blocks.0.att.time_faaaa',
          actual: shapeString(faaaa.shape),
        });
      }
      [nHead, headSize] = dims(faaaa) as [number, number];
      if (version === '6') {
        lora['time_maa'] = get('blocks.0.att.time_maa_w1').shape[1]! / 5;
        lora['time_decay'] = get('blocks.0.att.time_decay_w1').shape[1]!;
      }
      break;
    }
    case '7':
    case '7-deepembed': {
      const rk = get('blocks.0.att.r_k');
      [nHead, headSize] = dims(rk) as [number, number];
      lora['w'] = get('blocks.0.att.w1').shape[1]!;
      lora['a'] = get('blocks.0.att.a1').shape[1]!;
      lora['g'] = get('blocks.0.att.g1').shape[1]!;
      const v1 = ckpt.get(nLayer > 1 ? 'blocks.1.att.v1' : 'blocks.0.att.v1');
      if (v1 !== undefined) lora['v'] = v1.shape[1]!;
      if (version === '7-deepembed') {
        lora['s'] = get('blocks.0.ffn.s1').shape[1]!;
        lora['s_emb'] = get('blocks.0.ffn.s_emb.weight').shape[1]!;
      }
      break;
    }
  }
  if (!Number.isInteger(headSize) || nHead * headSize !== dimAtt) {
    throw new RwkvError('SHAPE_MISMATCH', 'heads × head size must equal the attention width', {
      ...where,
      expected: `H·N = ${dimAtt}`,
      actual: `${nHead} × ${headSize}`,
    });
  }
  if (dimAtt !== nEmbd) {
    throw new RwkvError('UNSUPPORTED_FORMAT', 'models whose attention width differs from n_embd are not supported', {
      ...where,
      tensor: 'blocks.0.att.key.weight',
      expected: `[${nEmbd}, ${nEmbd}]`,
      actual: shapeString(get('blocks.0.att.key.weight').shape),
    });
  }
  let nParams = 0;
  for (const t of ckpt.values()) nParams += numel(t.shape);
  return {
    version,
    nLayer,
    nEmbd,
    dimAtt,
    nHead,
    headSize,
    nFfn,
    nVocab,
    lora,
    hasTimeState: ckpt.has('blocks.0.att.time_state'),
    nParams,
  };
}
