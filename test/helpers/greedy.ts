// Greedy continuation, the way the oracle's greedy_tokens were made: argmax of the logits after
// the prompt, then one token at a time from the prompt's state.

import type { RwkvModel } from '../../src/model/model.ts';
import type { RwkvState } from '../../src/model/state.ts';
import { argmax } from './tolerance.ts';

/** `n` greedy tokens from `logits` (after the prompt) and `state` (advanced in place). */
export async function greedyTokens(model: RwkvModel, logits: Float32Array, state: RwkvState, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const tok = argmax(logits);
    out.push(tok);
    if (i + 1 < n) logits = (await model.forward([tok], state)).logits as Float32Array;
  }
  return out;
}
