// What every reference model offers. Each version implements it twice over: forwardToken is the
// official `_one` path (RNN mode) and forwardSequence the `_seq` path (GPT mode), written
// independently so that their agreement is evidence, not a tautology.

export type RefVersion = '4' | '5.0' | '5.1' | '5.2' | '6' | '7' | '7-deepembed';

export interface ReferenceModel<S> {
  readonly version: RefVersion;
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nVocab: number;
  /** A fresh state (zeros; v4 pp = −1e30; v6 state tuning: from `att.time_state`). */
  initialState(): S;
  cloneState(state: S): S;
  /** RNN mode: feed one token, update `state` in place, return the logits [V]. */
  forwardToken(state: S, token: number): Float64Array;
  /** GPT mode: feed T tokens, update `state` in place, return the logits at every position [T][V]. */
  forwardSequence(state: S, tokens: readonly number[]): Float64Array[];
  /**
   * The state flattened as the official package lays it out (docs/fixtures.md "The official
   * state layout"; the oracle's `state_layout`): per layer, in order, each tensor row-major.
   */
  flattenState(state: S): Float64Array;
}
