// RWKV-7 (and 7 with DeepEmbed) in the version registry (src/model/version.ts says what each
// field is).

import { RwkvError } from '../../errors.ts';
import { type VersionSpec, matrixStateLayout, transpose } from '../version.ts';
import { blockV7, type V7StateKey } from './block.ts';

export const V7: VersionSpec<V7StateKey> = {
  versions: ['7', '7-deepembed'],
  detect: (has) => (has('blocks.0.att.r_k') ? (has('blocks.0.ffn.s_emb.weight') ? '7-deepembed' : '7') : undefined),
  signature: 'blocks.0.att.r_k (v7)',
  configure({ version, ckpt, get, nLayer }) {
    const rk = get('blocks.0.att.r_k');
    const lora: Record<string, number> = {
      w: get('blocks.0.att.w1').shape[1]!,
      a: get('blocks.0.att.a1').shape[1]!,
      g: get('blocks.0.att.g1').shape[1]!,
    };
    // layer 0 has no value-residual LoRA of use (v_first comes from it)
    const v1 = ckpt.get(nLayer > 1 ? 'blocks.1.att.v1' : 'blocks.0.att.v1');
    if (v1 !== undefined) lora['v'] = v1.shape[1]!;
    if (version === '7-deepembed') {
      lora['s'] = get('blocks.0.ffn.s1').shape[1]!;
      lora['s_emb'] = get('blocks.0.ffn.s_emb.weight').shape[1]!;
    }
    return { nHead: rk.shape[0]!, headSize: rk.shape[1]!, lora };
  },
  usesEmbedding: (cfg) => cfg.version === '7-deepembed',
  prepare({ cfg, take, put, keep, where, embLn }, i) {
    const p = `blocks.${i}.`;
    const [C, F, V, H, N] = [cfg.nEmbd, cfg.nFfn, cfg.nVocab, cfg.nHead, cfg.headSize];
    for (const m of ['r', 'w', 'k', 'v', 'a', 'g']) put(`${p}att.x_${m}`, [C], take(`${p}att.x_${m}`, [1, 1, C]));
    // LoRA factors used as `x @ M` become [out, in]; layer 0's v0/v1/v2 are dropped (unused:
    // v_first comes from layer 0)
    const loras = i > 0 ? ['w', 'a', 'g', 'v'] : ['w', 'a', 'g'];
    for (const name of loras) {
      const D = cfg.lora[name];
      if (D === undefined) throw new RwkvError('MISSING_TENSOR', 'v7 value-residual LoRA missing', { ...where, tensor: `${p}att.v1` });
      put(`${p}att.${name}1`, [D, C], transpose(take(`${p}att.${name}1`, [C, D]), C, D));
      put(`${p}att.${name}2`, [C, D], transpose(take(`${p}att.${name}2`, [D, C]), D, C));
      if (name !== 'g') put(`${p}att.${name}0`, [C], take(`${p}att.${name}0`, [1, 1, C]));
    }
    put(`${p}att.k_k`, [C], take(`${p}att.k_k`, [1, 1, C]));
    put(`${p}att.k_a`, [C], take(`${p}att.k_a`, [1, 1, C]));
    // r_k [H, N] → [C]
    put(`${p}att.r_k`, [C], take(`${p}att.r_k`, [H, N]));
    keep(`${p}att.ln_x.weight`, [C]);
    keep(`${p}att.ln_x.bias`, [C]);
    for (const m of ['key', 'value', 'receptance', 'output']) keep(`${p}att.${m}.weight`, [C, C]);
    put(`${p}ffn.x_k`, [C], take(`${p}ffn.x_k`, [1, 1, C]));
    keep(`${p}ffn.key.weight`, [F, C]);
    keep(`${p}ffn.value.weight`, [C, F]);
    if (cfg.version !== '7-deepembed') return;
    const S = cfg.lora['s']!; // 32
    const E = cfg.lora['s_emb']!; // 1024 = S·S
    if (E !== S * S) {
      throw new RwkvError('SHAPE_MISMATCH', 'DeepEmbed s_emb width must be the square of the s1 rank', {
        ...where,
        tensor: `${p}ffn.s_emb.weight`,
        expected: `[${V}, ${S * S}]`,
        actual: `[${V}, ${E}]`,
      });
    }
    // s_emb'[t] = s_emb[t] + ln0(emb)[t] · s_emb_xᵀ     (model.py L274-277)
    const sEmb = take(`${p}ffn.s_emb.weight`, [V, E]);
    const sEmbX = take(`${p}ffn.s_emb_x.weight`, [E, C]);
    const folded = new Float32Array(V * E);
    for (let t = 0; t < V; t++) {
      for (let j = 0; j < E; j++) {
        let s = sEmb[t * E + j]!;
        for (let c = 0; c < C; c++) s += embLn![t * C + c]! * sEmbX[j * C + c]!;
        folded[t * E + j] = s;
      }
    }
    put(`${p}ffn.s_emb.weight`, [V, E], folded);
    put(`${p}ffn.s1`, [S, C], transpose(take(`${p}ffn.s1`, [C, S]), C, S));
    put(`${p}ffn.s2`, [F, S], transpose(take(`${p}ffn.s2`, [S, F]), S, F));
    put(`${p}ffn.s0`, [F], take(`${p}ffn.s0`, [F]));
  },
  stateLayout: matrixStateLayout,
  block: blockV7,
  ops: (version) => (version === '7-deepembed' ? ['wkv7', 'rowVecMat'] : ['wkv7']),
};
