// The educational reference: every RWKV version in plain loops, f64 arithmetic, no folding.
// See README.md for the map from each equation to its function.

import type { ReferenceModel } from './common/model.ts';
import type { RefWeights } from './common/types.ts';
import { createModel as createV4 } from './v4/model.ts';
import { createModel as createV5 } from './v5/model.ts';
import { createModel as createV6 } from './v6/model.ts';
import { createModel as createV7 } from './v7/model.ts';

export type { RefVersion, ReferenceModel } from './common/model.ts';
export type { RefTensor, RefWeights } from './common/types.ts';
export * as constants from './common/constants.ts';

/**
 * Pick the version from the tensor names (model.py L658-675 looks at the same keys, but in
 * iteration order; here named keys decide):
 * v7 has `att.r_k`; v6 `att.time_maa_x`; v5.x `att.ln_x` (5.0/5.1/5.2 told apart inside v5/);
 * otherwise v4.
 */
export function createReferenceModel(weights: RefWeights): ReferenceModel<unknown> {
  const has = (k: string) => weights.has(k);
  if (has('blocks.0.att.r_k')) return createV7(weights) as ReferenceModel<unknown>;
  if (has('blocks.0.att.time_maa_x')) return createV6(weights) as ReferenceModel<unknown>;
  if (has('blocks.0.att.ln_x.weight')) return createV5(weights) as ReferenceModel<unknown>;
  return createV4(weights) as ReferenceModel<unknown>;
}
