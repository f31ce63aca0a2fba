// What a version contributes to the model: one function that runs a block (time mix, then
// channel mix) on the residual stream x [T, C] in place, advancing that layer's state.

import type { Tensor } from '../backends/backend.ts';
import type { ModelConfig } from './config.ts';
import type { Frame, LayerWeights } from './frame.ts';

export interface BlockContext {
  readonly f: Frame;
  readonly cfg: ModelConfig;
  readonly layer: number;
  /** Weights of this block by their name below `blocks.<layer>.`. */
  readonly W: LayerWeights;
  /** This layer's state entries, in the order of stateLayout(cfg). */
  readonly state: readonly Tensor[];
  /** The token ids of this call (DeepEmbed's channel mix needs them). */
  readonly tokens: Int32Array;
  /** Values shared across the layers of one call (v7's v_first). */
  readonly shared: { vFirst?: Tensor };
}

export type BlockFn = (ctx: BlockContext, x: Tensor) => void;
