// RwkvModel: weights on a backend, the layer loop, logits. One code path for every T ≥ 1:
// one token is RNN mode, several tokens GPT mode; the version only picks the block function.

import type { Backend, Tensor, WeightStorage } from '../backends/backend.ts';
import { type BackendName, selectBackend } from '../backends/select.ts';
import {
  type OpenedStrategy,
  type Strategy,
  type StrategySegment,
  closeStrategy,
  createNamedBackend,
  openStrategy,
  openStrategySync,
  parseStrategy,
  weightStorage,
} from '../strategy.ts';
import { LN_EPS, V4_PP_INIT } from '../constants.ts';
import { RwkvError } from '../errors.ts';
import { type FileFormatName, loadCheckpoint, parseCheckpoint } from '../io/load.ts';
import { floatToHalf, halfToFloat } from '../tensor/float.ts';
import { type Checkpoint, numel } from '../tensor/tensor.ts';
import type { BlockFn } from './block.ts';
import { type ModelConfig, type RwkvVersion, detectConfig } from './config.ts';
import { Frame } from './frame.ts';
import { mergeLora } from './lora.ts';
import { prepareWeights } from './prepare.ts';
import { RwkvState, stateLayout } from './state.ts';
import { blockV4 } from './v4/block.ts';
import { blockV5 } from './v5/block.ts';
import { blockV6 } from './v6/block.ts';
import { blockV7 } from './v7/block.ts';

const BLOCKS: Record<RwkvVersion, BlockFn> = {
  '4': blockV4,
  '5.0': blockV5,
  '5.1': blockV5,
  '5.2': blockV5,
  '6': blockV6,
  '7': blockV7,
  '7-deepembed': blockV7,
};

export interface LoadOptions {
  /**
   * A backend name ('auto', 'ts', 'wasm', …) or a Backend instance: shorthand for a one-segment
   * strategy. `load` / `create` make named backends with select.ts `createBackend` (async; its
   * 'auto' is wasm where that works, else ts) and release them in dispose(); `fromCheckpoint`
   * uses the synchronous `selectBackend` ('auto' = ts). Default: 'auto' for `load` / `create`
   * (the fastest backend here: wasm where WebAssembly SIMD and threads work, else ts), and the ts
   * backend for `fromCheckpoint`.
   */
  backend?: BackendName | string | Backend;
  /**
   * Extra checkpoint files merged over the model's tensors before loading, e.g. a v6
   * state-tuning file holding blocks.N.att.time_state.
   */
  extraFiles?: readonly string[];
  /**
   * How weight matrices are kept: 'f32'; 'compact' keeps each matrix in bf16 or f16 when every
   * one of its values is exactly representable there (as in 16-bit checkpoints), which halves
   * memory and leaves every result unchanged; 'auto' (default) is 'compact' for models whose
   * float32 weights would exceed COMPACT_AUTO_BYTES, else 'f32' (faster on the ts backend).
   *
   * `{ backend: B, weights: 'f32' }` is the strategy "B fp32"; 'compact' and 'auto' have no
   * strategy-string form (they never change a result); `strategy: 'auto'` is `backend: 'auto'`
   * with `weights: 'auto'`.
   */
  weights?: 'f32' | 'compact' | 'auto';
  /**
   * Called as weights reach the backend: `loaded` of `total` parameters (the checkpoint's element
   * count), so a caller can draw a progress bar. The same shape as the Hub download progress.
   */
  onProgress?: (p: { phase: 'load'; file?: string; loaded: number; total: number }) => void;
  /**
   * Which backend runs which layers and how their weights are stored (src/strategy.ts,
   * docs/strategy.md): "wasm fp32", "wasm bf16 *8 -> ts fp32", "auto", … A string, a parsed
   * Strategy, or one opened with openStrategy (backends already made). Not together with
   * `backend` / `weights`.
   */
  strategy?: string | Strategy | OpenedStrategy;
  /** Worker threads for the backends a strategy opens (wasm); default: theirs. */
  threads?: number;
  /** LoRA checkpoints merged at load, in order: W' = W + (alpha / r)·B·A (src/model/lora.ts). */
  lora?: readonly { file: string; alpha: number }[];
}

/** Above this many bytes of float32 weights, weights: 'auto' keeps matrices compact. */
export const COMPACT_AUTO_BYTES = 1024 ** 3;

/**
 * Most tokens one forward call runs at once; longer inputs run in pieces of this size. 128 keeps
 * a prompt's activations small (v7 0.1B: ≈ 18 MiB) at no cost in speed: the matrix kernels'
 * token blocks are smaller than this (measured: 292 tok/s in 128-token calls vs 285 in one
 * 512-token call, rwkv bench 0.1B wasm fp32, 2 threads).
 */
export const FORWARD_CHUNK = 128;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
function byteSwapped(bits: Uint16Array): Uint16Array {
  return bits.map((b) => ((b & 0xff) << 8) | (b >>> 8));
}

/** The most compact storage that represents every value of `data` exactly. */
export function exactStorage(data: Float32Array): WeightStorage {
  const u32 = new Uint32Array(data.buffer, data.byteOffset, data.length);
  let bf16 = true;
  for (let i = 0; i < u32.length && bf16; i++) if ((u32[i]! & 0xffff) !== 0) bf16 = false;
  if (bf16) return 'bf16';
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (halfToFloat(floatToHalf(x)) !== x) return 'f32';
  }
  return 'f16';
}

/** Bytes a matrix or vector of `shape` takes in `storage` (i8: one byte a value + float32 mx, my, rx, ry). */
export function storageBytes(storage: WeightStorage, shape: readonly number[]): number {
  const n = numel(shape);
  if (storage === 'f32') return n * 4;
  if (storage === 'i8') return n + (shape.length === 2 ? 8 * (shape[0]! + shape[1]!) : 0);
  return n * 2;
}

/**
 * How one layer's weights are stored: as the `weights` option says ('f32' / 'compact'), or as a
 * strategy segment says (src/strategy.ts weightStorage).
 */
type StoragePolicy = 'f32' | 'compact' | StrategySegment;

/** Where one of the n_layer + 1 layers lives. */
interface LayerSlot {
  readonly backend: Backend;
  readonly policy: StoragePolicy;
}

/** The layer a runtime weight belongs to: blocks.i.* → i; emb → 0; ln_out, head → n_layer. */
function layerOfKey(key: string, nLayer: number): number {
  if (key.startsWith('blocks.')) return Number(key.slice(7, key.indexOf('.', 7)));
  return key.startsWith('emb.') ? 0 : nLayer;
}

function isOpened(s: LoadOptions['strategy']): s is OpenedStrategy {
  return typeof s === 'object' && 'placement' in s;
}

export interface ForwardOptions {
  /** Return logits for every input token ([T][V]) instead of the last one only. */
  allLogits?: boolean;
}

export interface ForwardResult {
  /** Logits [V] of the last token, or [T][V] with `allLogits`. */
  logits: Float32Array | Float32Array[];
  /** The state after the call (the same object that was passed in, advanced in place). */
  state: RwkvState;
}

export class RwkvModel {
  /** The backend of layer 0 (embedding and first block); the only one unless a strategy splits. */
  readonly backend: Backend;

  private constructor(
    readonly config: ModelConfig,
    /** The backend of each of the n_layer + 1 layers (index n_layer: ln_out + head). */
    readonly layerBackends: readonly Backend[],
    private readonly weights: Map<string, Tensor>,
    /** The file the model came from and its format (for `rwkv info`). */
    readonly source: { file: string; format: FileFormatName | 'memory' },
    /** Bytes of weights by how they are stored (requested; a backend may store f32 anyway). */
    readonly weightBytes: Readonly<Record<WeightStorage, number>>,
    /** The strategy in normal form, or how the backend / weights options were read. */
    readonly strategy: string,
    /** Backends this model opened itself (from a strategy string or backend name): released by dispose(). */
    private readonly owned: readonly Backend[],
  ) {
    this.backend = layerBackends[0]!;
  }

  /** Load a model file (.safetensors, rwkv.cpp .bin); version and shapes come from the weights. */
  static async load(file: string, options: LoadOptions = {}): Promise<RwkvModel> {
    const main = await loadCheckpoint(file);
    const ckpt = new Map(main.checkpoint);
    for (const extra of options.extraFiles ?? []) {
      for (const [k, t] of (await loadCheckpoint(extra)).checkpoint) ckpt.set(k, t);
    }
    let merged: Checkpoint = ckpt;
    for (const l of options.lora ?? []) merged = mergeLora(merged, (await loadCheckpoint(l.file)).checkpoint, l.alpha, l.file);
    return RwkvModel.create(merged, { ...options, file, format: main.format });
  }

  /**
   * A model from a file's bytes already in memory (in a browser: a fetch or an upload), in any
   * format `load` reads. `name` labels error messages and `source`. Extra files and LoRA: parse
   * each with parseCheckpoint, merge the maps (mergeLora for LoRA) and call `create`.
   */
  static async fromBytes(
    bytes: Uint8Array | ArrayBuffer,
    options: Omit<LoadOptions, 'extraFiles' | 'lora'> & { name?: string } = {},
  ): Promise<RwkvModel> {
    const { name, ...rest } = options;
    for (const key of ['extraFiles', 'lora'] as const) {
      if (key in rest) {
        throw new RwkvError('INVALID_ARGUMENT', `fromBytes takes no ${key} (they are file paths)`, {
          argument: key,
          hint: 'parse each file with parseCheckpoint, merge the tensors, and call RwkvModel.create',
        });
      }
    }
    const loaded = parseCheckpoint(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes), name);
    return RwkvModel.create(loaded.checkpoint, { ...rest, file: loaded.file, format: loaded.format });
  }

  /**
   * fromCheckpoint, but a strategy's backends are opened asynchronously (backends that start
   * workers, like wasm, need that).
   */
  static async create(
    ckpt: Checkpoint,
    options: LoadOptions & { file?: string; format?: FileFormatName | 'memory' } = {},
  ): Promise<RwkvModel> {
    const s = options.strategy;
    const threads = options.threads !== undefined ? { threads: options.threads } : {};
    let opened: Pick<OpenedStrategy, 'backends'>;
    let build: typeof options;
    if (s !== undefined && !isOpened(s)) {
      const o = await openStrategy(s, detectConfig(ckpt, options.file).nLayer, threads);
      [opened, build] = [o, { ...options, strategy: o }];
    } else if (s === undefined && (options.backend === undefined || typeof options.backend === 'string')) {
      // a backend by name, by default 'auto': select.ts createBackend (wasm where it works, else ts)
      const backend = await createNamedBackend(options.backend ?? 'auto', threads);
      [opened, build] = [{ backends: [backend] }, { ...options, backend }];
    } else {
      // a Backend instance, or an opened strategy
      return RwkvModel.fromCheckpoint(ckpt, options);
    }
    try {
      return RwkvModel.build(
        ckpt,
        build,
        opened.backends.filter((b) => b !== null),
      );
    } catch (e) {
      await closeStrategy(opened);
      throw e;
    }
  }

  /**
   * Build a model from tensors in the original checkpoint layout. A strategy string is opened
   * with synchronous backends only (select.ts selectBackend); use `create` for the others.
   */
  static fromCheckpoint(ckpt: Checkpoint, options: LoadOptions & { file?: string; format?: FileFormatName | 'memory' } = {}): RwkvModel {
    return RwkvModel.build(ckpt, options, []);
  }

  private static build(
    ckpt: Checkpoint,
    options: LoadOptions & { file?: string; format?: FileFormatName | 'memory' },
    owned: readonly Backend[],
  ): RwkvModel {
    const file = options.file;
    const config = detectConfig(ckpt, file);
    const { slots, strategy, opened } = RwkvModel.slots(ckpt, config, options);
    const weights = new Map<string, Tensor>();
    const bytes: Record<WeightStorage, number> = { f32: 0, bf16: 0, f16: 0, i8: 0 };
    // stream: each source tensor is read, transformed and uploaded to its layer's backend, then
    // dropped. Matrices (matmul weights; not the embedding tables, which are looked up) may be
    // stored compact, as the layer's policy says.
    let total = 0;
    for (const t of ckpt.values()) total += numel(t.shape);
    let loaded = 0;
    const progress = (n: number) => {
      loaded = Math.min(total, loaded + n);
      options.onProgress?.({ phase: 'load', ...(file !== undefined ? { file } : {}), loaded, total });
    };
    prepareWeights(ckpt, config, file, (key, t) => {
      progress(numel(t.shape));
      const { backend, policy } = slots[layerOfKey(key, config.nLayer)]!;
      const matrix = t.shape.length === 2 && !key.endsWith('emb.weight');
      // 'exact': the narrowest storage that keeps every value (the 'compact' option)
      const want: WeightStorage | 'exact' =
        policy === 'f32' ? 'f32' : policy === 'compact' ? (matrix ? 'exact' : 'f32') : weightStorage(key, t.shape, policy);
      const src = t.unchanged;
      if (matrix && (want === 'exact' || want === 'bf16' || want === 'f16') && src?.raw && backend.uploadCompact) {
        const encoding = src.storedAs === 'BF16' ? 'bf16' : src.storedAs === 'F16' ? 'f16' : undefined;
        if (encoding !== undefined && (want === 'exact' || want === encoding)) {
          // a 16-bit matrix used as stored: keep its bytes, never decode to float32
          const raw = src.raw();
          // own the bytes: adopt a buffer of exactly this tensor, copy a view into something larger
          const whole = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength;
          const bits = new Uint16Array(whole ? raw.buffer : raw.slice().buffer, 0, raw.length / 2);
          weights.set(key, backend.uploadCompact(LITTLE_ENDIAN ? bits : byteSwapped(bits), t.shape, key, encoding));
          bytes[encoding] += bits.length * 2;
          return;
        }
      }
      if ((want === 'f32' || want === 'bf16' || want === 'i8') && t.readInto !== undefined && backend.uploadFilled) {
        // decoded straight into the backend's memory (bf16 / int8: encoded there in place): no
        // host copy of the tensor
        weights.set(key, backend.uploadFilled(t.shape, key, t.readInto, want));
        bytes[want] += storageBytes(want, t.shape);
        return;
      }
      const data = t.data;
      const storage = want === 'exact' ? exactStorage(data) : want;
      weights.set(key, backend.upload(data, t.shape, key, storage));
      bytes[storage] += storageBytes(storage, t.shape);
    });
    options.onProgress?.({ phase: 'load', ...(file !== undefined ? { file } : {}), loaded: total, total });
    const source = { file: file ?? '(memory)', format: options.format ?? 'memory' } as const;
    // a strategy string opened here (synchronously): this model owns those backends
    const own = opened !== null && !isOpened(options.strategy) ? opened.backends.filter((b) => b !== null) : owned;
    return new RwkvModel(
      config,
      slots.map((s) => s.backend),
      weights,
      source,
      bytes,
      strategy,
      own,
    );
  }

  /** The backend and storage policy of each of the n_layer + 1 layers, from the options. */
  private static slots(
    ckpt: Checkpoint,
    config: ModelConfig,
    options: LoadOptions,
  ): { slots: LayerSlot[]; strategy: string; opened: OpenedStrategy | null } {
    const L = config.nLayer + 1;
    const autoPolicy = (): 'f32' | 'compact' => {
      let n = 0;
      for (const t of ckpt.values()) n += numel(t.shape);
      return n * 4 > COMPACT_AUTO_BYTES ? 'compact' : 'f32';
    };
    if (options.strategy === undefined) {
      // the one-segment shorthand: every layer on one backend, one policy
      const backend = selectBackend(options.backend ?? 'auto');
      const policy = options.weights === undefined || options.weights === 'auto' ? autoPolicy() : options.weights;
      const slot = { backend, policy };
      const strategy = policy === 'f32' ? `${backend.caps.name} fp32` : `${backend.caps.name} fp32 (16-bit-exact matrices compact)`;
      return { slots: Array.from({ length: L }, () => slot), strategy, opened: null };
    }
    if (options.backend !== undefined || options.weights !== undefined) {
      throw new RwkvError('INVALID_ARGUMENT', 'give either a strategy or backend / weights options, not both', {
        argument: 'strategy',
        hint: '"B fp32" is { backend: B, weights: "f32" }',
      });
    }
    const s = options.strategy;
    const opened = isOpened(s) ? s : openStrategySync(typeof s === 'string' ? parseStrategy(s) : s, config.nLayer);
    if (opened.placement.length !== L) {
      throw new RwkvError('INVALID_ARGUMENT', 'the opened strategy was allocated for another number of layers', {
        argument: 'strategy',
        expected: `${L} layers (n_layer + 1)`,
        actual: `${opened.placement.length}`,
      });
    }
    const policy0: 'f32' | 'compact' | undefined = opened.strategy.auto ? autoPolicy() : undefined;
    const slots = opened.placement.map((p): LayerSlot => {
      const backend = opened.backends[p.segment];
      if (backend == null)
        throw new RwkvError('INVALID_ARGUMENT', `strategy segment ${p.segment + 1} has layers but no backend`, { argument: 'strategy' });
      return { backend, policy: policy0 ?? opened.strategy.segments[p.segment]! };
    });
    return { slots, strategy: opened.strategy.text, opened };
  }

  private w(key: string): Tensor {
    const t = this.weights.get(key);
    if (t === undefined) throw new RwkvError('MISSING_TENSOR', 'runtime weight missing', { tensor: key });
    return t;
  }

  /** A fresh state, each layer's on that layer's backend: zeros (v4 pp = −1e30; v6 state tuning: the tuned att_kv). */
  createState(): RwkvState {
    const cfg = this.config;
    const layers: Tensor[][] = [];
    for (let i = 0; i < cfg.nLayer; i++) {
      const b = this.layerBackends[i]!;
      layers.push(
        stateLayout(cfg).map((e) => {
          const t = b.zeros(e.shape, `blocks.${i}.${e.name}`);
          if (e.name === 'att_pp') b.write(t, new Float32Array(cfg.nEmbd).fill(V4_PP_INIT));
          if (e.name === 'att_kv' && cfg.hasTimeState) b.copy(t, this.w(`blocks.${i}.att.time_state`));
          return t;
        }),
      );
    }
    return new RwkvState(this.layerBackends.slice(0, cfg.nLayer), cfg, layers);
  }

  /**
   * Feed tokens and get logits. One token = RNN mode, several = GPT mode: the same result
   * either way. `state` (default: a fresh one) is advanced in place and returned; clone it first
   * to keep the old one.
   */
  async forward(tokens: ArrayLike<number>, state?: RwkvState, options: ForwardOptions = {}): Promise<ForwardResult> {
    const cfg = this.config;
    const T = tokens.length;
    if (T === 0) throw new RwkvError('INVALID_ARGUMENT', 'forward needs at least one token', { argument: 'tokens' });
    const ids = new Int32Array(T);
    for (let t = 0; t < T; t++) {
      const id = tokens[t]!;
      if (!Number.isInteger(id) || id < 0 || id >= cfg.nVocab) {
        throw new RwkvError('INVALID_TOKEN', `token at position ${t} is not a valid id`, {
          argument: 'tokens',
          expected: `an integer in [0, ${cfg.nVocab})`,
          actual: String(id),
        });
      }
      ids[t] = id;
    }
    const st = state ?? this.createState();
    if (st.config !== cfg && !sameShape(st.config, cfg)) {
      throw new RwkvError('STATE_MISMATCH', 'the state belongs to a different model', {
        expected: describe(cfg),
        actual: describe(st.config),
      });
    }
    if (T <= FORWARD_CHUNK) return this.run(ids, st, options);
    // a long prompt runs in pieces, the state carried from one to the next: GPT mode over pieces
    // is GPT mode over the whole (the property tests bind any chunking to one call), and the
    // activations held at once stay [FORWARD_CHUNK, F] per layer however long the prompt is
    const rows: Float32Array[] = [];
    let last: Float32Array | undefined;
    for (let i = 0; i < T; i += FORWARD_CHUNK) {
      const { logits } = await this.run(ids.subarray(i, i + FORWARD_CHUNK), st, options);
      if (options.allLogits) rows.push(...(logits as Float32Array[]));
      else last = logits as Float32Array;
    }
    return { logits: options.allLogits ? rows : last!, state: st };
  }

  /** One GPT-mode call over `ids` (RNN mode when there is one). */
  private async run(ids: Int32Array, st: RwkvState, options: ForwardOptions): Promise<ForwardResult> {
    const cfg = this.config;
    const T = ids.length;
    const place = this.layerBackends;
    // one Frame per backend; with one backend (no split) this is a single frame
    let f = new Frame(place[0]!);
    const frames = [f];
    const frameOn = (b: Backend): Frame => {
      let g = frames.find((fr) => fr.backend === b);
      if (g === undefined) frames.push((g = new Frame(b)));
      return g;
    };
    try {
      let x = f.embedding(this.w('emb.weight'), ids);
      const shared: { vFirst?: Tensor } = {};
      const block = BLOCKS[cfg.version];
      for (let i = 0; i < cfg.nLayer; i++) {
        if (place[i] !== f.backend) {
          // segment boundary: the residual stream (and v7's v_first) move to the next backend
          const g = frameOn(place[i]!);
          x = await transfer(f, g, x);
          if (shared.vFirst !== undefined) shared.vFirst = await transfer(f, g, shared.vFirst);
          f = g;
        }
        // each block's temporaries are freed right after it (a long prompt then needs one layer's
        // activations, not all of them); v7's v_first, made by layer 0, is copied out to live on
        const lf = new Frame(f.backend);
        const prefix = `blocks.${i}.`;
        try {
          block({ f: lf, cfg, layer: i, W: (name) => this.w(prefix + name), state: st.layers[i]!, tokens: ids, shared }, x);
          if (i === 0 && shared.vFirst !== undefined) {
            const vFirst = f.zeros(shared.vFirst.shape, 'v_first');
            f.backend.copy(vFirst, shared.vFirst);
            shared.vFirst = vFirst;
          }
        } finally {
          lf.release();
        }
      }
      // head: ln_out and head.weight on the last layer's backend (the last row moves, if only it is needed)
      let h = x;
      if (!options.allLogits && T > 1) {
        h = f.zeros([1, cfg.nEmbd], 'x_last');
        f.saveLastRow(h, x);
      }
      if (place[cfg.nLayer] !== f.backend) {
        const g = frameOn(place[cfg.nLayer]!);
        h = await transfer(f, g, h);
        f = g;
      }
      const logits = f.matmul(f.layerNorm(h, this.w('ln_out.weight'), this.w('ln_out.bias'), cfg.nEmbd, LN_EPS), this.w('head.weight'));
      const flat = await f.backend.download(logits);
      if (!options.allLogits) return { logits: flat, state: st };
      const rows: Float32Array[] = [];
      for (let t = 0; t < T; t++) rows.push(flat.slice(t * cfg.nVocab, (t + 1) * cfg.nVocab));
      return { logits: rows, state: st };
    } finally {
      for (const fr of frames) fr.release();
    }
  }

  /**
   * Free the weights (backend memory), and release the backends the model opened itself from a
   * strategy string (e.g. wasm worker threads; the promise settles when they are gone). The model
   * is unusable afterwards.
   */
  dispose(): Promise<void> {
    for (const [key, t] of this.weights) this.layerBackends[layerOfKey(key, this.config.nLayer)]!.free(t);
    this.weights.clear();
    return closeStrategy({ backends: this.owned });
  }
}

/**
 * A copy of t (on frame `from`'s backend) in a new temporary of frame `to`: through the host
 * (download, then write). Both are CPU backends today, so this is two memcpy's of [T, C] floats
 * per boundary and call.
 */
async function transfer(from: Frame, to: Frame, t: Tensor): Promise<Tensor> {
  const host = await from.backend.download(t);
  const out = to.zeros(t.shape, t.label);
  to.backend.write(out, host);
  return out;
}

function sameShape(a: ModelConfig, b: ModelConfig): boolean {
  return describe(a) === describe(b);
}

function describe(c: ModelConfig): string {
  return `RWKV-${c.version} L${c.nLayer} C${c.nEmbd} H${c.nHead}×${c.headSize}`;
}
