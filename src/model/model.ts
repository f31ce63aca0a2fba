// RwkvModel: weights on a backend, the layer loop, logits. One code path for every T ≥ 1:
// one token is RNN mode, several tokens GPT mode; the version only picks the block function
// (its registry entry, src/model/registry.ts). Loading and weight placement: load.ts.

import type { Backend, Tensor, WeightStorage } from '../backends/backend.ts';
import { LN_EPS } from '../constants.ts';
import { RwkvError } from '../errors.ts';
import type { FileFormatName } from '../io/load.ts';
import { closeStrategy } from '../strategy.ts';
import type { Checkpoint } from '../tensor/tensor.ts';
import { type ModelConfig, describeConfig } from './config.ts';
import { Frame } from './frame.ts';
import {
  type BuildOptions,
  type LoadOptions,
  type ModelParts,
  buildModel,
  createModel,
  layerOfKey,
  loadModel,
  modelFromBytes,
} from './load.ts';
import { versionSpec } from './registry.ts';
import { RwkvState, stateLayout } from './state.ts';

export type { LoadOptions } from './load.ts';

/**
 * Most tokens one forward call runs at once; longer inputs run in pieces of this size. 128 keeps
 * a prompt's activations small (v7 0.1B: ≈ 18 MiB) at no cost in speed: the matrix kernels'
 * token blocks are smaller than this (measured: 292 tok/s in 128-token calls vs 285 in one
 * 512-token call, rwkv bench 0.1B wasm fp32, 2 threads).
 */
export const FORWARD_CHUNK = 128;

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
  readonly config: ModelConfig;
  /** The backend of each of the n_layer + 1 layers (index n_layer: ln_out + head). */
  readonly layerBackends: readonly Backend[];
  private readonly weights: Map<string, Tensor>;
  /** The file the model came from and its format (for `rwkv info`). */
  readonly source: { file: string; format: FileFormatName | 'memory' };
  /** Bytes of weights by how they are stored (requested; a backend may store f32 anyway). */
  readonly weightBytes: Readonly<Record<WeightStorage, number>>;
  /** The strategy in normal form, or how the backend / weights options were read. */
  readonly strategy: string;
  /** Backends this model opened itself (from a strategy string or backend name): released by dispose(). */
  private readonly owned: readonly Backend[];

  private constructor(parts: ModelParts) {
    this.config = parts.config;
    this.layerBackends = parts.layerBackends;
    this.weights = parts.weights;
    this.source = parts.source;
    this.weightBytes = parts.weightBytes;
    this.strategy = parts.strategy;
    this.owned = parts.owned;
    this.backend = parts.layerBackends[0]!;
  }

  /**
   * Load a model file: .pth (PyTorch zip), .safetensors, rwkv.cpp .bin or GGUF (src/io/load.ts
   * tells them apart by their bytes); version and shapes come from the weights.
   */
  static async load(file: string, options: LoadOptions = {}): Promise<RwkvModel> {
    return new RwkvModel(await loadModel(file, options));
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
    return new RwkvModel(await modelFromBytes(bytes, options));
  }

  /**
   * fromCheckpoint, but a strategy's backends are opened asynchronously (backends that start
   * workers, like wasm, need that).
   */
  static async create(ckpt: Checkpoint, options: BuildOptions = {}): Promise<RwkvModel> {
    return new RwkvModel(await createModel(ckpt, options));
  }

  /**
   * Build a model from tensors in the original checkpoint layout. A strategy string is opened
   * with synchronous backends only (select.ts selectBackend); use `create` for the others.
   */
  static fromCheckpoint(ckpt: Checkpoint, options: BuildOptions = {}): RwkvModel {
    return new RwkvModel(buildModel(ckpt, options));
  }

  private w(key: string): Tensor {
    const t = this.weights.get(key);
    if (t === undefined) throw new RwkvError('MISSING_TENSOR', 'runtime weight missing', { tensor: key });
    return t;
  }

  /**
   * A fresh state, each layer's on that layer's backend: zeros, then what the version's initState
   * sets (v4 pp = −1e30; v6 state tuning: the tuned att_kv).
   */
  createState(): RwkvState {
    const cfg = this.config;
    const layout = stateLayout(cfg);
    const layers = Array.from({ length: cfg.nLayer }, (_, i) =>
      layout.map((e) => this.layerBackends[i]!.zeros(e.shape, `blocks.${i}.${e.name}`)),
    );
    const st = new RwkvState(this.layerBackends.slice(0, cfg.nLayer), cfg, layers);
    const init = versionSpec(cfg.version).initState;
    for (let i = 0; init !== undefined && i < cfg.nLayer; i++) {
      init({ cfg, layer: i, backend: this.layerBackends[i]!, state: st.named(i), W: (name) => this.w(`blocks.${i}.${name}`) });
    }
    return st;
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
        expected: describeConfig(cfg),
        actual: describeConfig(st.config),
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
      const block = versionSpec(cfg.version).block;
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
          block({ f: lf, cfg, layer: i, W: (name) => this.w(prefix + name), state: st.named(i), tokens: ids, shared }, x);
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
  return describeConfig(a) === describeConfig(b);
}
