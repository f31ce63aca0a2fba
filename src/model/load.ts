// Loading: a checkpoint (file, bytes or tensors in memory) becomes the parts of an RwkvModel:
// the configuration, the runtime weights prepared (prepare.ts) and placed on each layer's backend
// as the options or strategy say, and the backends the model owns. RwkvModel's static methods
// (load, fromBytes, create, fromCheckpoint) are these functions.

import { type Backend, type OptionalOp, type Tensor, type WeightStorage, implementsOp } from '../backends/backend.ts';
import { type BackendName, selectBackend } from '../backends/select.ts';
import { RwkvError } from '../errors.ts';
import { type FileFormatName, loadCheckpoint, parseCheckpoint } from '../io/load.ts';
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
import { floatToHalf, halfToFloat } from '../tensor/float.ts';
import { type Checkpoint, numel } from '../tensor/tensor.ts';
import { type ModelConfig, detectConfig } from './config.ts';
import { mergeLora } from './lora.ts';
import { prepareWeights } from './prepare.ts';
import { versionSpec } from './registry.ts';

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
export function layerOfKey(key: string, nLayer: number): number {
  if (key.startsWith('blocks.')) return Number(key.slice(7, key.indexOf('.', 7)));
  return key.startsWith('emb.') ? 0 : nLayer;
}

function isOpened(s: LoadOptions['strategy']): s is OpenedStrategy {
  return typeof s === 'object' && 'placement' in s;
}

/** What a loaded model is made of (RwkvModel's constructor takes it). */
export interface ModelParts {
  readonly config: ModelConfig;
  /** The backend of each of the n_layer + 1 layers (index n_layer: ln_out + head). */
  readonly layerBackends: readonly Backend[];
  /** Runtime weights by checkpoint key, each on its layer's backend. */
  readonly weights: Map<string, Tensor>;
  readonly source: { file: string; format: FileFormatName | 'memory' };
  readonly weightBytes: Readonly<Record<WeightStorage, number>>;
  readonly strategy: string;
  /** Backends the model opened itself: released by its dispose(). */
  readonly owned: readonly Backend[];
}

/** Load options plus where the tensors came from (for errors and `source`). */
export type BuildOptions = LoadOptions & { file?: string; format?: FileFormatName | 'memory' };

/** RwkvModel.load: a model file (.pth, .safetensors, rwkv.cpp .bin, GGUF) with its extra files and LoRAs merged. */
export async function loadModel(file: string, options: LoadOptions = {}): Promise<ModelParts> {
  const main = await loadCheckpoint(file);
  const ckpt = new Map(main.checkpoint);
  for (const extra of options.extraFiles ?? []) {
    for (const [k, t] of (await loadCheckpoint(extra)).checkpoint) ckpt.set(k, t);
  }
  let merged: Checkpoint = ckpt;
  for (const l of options.lora ?? []) merged = mergeLora(merged, (await loadCheckpoint(l.file)).checkpoint, l.alpha, l.file);
  return createModel(merged, { ...options, file, format: main.format });
}

/** RwkvModel.fromBytes: a model from a file's bytes already in memory. */
export async function modelFromBytes(
  bytes: Uint8Array | ArrayBuffer,
  options: Omit<LoadOptions, 'extraFiles' | 'lora'> & { name?: string } = {},
): Promise<ModelParts> {
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
  return createModel(loaded.checkpoint, { ...rest, file: loaded.file, format: loaded.format });
}

/** RwkvModel.create: buildModel, with a strategy's (or a named backend's) backends opened asynchronously. */
export async function createModel(ckpt: Checkpoint, options: BuildOptions = {}): Promise<ModelParts> {
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
    return buildModel(ckpt, options);
  }
  try {
    return buildModel(
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
 * RwkvModel.fromCheckpoint: the weights prepared (prepare.ts) and placed on each layer's backend.
 * A strategy string is opened with synchronous backends only; `owned` are backends the caller
 * opened for this model (released by its dispose()).
 */
export function buildModel(ckpt: Checkpoint, options: BuildOptions = {}, owned: readonly Backend[] = []): ModelParts {
  const file = options.file;
  const config = detectConfig(ckpt, file);
  const { slots, strategy, opened } = layerSlots(ckpt, config, options);
  try {
    checkOps(config, slots);
  } catch (e) {
    // backends of a strategy string opened here are this call's to release
    if (opened !== null && !isOpened(options.strategy)) void closeStrategy(opened);
    throw e;
  }
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
  return { config, layerBackends: slots.map((s) => s.backend), weights, source, weightBytes: bytes, strategy, owned: own };
}

/**
 * Every layer's backend implements the optional ops the version's block calls
 * (src/model/<family>/version.ts `ops`); else OP_UNSUPPORTED, before any weight is uploaded.
 */
function checkOps(config: ModelConfig, slots: readonly LayerSlot[]): void {
  const ops: readonly OptionalOp[] = versionSpec(config.version).ops(config.version);
  for (let i = 0; i < config.nLayer; i++) {
    const backend = slots[i]!.backend;
    for (const op of ops) {
      if (implementsOp(backend, op)) continue;
      throw new RwkvError('OP_UNSUPPORTED', `the ${backend.caps.name} backend has no ${op} op, which RWKV-${config.version} needs`, {
        expected: `a backend implementing ${ops.join(', ')} for layer ${i}`,
        actual: backend.caps.name,
        hint: 'the ts, wasm and cuda backends implement every op; run these layers on one of them (e.g. strategy "ts fp32")',
      });
    }
  }
}

/** The backend and storage policy of each of the n_layer + 1 layers, from the options. */
function layerSlots(
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
