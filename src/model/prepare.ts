// Every load-time transform, in one place. Input: a checkpoint in the original RWKV layout
// (src/io guarantees that for every file format). Output: the runtime weights the model uploads
// to a backend, keyed by checkpoint names, every matrix [out, in], every vector flat [C].
//
// What changes (SPEC §2.1.2, §2.5; each line below says where the official package does it):
//  - emb.weight := LayerNorm(emb.weight; blocks.0.ln0)        (model.py L755-760; v7 L245-282)
//    so the runtime never applies ln0. DeepEmbed's s_emb folds ln0(emb)·s_emb_xᵀ in (L274-277).
//  - v4/v5 `time_mix_x` (x·μ + prev·(1−μ)) become v6's `time_maa_x` = 1 − μ (x + (prev−x)·maa),
//    so every version's token shift is one lerp. Same numbers up to f32 rounding.
//  - decays: v4 w = −exp(time_decay); v5 w = exp(−exp(time_decay)), per head → per channel;
//    v5.0/5.1 bonus u = exp(time_first) per head → per channel, stored as time_faaaa; 5.2/6 u =
//    time_faaaa flattened; v6 time_decay stays raw (the LoRA is added per token).
//  - LoRA factors used as `x @ M` (v6 time_maa_w1/w2, time_decay_w1/w2; v7 w1..g2; DeepEmbed
//    s1, s2) are transposed to [out, in]; v6's packed time_maa_w1 [C, 5D] / time_maa_w2 [5, D, C]
//    are split into one pair per target (w, k, v, r, g).
//  - v6 state tuning: att.time_state [H, value, key] → [H, key, value] (model.py's att_kv layout).
//  - v7: r_k [H, N] → [C]; layer 0's v0/v1/v2 are dropped (unused: v_first comes from layer 0).

import { LN_EPS } from '../constants.ts';
import { RwkvError, shapeString } from '../errors.ts';
import { type Checkpoint, type HostTensor, readTensor } from '../tensor/tensor.ts';
import type { ModelConfig } from './config.ts';

export interface RuntimeTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
  /**
   * The checkpoint tensor this one is, unchanged (same values, same [out, in] layout), when it
   * is: a loader may then take its stored bytes as they are (e.g. bf16 matrices kept compact)
   * without decoding to float32 first.
   */
  readonly unchanged?: HostTensor;
  /**
   * Write the values straight into `dst` (length = product(shape)), when the source can decode
   * into a given array: a loader then fills backend memory without a host copy.
   */
  readonly readInto?: (dst: Float32Array) => void;
}
export type RuntimeWeights = Map<string, RuntimeTensor>;

/** v6 token-shift LoRA targets, in the order of time_maa_w1's column blocks and time_maa_w2. */
export const V6_MAA_TARGETS = ['w', 'k', 'v', 'r', 'g'] as const;

/**
 * Transform a checkpoint into runtime weights. With `sink`, each tensor is handed over as soon
 * as it is ready and not kept (so loading streams: one source tensor in memory at a time);
 * without, they are collected into the returned map.
 */
export function prepareWeights(
  ckpt: Checkpoint,
  cfg: ModelConfig,
  file?: string,
  sink?: (key: string, t: RuntimeTensor) => void,
): RuntimeWeights {
  const out: RuntimeWeights = new Map();
  const C = cfg.nEmbd;
  const F = cfg.nFfn;
  const V = cfg.nVocab;
  const H = cfg.nHead;
  const N = cfg.headSize;
  const where = file !== undefined ? { file } : {};

  /** The checkpoint tensor `key`, checked to have `shape` (leading/inner 1s ignored). */
  const checkShape = (key: string, t: HostTensor, shape: readonly number[]): void => {
    const want = shape.filter((d) => d !== 1).join(',');
    const got = t.shape.filter((d) => d !== 1).join(',');
    if (want !== got) {
      throw new RwkvError('SHAPE_MISMATCH', 'tensor has the wrong shape', {
        ...where,
        tensor: key,
        expected: shapeString(shape),
        actual: shapeString(t.shape),
      });
    }
  };
  /** The checkpoint tensor `key`, checked to have `shape` (leading/inner 1s ignored). */
  const take = (key: string, shape: readonly number[]): Float32Array => {
    const t: HostTensor | undefined = ckpt.get(key);
    if (t === undefined)
      throw new RwkvError('MISSING_TENSOR', `tensor missing for an RWKV-${cfg.version} model`, { ...where, tensor: key });
    checkShape(key, t, shape);
    return readTensor(t); // a fresh decode: loading never fills the decoded-tensor cache
  };

  const put = (key: string, shape: readonly number[], data: Float32Array): void => {
    if (sink) sink(key, { shape: [...shape], data });
    else out.set(key, { shape: [...shape], data });
  };
  /** A tensor used as it is: its data is decoded only if the consumer asks for it. */
  const keep = (key: string, shape: readonly number[]): void => {
    const t = ckpt.get(key);
    if (t === undefined || !sink) {
      put(key, shape, take(key, shape));
      return;
    }
    checkShape(key, t, shape);
    const readInto = t.readInto;
    sink(key, {
      shape: [...shape],
      get data() {
        return readTensor(t);
      },
      unchanged: t,
      ...(readInto !== undefined ? { readInto } : {}),
    });
  };
  const map = (x: Float32Array, f: (v: number) => number) => Float32Array.from(x, f);
  /** M [rows, cols] → Mᵀ [cols, rows]. */
  const transpose = (m: Float32Array, rows: number, cols: number): Float32Array => {
    const t = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c]!;
    return t;
  };
  /** Repeat each of H per-head values N times → [H·N]. */
  const perChannel = (x: Float32Array): Float32Array => {
    const y = new Float32Array(H * N);
    for (let h = 0; h < H; h++) y.fill(x[h]!, h * N, (h + 1) * N);
    return y;
  };

  // ---- head first: the other large matrix. A backend that encodes a compact head in place
  // (bf16, int8) frees most of its float32 space again, and the embedding then reuses it, so
  // memory peaks at the weights' own size rather than table + float32 head.
  keep('ln_out.weight', [C]);
  keep('ln_out.bias', [C]);
  keep('head.weight', [V, C]);

  // ---- embedding with ln0 folded in ----
  // The table is the largest tensor (V·C floats): normalised in place when the read gave a fresh
  // array (a lazy tensor; a caller's array is never written), and held past its upload only when
  // DeepEmbed still needs it, so loading holds one copy of it at most, and only briefly.
  // (in a function of its own, so no local of this one keeps the table alive)
  // Where the source decodes into a given array, the consumer may have it written (and
  // normalised in place) straight into its own memory.
  const embLnForDeepEmbed = ((): Float32Array | undefined => {
    const source = ckpt.get('emb.weight');
    const w = take('blocks.0.ln0.weight', [C]);
    const b = take('blocks.0.ln0.bias', [C]);
    const deep = cfg.version === '7-deepembed';
    const readInto = source?.readInto;
    if (sink && source !== undefined && readInto !== undefined && !deep) {
      checkShape('emb.weight', source, [V, C]);
      sink('emb.weight', {
        shape: [V, C],
        get data() {
          return layerNormRows(readTensor(source), w, b, V, C);
        },
        readInto: (dst) => {
          readInto(dst);
          layerNormRows(dst, w, b, V, C, dst);
        },
      });
      return undefined;
    }
    const emb = take('emb.weight', [V, C]);
    const embLn = layerNormRows(emb, w, b, V, C, source?.read !== undefined ? emb : undefined);
    put('emb.weight', [V, C], embLn);
    return deep ? embLn : undefined;
  })();

  for (let i = 0; i < cfg.nLayer; i++) {
    const p = `blocks.${i}.`;
    for (const ln of ['ln1', 'ln2']) {
      keep(`${p}${ln}.weight`, [C]);
      keep(`${p}${ln}.bias`, [C]);
    }
    const v = cfg.version;
    if (v === '4' || v === '5.0' || v === '5.1' || v === '5.2') {
      // x·μ + prev·(1−μ) = x + (prev − x)·(1 − μ)
      const mixes = v === '4' || v === '5.0' ? ['k', 'v', 'r'] : ['k', 'v', 'r', 'g'];
      for (const m of mixes)
        put(
          `${p}att.time_maa_${m}`,
          [C],
          map(take(`${p}att.time_mix_${m}`, [1, 1, C]), (x) => 1 - x),
        );
      for (const m of ['k', 'r'])
        put(
          `${p}ffn.time_maa_${m}`,
          [C],
          map(take(`${p}ffn.time_mix_${m}`, [1, 1, C]), (x) => 1 - x),
        );
      for (const m of ['key', 'value', 'receptance', 'output']) keep(`${p}att.${m}.weight`, [C, C]);
      if (v !== '4' && v !== '5.0') keep(`${p}att.gate.weight`, [C, C]);
      keep(`${p}ffn.key.weight`, [F, C]);
      keep(`${p}ffn.receptance.weight`, [C, C]);
      keep(`${p}ffn.value.weight`, [C, F]);
    }
    if (v === '4') {
      // w = −exp(time_decay) (model.py L796-804), u = time_first as is
      put(
        `${p}att.time_decay`,
        [C],
        map(take(`${p}att.time_decay`, [C]), (x) => -Math.exp(x)),
      );
      keep(`${p}att.time_first`, [C]);
    } else if (v === '5.0' || v === '5.1') {
      put(`${p}att.time_decay`, [C], perChannel(map(take(`${p}att.time_decay`, [H]), (x) => Math.exp(-Math.exp(x)))));
      put(`${p}att.time_faaaa`, [C], perChannel(map(take(`${p}att.time_first`, [H]), Math.exp)));
    } else if (v === '5.2') {
      put(
        `${p}att.time_decay`,
        [C],
        map(take(`${p}att.time_decay`, [H, N]), (x) => Math.exp(-Math.exp(x))),
      );
      put(`${p}att.time_faaaa`, [C], take(`${p}att.time_faaaa`, [H, N]));
    } else if (v === '6') {
      for (const m of ['x', ...V6_MAA_TARGETS]) put(`${p}att.time_maa_${m}`, [C], take(`${p}att.time_maa_${m}`, [1, 1, C]));
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
        // stored [H, value, key] (RWKV-LM state tuning); model.py's att_kv is [H, key, value]
        const ts = take(`${p}att.time_state`, [H, N, N]);
        const t = new Float32Array(H * N * N);
        for (let h = 0; h < H; h++) t.set(transpose(ts.subarray(h * N * N, (h + 1) * N * N), N, N), h * N * N);
        put(`${p}att.time_state`, [H, N, N], t);
      }
    } else {
      // v7
      for (const m of ['r', 'w', 'k', 'v', 'a', 'g']) put(`${p}att.x_${m}`, [C], take(`${p}att.x_${m}`, [1, 1, C]));
      const loras: [string, string][] = [
        ['w', 'w'],
        ['a', 'a'],
        ['g', 'g'],
      ];
      if (i > 0) loras.push(['v', 'v']);
      for (const [name, rank] of loras) {
        const D = cfg.lora[rank];
        if (D === undefined) throw new RwkvError('MISSING_TENSOR', 'v7 value-residual LoRA missing', { ...where, tensor: `${p}att.v1` });
        put(`${p}att.${name}1`, [D, C], transpose(take(`${p}att.${name}1`, [C, D]), C, D));
        put(`${p}att.${name}2`, [C, D], transpose(take(`${p}att.${name}2`, [D, C]), D, C));
        if (name !== 'g') put(`${p}att.${name}0`, [C], take(`${p}att.${name}0`, [1, 1, C]));
      }
      put(`${p}att.k_k`, [C], take(`${p}att.k_k`, [1, 1, C]));
      put(`${p}att.k_a`, [C], take(`${p}att.k_a`, [1, 1, C]));
      put(`${p}att.r_k`, [C], take(`${p}att.r_k`, [H, N]));
      keep(`${p}att.ln_x.weight`, [C]);
      keep(`${p}att.ln_x.bias`, [C]);
      for (const m of ['key', 'value', 'receptance', 'output']) keep(`${p}att.${m}.weight`, [C, C]);
      put(`${p}ffn.x_k`, [C], take(`${p}ffn.x_k`, [1, 1, C]));
      keep(`${p}ffn.key.weight`, [F, C]);
      keep(`${p}ffn.value.weight`, [C, F]);
      if (v === '7-deepembed') {
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
            for (let c = 0; c < C; c++) s += embLnForDeepEmbed![t * C + c]! * sEmbX[j * C + c]!;
            folded[t * E + j] = s;
          }
        }
        put(`${p}ffn.s_emb.weight`, [V, E], folded);
        put(`${p}ffn.s1`, [S, C], transpose(take(`${p}ffn.s1`, [C, S]), C, S));
        put(`${p}ffn.s2`, [F, S], transpose(take(`${p}ffn.s2`, [S, F]), S, F));
        put(`${p}ffn.s0`, [F], take(`${p}ffn.s0`, [F]));
      }
    }
    if (v === '5.0' || v === '5.1' || v === '5.2' || v === '6') {
      keep(`${p}att.ln_x.weight`, [C]);
      keep(`${p}att.ln_x.bias`, [C]);
    }
  }
  return out;
}

/** LayerNorm of each row of x [rows, C], in f64, rounded to f32, into `y` (may be x itself). */
function layerNormRows(
  x: Float32Array,
  w: Float32Array,
  b: Float32Array,
  rows: number,
  C: number,
  y: Float32Array = new Float32Array(rows * C),
): Float32Array {
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[r * C + c]!;
    mean /= C;
    let variance = 0;
    for (let c = 0; c < C; c++) variance += (x[r * C + c]! - mean) ** 2;
    variance /= C;
    const inv = 1 / Math.sqrt(variance + LN_EPS);
    for (let c = 0; c < C; c++) y[r * C + c] = (x[r * C + c]! - mean) * inv * w[c]! + b[c]!;
  }
  return y;
}
