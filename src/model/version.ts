// What one RWKV version family contributes to the model, declared in one place: its folder's
// version.ts (src/model/v4, v5, v6, v7) exports a VersionSpec, and registry.ts lists them. The
// rest of src/model is version-blind: config.ts, prepare.ts, state.ts and load.ts / model.ts ask
// the registry.
//
//   detect      which of the family's versions a checkpoint holds, from named keys
//   configure   head split and LoRA ranks, from the shapes
//   prepare     the load-time transforms of one block's weights (prepare.ts does the shared part)
//   stateLayout the per-layer state entries, in the official order, each named once
//   initState   what a fresh state holds besides zeros
//   block       the block function: x += TMix(LN(x; ln1)); x += CMix(LN(x; ln2))
//   ops         the optional Backend ops the block calls (checked at load)

import type { OptionalOp, Tensor } from '../backends/backend.ts';
import { LN_EPS, type RwkvVersion } from '../constants.ts';
import type { Checkpoint, HostTensor } from '../tensor/tensor.ts';
import type { Frame, LayerWeights } from './frame.ts';

/** A model's configuration, from the weights alone (config.ts detectConfig). */
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

/**
 * What a block function sees: the residual stream x [T, C], updated in place as
 * x += TMix(LN(x; ln1)); x += CMix(LN(x; ln2)), and that layer's state, advanced in place.
 */
export interface BlockContext<K extends string = string> {
  readonly f: Frame;
  readonly cfg: ModelConfig;
  readonly layer: number;
  /** Weights of this block by their name below `blocks.<layer>.`. */
  readonly W: LayerWeights;
  /** This layer's state entries by name (the keys of the version's stateLayout). */
  readonly state: Readonly<Record<K, Tensor>>;
  /** The token ids of this call (DeepEmbed's channel mix needs them). */
  readonly tokens: Int32Array;
  /** Values shared across the layers of one call (v7's v_first). */
  readonly shared: { vFirst?: Tensor };
}

export type BlockFn<K extends string = string> = (ctx: BlockContext<K>, x: Tensor) => void;

/** One branch of a block: the layer-normed stream xx [T, C] → the branch output [T, C]. */
export type BranchFn<K extends string = string> = (ctx: BlockContext<K>, xx: Tensor) => Tensor;

/**
 * The block of every version from its two branches:
 * x += TimeMix(LN(x; ln1));  x += ChannelMix(LN(x; ln2))   (model.py `RWKV.forward`'s layer loop).
 */
export function preNormBlock<K extends string>(timeMix: BranchFn<K>, channelMix: BranchFn<K>): BlockFn<K> {
  return (ctx, x) => {
    const { f, cfg, W } = ctx;
    f.addInPlace(x, timeMix(ctx, f.layerNorm(x, W('ln1.weight'), W('ln1.bias'), cfg.nEmbd, LN_EPS)));
    f.addInPlace(x, channelMix(ctx, f.layerNorm(x, W('ln2.weight'), W('ln2.bias'), cfg.nEmbd, LN_EPS)));
  };
}

/** One entry of a layer's state. */
export interface StateEntry<K extends string = string> {
  /**
   * The name blocks read the entry by (camelCase of `name`), the same as the reference's
   * LayerState fields: attXPrev, attKv, ffnXPrev; v4 attAa, attBb, attPp.
   */
  readonly key: K;
  /** The official name (snake_case), written in state files: att_x_prev, att_kv, ffn_x_prev, … */
  readonly name: string;
  readonly shape: readonly number[];
}

/** What detectConfig hands a family after the shared dimensions are known. */
export interface ConfigInput {
  readonly version: RwkvVersion;
  readonly ckpt: Checkpoint;
  readonly nLayer: number;
  readonly dimAtt: number;
  /** The checkpoint tensor `key`; MISSING_TENSOR if absent. */
  get(key: string): HostTensor;
  /** Where errors say the tensors came from. */
  readonly where: { file?: string };
}

/** The part of ModelConfig a family decides. */
export interface ConfigParts {
  readonly nHead: number;
  readonly headSize: number;
  readonly lora: Readonly<Record<string, number>>;
}

/** The tools prepareWeights lends a family to prepare block i (every key is a full key). */
export interface PrepareContext {
  readonly cfg: ModelConfig;
  readonly where: { file?: string };
  /** The checkpoint tensor `key` decoded, checked to have `shape` (leading/inner 1s ignored). */
  take(key: string, shape: readonly number[]): Float32Array;
  /** Hand over a runtime tensor. */
  put(key: string, shape: readonly number[], data: Float32Array): void;
  /** Hand over a checkpoint tensor unchanged (a loader may keep its stored bytes). */
  keep(key: string, shape: readonly number[]): void;
  /** LN(emb; ln0) [V, C], when the family's `usesEmbedding` says it needs it (DeepEmbed). */
  readonly embLn: Float32Array | undefined;
}

/** What a fresh state's initState hook may use. */
export interface InitStateInput<K extends string> {
  readonly cfg: ModelConfig;
  readonly layer: number;
  readonly backend: { write(t: Tensor, data: Float32Array): void; copy(dst: Tensor, src: Tensor): void };
  readonly state: Readonly<Record<K, Tensor>>;
  /** The runtime weight `blocks.<layer>.<name>`. */
  W(name: string): Tensor;
}

export interface VersionSpec<K extends string = string> {
  /** The versions of this family, as detectVersion names them. */
  readonly versions: readonly RwkvVersion[];
  /** The family's version of a checkpoint, or undefined when the keys are not this family's. */
  detect(has: (key: string) => boolean): RwkvVersion | undefined;
  /** How detect decides, for the error when no family matches. */
  readonly signature: string;
  configure(input: ConfigInput): ConfigParts;
  /** Whether `prepare` needs LN(emb; ln0) (PrepareContext.embLn). */
  usesEmbedding?(cfg: ModelConfig): boolean;
  /** Runtime weights of block i, keys `blocks.<i>.*` besides ln1 / ln2 (prepare.ts does those). */
  prepare(ctx: PrepareContext, i: number): void;
  stateLayout(cfg: ModelConfig): readonly StateEntry<K>[];
  /** A fresh state starts as zeros and then this. */
  initState?(input: InitStateInput<K>): void;
  readonly block: BlockFn<K>;
  /**
   * The optional Backend ops the block of `version` calls (a function, as one family's versions
   * may differ: DeepEmbed needs rowVecMat, plain v7 does not).
   */
  ops(version: RwkvVersion): readonly OptionalOp[];
}

// ---- load-time helpers the families share ----

/** Elementwise f(x) into a new array. */
export function mapValues(x: Float32Array, f: (v: number) => number): Float32Array {
  return Float32Array.from(x, f);
}

/** M [rows, cols] → Mᵀ [cols, rows]. */
export function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c]!;
  return t;
}

/** Repeat each of H per-head values N times → [H·N]. */
export function perChannel(x: Float32Array, H: number, N: number): Float32Array {
  const y = new Float32Array(H * N);
  for (let h = 0; h < H; h++) y.fill(x[h]!, h * N, (h + 1) * N);
  return y;
}

/** The tensor's shape with unit axes removed (e.g. [1, 1, C] → [C]; all ones → [1]). */
export function squeezed(t: HostTensor): number[] {
  const s = t.shape.filter((d) => d !== 1);
  return s.length === 0 ? [1] : s;
}

/**
 * The state of v5.x, v6 and v7 (model.py list entries 3i+0 .. 3i+2). attKv is [H, key, value] in
 * v5.x and v6 and [H, value, key] in v7, each as its official implementation keeps it.
 */
export function matrixStateLayout(cfg: ModelConfig): readonly StateEntry<'attXPrev' | 'attKv' | 'ffnXPrev'>[] {
  return [
    { key: 'attXPrev', name: 'att_x_prev', shape: [cfg.nEmbd] },
    { key: 'attKv', name: 'att_kv', shape: [cfg.nHead, cfg.headSize, cfg.headSize] },
    { key: 'ffnXPrev', name: 'ffn_x_prev', shape: [cfg.nEmbd] },
  ];
}
