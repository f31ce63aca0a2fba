// RwkvModel: weights on a backend, the layer loop, logits. One code path for every T ≥ 1:
// one token is RNN mode, several tokens GPT mode; the version only picks the block function.

import type { Backend, Tensor, WeightStorage } from '../backends/backend.ts';
import { type BackendName, selectBackend } from '../backends/select.ts';
import { LN_EPS, V4_PP_INIT } from '../constants.ts';
import { RwkvError } from '../errors.ts';
import { type FileFormatName, loadCheckpoint } from '../io/load.ts';
import { floatToHalf, halfToFloat } from '../io/float.ts';
import { type Checkpoint, numel } from '../io/tensor.ts';
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
  /** 'auto' (default), 'ts', or a Backend instance. */
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
   */
  weights?: 'f32' | 'compact' | 'auto';
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
  private constructor(
    readonly config: ModelConfig,
    readonly backend: Backend,
    private readonly weights: Map<string, Tensor>,
    /** The file the model came from and its format (for `rwkv info`). */
    readonly source: { file: string; format: FileFormatName | 'memory' },
    /** Bytes of weights by how they are stored (requested; a backend may store f32 anyway). */
    readonly weightBytes: Readonly<Record<WeightStorage, number>>,
  ) {}

  /** Load a model file (.safetensors, rwkv.cpp .bin); version and shapes come from the weights. */
  static async load(file: string, options: LoadOptions = {}): Promise<RwkvModel> {
    const main = await loadCheckpoint(file);
    const ckpt = new Map(main.checkpoint);
    for (const extra of options.extraFiles ?? []) {
      for (const [k, t] of (await loadCheckpoint(extra)).checkpoint) ckpt.set(k, t);
    }
    let merged: Checkpoint = ckpt;
    for (const l of options.lora ?? []) merged = mergeLora(merged, (await loadCheckpoint(l.file)).checkpoint, l.alpha, l.file);
    return RwkvModel.fromCheckpoint(merged, { ...options, file, format: main.format });
  }

  /** Build a model from tensors in the original checkpoint layout. */
  static fromCheckpoint(
    ckpt: Checkpoint,
    options: LoadOptions & { file?: string; format?: FileFormatName | 'memory' } = {},
  ): RwkvModel {
    const file = options.file;
    const config = detectConfig(ckpt, file);
    const backend = selectBackend(options.backend ?? 'auto');
    const weights = new Map<string, Tensor>();
    const bytes: Record<WeightStorage, number> = { f32: 0, bf16: 0, f16: 0, i8: 0 };
    let policy = options.weights ?? 'auto';
    if (policy === 'auto') {
      let n = 0;
      for (const t of ckpt.values()) n += numel(t.shape);
      policy = n * 4 > COMPACT_AUTO_BYTES ? 'compact' : 'f32';
    }
    // stream: each source tensor is read, transformed and uploaded, then dropped.
    // Matrices (matmul weights; not the embedding tables, which are looked up) may go compact.
    prepareWeights(ckpt, config, file, (key, t) => {
      const matrix = t.shape.length === 2 && !key.endsWith('emb.weight');
      const src = t.unchanged;
      if (policy === 'compact' && matrix && src?.raw && (src.storedAs === 'BF16' || src.storedAs === 'F16') && backend.uploadCompact) {
        // a 16-bit matrix used as stored: keep its bytes, never decode to float32
        const raw = src.raw();
        // own the bytes: adopt a buffer of exactly this tensor, copy a view into something larger
        const whole = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength;
        const bits = new Uint16Array(whole ? raw.buffer : raw.slice().buffer, 0, raw.length / 2);
        const encoding = src.storedAs === 'BF16' ? 'bf16' : 'f16';
        weights.set(key, backend.uploadCompact(LITTLE_ENDIAN ? bits : byteSwapped(bits), t.shape, key, encoding));
        bytes[encoding] += bits.length * 2;
        return;
      }
      const data = t.data;
      const storage = policy === 'compact' && matrix ? exactStorage(data) : 'f32';
      weights.set(key, backend.upload(data, t.shape, key, storage));
      bytes[storage] += data.length * (storage === 'f32' ? 4 : 2);
    });
    return new RwkvModel(config, backend, weights, { file: file ?? '(memory)', format: options.format ?? 'memory' }, bytes);
  }

  private w(key: string): Tensor {
    const t = this.weights.get(key);
    if (t === undefined) throw new RwkvError('MISSING_TENSOR', 'runtime weight missing', { tensor: key });
    return t;
  }

  /** A fresh state: zeros (v4 pp = −1e30; v6 state tuning: the tuned att_kv). */
  createState(): RwkvState {
    const cfg = this.config;
    const layers: Tensor[][] = [];
    for (let i = 0; i < cfg.nLayer; i++) {
      layers.push(
        stateLayout(cfg).map((e) => {
          const t = this.backend.zeros(e.shape, `blocks.${i}.${e.name}`);
          if (e.name === 'att_pp') this.backend.write(t, new Float32Array(cfg.nEmbd).fill(V4_PP_INIT));
          if (e.name === 'att_kv' && cfg.hasTimeState) this.backend.copy(t, this.w(`blocks.${i}.att.time_state`));
          return t;
        }),
      );
    }
    return new RwkvState(this.backend, cfg, layers);
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
          argument: 'tokens', expected: `an integer in [0, ${cfg.nVocab})`, actual: String(id),
        });
      }
      ids[t] = id;
    }
    const st = state ?? this.createState();
    if (st.config !== cfg && !sameShape(st.config, cfg)) {
      throw new RwkvError('STATE_MISMATCH', 'the state belongs to a different model', {
        expected: describe(cfg), actual: describe(st.config),
      });
    }
    const f = new Frame(this.backend);
    try {
      const x = f.embedding(this.w('emb.weight'), ids);
      const shared = {};
      const block = BLOCKS[cfg.version];
      for (let i = 0; i < cfg.nLayer; i++) {
        const prefix = `blocks.${i}.`;
        block({ f, cfg, layer: i, W: (name) => this.w(prefix + name), state: st.layers[i]!, tokens: ids, shared }, x);
      }
      let h = x;
      if (!options.allLogits && T > 1) {
        h = f.zeros([1, cfg.nEmbd], 'x_last');
        f.saveLastRow(h, x);
      }
      const logits = f.matmul(f.layerNorm(h, this.w('ln_out.weight'), this.w('ln_out.bias'), cfg.nEmbd, LN_EPS), this.w('head.weight'));
      const flat = await this.backend.download(logits);
      if (!options.allLogits) return { logits: flat, state: st };
      const rows: Float32Array[] = [];
      for (let t = 0; t < T; t++) rows.push(flat.slice(t * cfg.nVocab, (t + 1) * cfg.nVocab));
      return { logits: rows, state: st };
    } finally {
      f.release();
    }
  }

  /** Free the weights (backend memory). The model is unusable afterwards. */
  dispose(): void {
    for (const t of this.weights.values()) this.backend.free(t);
    this.weights.clear();
  }
}

function sameShape(a: ModelConfig, b: ModelConfig): boolean {
  return describe(a) === describe(b);
}

function describe(c: ModelConfig): string {
  return `RWKV-${c.version} L${c.nLayer} C${c.nEmbd} H${c.nHead}×${c.headSize}`;
}
