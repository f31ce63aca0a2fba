// Version detection and model configuration from the weights alone (no flags).
// Keys are the original checkpoint keys (src/io returns that layout for every file format).
// Each version family says how it is recognised and what it adds to the configuration
// (src/model/<family>/version.ts, listed in registry.ts); the signatures, decided by named keys,
// never by iteration order:
//   v7          blocks.0.att.r_k                      (+ DeepEmbed: blocks.0.ffn.s_emb.weight)
//   v6          blocks.0.att.time_maa_x
//   v5.2        blocks.0.att.ln_x.weight + att.time_faaaa
//   v5.1        blocks.0.att.ln_x.weight + att.gate.weight (per-head time_decay [H])
//   v5.0        blocks.0.att.ln_x.weight, no gate
//   v4          att.time_mix_k + att.time_first (and ffn.receptance)

import type { RwkvVersion } from '../constants.ts';
import { RwkvError, shapeString } from '../errors.ts';
import { type Checkpoint, type HostTensor, numel } from '../tensor/tensor.ts';
import { REGISTRY, VERSIONS, versionSpec } from './registry.ts';
import type { ModelConfig } from './version.ts';

export type { ModelConfig, RwkvVersion };
export { VERSIONS };

export function detectVersion(ckpt: Checkpoint, file?: string): RwkvVersion {
  const has = (k: string) => ckpt.has(k);
  for (const spec of REGISTRY) {
    const v = spec.detect(has);
    if (v !== undefined) return v;
  }
  const signatures = REGISTRY.map((s) => s.signature);
  throw new RwkvError('UNKNOWN_ARCHITECTURE', `the tensors match no RWKV version (${VERSIONS.join(', ')})`, {
    ...(file !== undefined ? { file } : {}),
    expected: `${signatures.slice(0, -1).join(', ')} or ${signatures[signatures.length - 1]}`,
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
  // the head split and LoRA ranks are the version's to say
  const { nHead, headSize, lora } = versionSpec(version).configure({ version, ckpt, nLayer, dimAtt, get, where });
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
    lora: { ...lora },
    hasTimeState: ckpt.has('blocks.0.att.time_state'),
    nParams,
  };
}

/** A model's identity in messages: version, layers, width, heads × head size. */
export function describeConfig(c: ModelConfig): string {
  return `RWKV-${c.version} L${c.nLayer} C${c.nEmbd} H${c.nHead}×${c.headSize}`;
}
