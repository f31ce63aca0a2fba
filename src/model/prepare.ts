// Every load-time transform, in one place. Input: a checkpoint in the original RWKV layout
// (src/io guarantees that for every file format). Output: the runtime weights the model uploads
// to a backend, keyed by checkpoint names, every matrix [out, in], every vector flat [C].
//
// Done here, for every version: the head and ln_out as they are, ln1 / ln2 of every block, and
//  - emb.weight := LayerNorm(emb.weight; blocks.0.ln0)        (model.py L755-760; v7 L245-282)
//    so the runtime never applies ln0.
// The rest is each version's (src/model/<family>/version.ts `prepare`), in the same form:
//  - v4/v5 `time_mix_x` (x·μ + prev·(1−μ)) become v6's `time_maa_x` = 1 − μ (x + (prev−x)·maa),
//    so every version's token shift is one lerp. Same numbers up to f32 rounding.
//  - decays: v4 w = −exp(time_decay); v5 w = exp(−exp(time_decay)), per head → per channel;
//    v5.0/5.1 bonus u = exp(time_first) per head → per channel, stored as time_faaaa; 5.2/6 u =
//    time_faaaa flattened; v6 time_decay stays raw (the LoRA is added per token).
//  - LoRA factors used as `x @ M` (v6 time_maa_w1/w2, time_decay_w1/w2; v7 w1..g2; DeepEmbed
//    s1, s2) are transposed to [out, in]; v6's packed time_maa_w1 [C, 5D] / time_maa_w2 [5, D, C]
//    are split into one pair per target (w, k, v, r, g).
//  - v6 state tuning: att.time_state [H, value, key] → [H, key, value] (model.py's att_kv layout).
//  - v7: r_k [H, N] → [C]; layer 0's v0/v1/v2 are dropped (unused: v_first comes from layer 0);
//    DeepEmbed's s_emb folds ln0(emb)·s_emb_xᵀ in (model.py L274-277).

import { LN_EPS } from '../constants.ts';
import { RwkvError, shapeString } from '../errors.ts';
import { type Checkpoint, type HostTensor, readTensor } from '../tensor/tensor.ts';
import type { ModelConfig } from './config.ts';
import { versionSpec } from './registry.ts';
import type { PrepareContext } from './version.ts';

export { V6_MAA_TARGETS } from './v6/version.ts';

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
  const V = cfg.nVocab;
  const spec = versionSpec(cfg.version);
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
  // ---- head first: the other large matrix. A backend that encodes a compact head in place
  // (bf16, int8) frees most of its float32 space again, and the embedding then reuses it, so
  // memory peaks at the weights' own size rather than table + float32 head.
  keep('ln_out.weight', [C]);
  keep('ln_out.bias', [C]);
  keep('head.weight', [V, C]);

  // ---- embedding with ln0 folded in ----
  // The table is the largest tensor (V·C floats): normalised in place when the read gave a fresh
  // array (a lazy tensor; a caller's array is never written), and held past its upload only when
  // the version's prepare still needs it (DeepEmbed), so loading holds one copy of it at most, and only briefly.
  // (in a function of its own, so no local of this one keeps the table alive)
  // Where the source decodes into a given array, the consumer may have it written (and
  // normalised in place) straight into its own memory.
  const embLn = ((): Float32Array | undefined => {
    const source = ckpt.get('emb.weight');
    const w = take('blocks.0.ln0.weight', [C]);
    const b = take('blocks.0.ln0.bias', [C]);
    const deep = spec.usesEmbedding?.(cfg) ?? false;
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
    const normed = layerNormRows(emb, w, b, V, C, source?.read !== undefined ? emb : undefined);
    put('emb.weight', [V, C], normed);
    return deep ? normed : undefined;
  })();

  const ctx: PrepareContext = { cfg, where, take, put, keep, embLn };
  for (let i = 0; i < cfg.nLayer; i++) {
    const p = `blocks.${i}.`;
    for (const ln of ['ln1', 'ln2']) {
      keep(`${p}${ln}.weight`, [C]);
      keep(`${p}${ln}.bias`, [C]);
    }
    spec.prepare(ctx, i);
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
