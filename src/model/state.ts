// The recurrent state: what a model carries from one call to the next. Its size depends only on
// the model, never on how many tokens were seen. Layout per layer, in the official package's
// order (the one `toArray()` flattens to, the oracle fixtures and state files use); each entry has
// its official name (snake_case, in state files) and the name blocks read it by (camelCase, as in
// reference/):
//
//   v4          att_x_prev attXPrev [C], att_aa attAa [C], att_bb attBb [C], att_pp attPp [C],
//               ffn_x_prev ffnXPrev [C]
//               aa/bb = WKV numerator/denominator scaled by e^−pp; a fresh pp is −1e30
//   v5.x, v6    att_x_prev attXPrev [C], att_kv attKv [H, N, N] indexed [head][key i][value j],
//               ffn_x_prev ffnXPrev [C]
//   v7          att_x_prev attXPrev [C], att_kv attKv [H, N, N] indexed [head][value i][key j],
//               ffn_x_prev ffnXPrev [C]
//
// Each version declares its layout in its registry entry (src/model/<family>/version.ts).
// x_prev entries are the layer-normed (ln1 / ln2) input of the last token seen. The tensors live
// in backend memory, each layer's on that layer's backend (a strategy may split the layers over
// several); `toArray()` downloads, `fromArray()` uploads.

import type { Backend, Tensor } from '../backends/backend.ts';
import { RwkvError } from '../errors.ts';
import type { ModelConfig } from './config.ts';
import { versionSpec } from './registry.ts';
import type { StateEntry } from './version.ts';

export type { StateEntry };

/** The per-layer entries of the state of a model with config `cfg`, in the official order. */
export function stateLayout(cfg: ModelConfig): StateEntry[] {
  return [...versionSpec(cfg.version).stateLayout(cfg)];
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

export class RwkvState {
  /** layers[i][e]: entry e (per stateLayout, the official order) of layer i. */
  readonly layers: Tensor[][];
  /** The backend that holds layer i's entries. */
  readonly backends: readonly Backend[];
  private disposed = false;
  private readonly layout: readonly StateEntry[];

  /** `backends`: one for every layer, or one per layer. */
  constructor(
    backends: Backend | readonly Backend[],
    readonly config: ModelConfig,
    layers: Tensor[][],
  ) {
    this.layers = layers;
    this.layout = stateLayout(config);
    this.backends = Array.isArray(backends) ? [...(backends as readonly Backend[])] : layers.map(() => backends as Backend);
    if (this.backends.length !== layers.length) {
      throw new RwkvError('INVALID_ARGUMENT', 'a state needs one backend per layer', {
        expected: `${layers.length}`,
        actual: `${this.backends.length}`,
      });
    }
  }

  /** Layer i's entries by name (the `key`s of stateLayout): what a block reads. */
  named(i: number): Record<string, Tensor> {
    this.assertLive();
    const entries = this.layers[i]!;
    const out: Record<string, Tensor> = {};
    for (const [e, { key }] of this.layout.entries()) out[key] = entries[e]!;
    return out;
  }

  /** The backend of layer 0 (the only one unless the model's strategy splits the layers). */
  get backend(): Backend {
    return this.backends[0]!;
  }

  /** Number of float32 values in the state. */
  get size(): number {
    return this.config.nLayer * stateLayout(this.config).reduce((a, e) => a + size(e.shape), 0);
  }

  /** An independent copy: advancing one never changes the other. */
  clone(): RwkvState {
    this.assertLive();
    const layers = this.layers.map((entries, i) =>
      entries.map((t) => {
        const b = this.backends[i]!;
        const c = b.zeros(t.shape, `blocks.${i}.${t.label}`);
        b.copy(c, t);
        return c;
      }),
    );
    return new RwkvState(this.backends, this.config, layers);
  }

  /** The state flattened in the official layout (see the file header). */
  async toArray(): Promise<Float32Array> {
    this.assertLive();
    const out = new Float32Array(this.size);
    let o = 0;
    for (const [i, entries] of this.layers.entries()) {
      for (const t of entries) {
        const d = await this.backends[i]!.download(t);
        out.set(d, o);
        o += d.length;
      }
    }
    return out;
  }

  /** Overwrite this state with a flat array in the official layout. */
  fromArray(data: Float32Array): void {
    this.assertLive();
    if (data.length !== this.size) {
      throw new RwkvError('STATE_MISMATCH', 'state data has the wrong size for this model', {
        expected: `${this.size} float32 values`,
        actual: `${data.length}`,
      });
    }
    let o = 0;
    for (const [i, entries] of this.layers.entries()) {
      for (const t of entries) {
        const n = size(t.shape);
        this.backends[i]!.write(t, data.subarray(o, o + n));
        o += n;
      }
    }
  }

  dispose(): void {
    if (this.disposed) return;
    for (const [i, entries] of this.layers.entries()) for (const t of entries) this.backends[i]!.free(t);
    this.disposed = true;
  }

  private assertLive(): void {
    if (this.disposed) throw new RwkvError('INVALID_ARGUMENT', 'this state was disposed');
  }
}
