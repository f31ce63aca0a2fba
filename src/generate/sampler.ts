// The official RWKV sampler (rwkv pip package 0.8.32 `utils.py`: PIPELINE.sample_logits L55-88 and
// the penalty bookkeeping of PIPELINE.generate L90-135), plus text-level stop strings.
//
// sample_logits(logits, temperature, top_p, top_k):
//   1. temperature == 0 → greedy (here: the argmax, see `sampleLogits`)
//   2. probs = softmax(logits)
//   3. top-p: sort descending, cumsum, cutoff = sorted[first index with cumsum ≥ top_p];
//      every prob < cutoff becomes 0 (so every prob ≥ cutoff survives, ties included)
//   4. top-k (0 < k < V): all but the k largest become 0
//   5. probs = probs^(1/T), renormalise, draw
// Penalties, per generated token (before sampling):
//   logits[token_ban] = −∞;  logits[n] −= alpha_presence + occurrence[n]·alpha_frequency
// and after sampling token t (a token in token_stop ends generation first):
//   occurrence[n] *= alpha_decay for every n;  occurrence[t] += w,
//   w = 0 if decode([t]) is a substring of ' \t0123456789' else 1
//   (so whitespace and digit tokens keep the presence penalty but never grow the frequency one).
//
// Everything is computed in float64 in a fixed order (ids ascending), so a seeded draw is the same
// on every runtime. Where the official code leaves a choice open, this file decides (and the
// tests pin it):
//   - greedy ties: the lowest id among equal maxima (numpy argmax; pip draws among them at random);
//   - top-k ties at the k-th value: the lowest ids are kept (pip: numpy's unstable argsort order);
//   - a top_p the cumulative sum never reaches because of rounding (top_p ≈ 1) keeps everything
//     (pip's argmax over an all-false mask would keep only the top token);
//   - `p^(1/T)` is computed as `(p/p_max)^(1/T)`: the same distribution after renormalising, but
//     no underflow to all-zero at small temperatures.

import { RwkvError } from '../errors.ts';
import type { Rng } from './rng.ts';

/** The official defaults (`PIPELINE_ARGS` in rwkv pip 0.8.32 `utils.py`). */
export const PIPELINE_DEFAULTS = Object.freeze({
  temperature: 1.0,
  topP: 0.85,
  topK: 0,
  alphaFrequency: 0.2,
  alphaPresence: 0.2,
  alphaDecay: 0.996,
  chunkLen: 256,
});

/** Texts of tokens that get occurrence weight 0 (any substring of this, '' included). */
export const ZERO_WEIGHT_CHARS = ' \t0123456789';

export interface SamplingOptions {
  /** 0 = greedy (argmax); otherwise probabilities are raised to 1/temperature. Default 1. */
  temperature?: number;
  /** Nucleus: keep the smallest top set whose probabilities sum to ≥ topP (ties kept). Default 0.85. */
  topP?: number;
  /** Keep only the k most likely tokens; 0 = off. Default 0. */
  topK?: number;
}

export interface PenaltyOptions {
  /** Subtracted per (decayed) occurrence of a token already generated. Default 0.2 (0 when greedy). */
  alphaFrequency?: number;
  /** Subtracted once for every token already generated. Default 0.2 (0 when greedy). */
  alphaPresence?: number;
  /** Every occurrence count is multiplied by this after each token. Default 0.996. */
  alphaDecay?: number;
  /** Token ids that are never generated (logit −∞). */
  tokenBan?: readonly number[];
}

function checkNumber(name: string, x: number, ok: (x: number) => boolean, expected: string): void {
  if (typeof x !== 'number' || !ok(x)) {
    throw new RwkvError('INVALID_ARGUMENT', `${name} is out of range`, { argument: name, expected, actual: String(x) });
  }
}

/** Validated sampling parameters with the official defaults filled in. */
export function samplingParams(o: SamplingOptions = {}): Required<SamplingOptions> {
  const p = {
    temperature: o.temperature ?? PIPELINE_DEFAULTS.temperature,
    topP: o.topP ?? PIPELINE_DEFAULTS.topP,
    topK: o.topK ?? PIPELINE_DEFAULTS.topK,
  };
  checkNumber('temperature', p.temperature, (x) => Number.isFinite(x) && x >= 0, 'a finite number ≥ 0 (0 = greedy)');
  checkNumber('topP', p.topP, (x) => x >= 0 && x <= 1, 'a number in [0, 1]');
  checkNumber('topK', p.topK, (x) => Number.isInteger(x) && x >= 0, 'an integer ≥ 0 (0 = off)');
  return p;
}

/** Index of the largest value; the lowest index among equal maxima. NaN and −∞ are never picked. */
export function argmax(x: ArrayLike<number>): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v > bestValue) {
      best = i;
      bestValue = v;
    }
  }
  if (best < 0) {
    throw new RwkvError('INVALID_ARGUMENT', 'cannot pick a token: every logit is −Infinity (all banned) or NaN, or there are none', {
      argument: 'logits',
    });
  }
  return best;
}

/** softmax in float64: p_i = exp(l_i − max) / Σ_j exp(l_j − max), summed in id order. */
export function softmax(logits: ArrayLike<number>): Float64Array {
  const V = logits.length;
  let max = -Infinity;
  for (let i = 0; i < V; i++) {
    const l = logits[i]!;
    if (Number.isNaN(l)) throw new RwkvError('INVALID_ARGUMENT', `logit ${i} is NaN`, { argument: 'logits' });
    if (l > max) max = l;
  }
  if (max === -Infinity || max === Infinity) {
    throw new RwkvError(
      'INVALID_ARGUMENT',
      max === Infinity ? 'a logit is +Infinity' : 'every token is banned (all logits are −Infinity)',
      {
        argument: 'logits',
      },
    );
  }
  const p = new Float64Array(V);
  let sum = 0;
  for (let i = 0; i < V; i++) {
    const e = Math.exp(logits[i]! - max);
    p[i] = e;
    sum += e;
  }
  for (let i = 0; i < V; i++) p[i]! /= sum;
  return p;
}

/**
 * The distribution a token is drawn from, after top-p, top-k and temperature, renormalised
 * (steps 2–5 of the file header). Temperature 0 gives a one-hot vector at `argmax(logits)`.
 */
export function samplingProbs(logits: ArrayLike<number>, options: SamplingOptions = {}): Float64Array {
  const { temperature, topP, topK } = samplingParams(options);
  const V = logits.length;
  if (temperature === 0) {
    const p = new Float64Array(V);
    p[argmax(logits)] = 1;
    return p;
  }
  const probs = softmax(logits);
  const needSort = topP < 1 || (topK > 0 && topK < V);
  if (needSort) {
    const sorted = Float64Array.from(probs).sort(); // ascending; read from the end for descending
    if (topP < 1) {
      // cutoff = sorted_desc[first index where cumsum ≥ top_p]; rounding that never reaches top_p keeps all
      let cutoff = 0;
      let cum = 0;
      for (let i = V - 1; i >= 0; i--) {
        cum += sorted[i]!;
        if (cum >= topP) {
          cutoff = sorted[i]!;
          break;
        }
      }
      // probs[probs < cutoff] = 0
      for (let i = 0; i < V; i++) if (probs[i]! < cutoff) probs[i] = 0;
    }
    if (topK > 0 && topK < V) {
      // the k-th largest value; keep everything above it, and of the ties at it the lowest ids
      const kth = sorted[V - topK]!;
      let above = 0;
      for (let i = 0; i < V; i++) if (probs[i]! > kth) above++;
      let tiesLeft = topK - above;
      for (let i = 0; i < V; i++) {
        const p = probs[i]!;
        if (p > kth) continue;
        if (p === kth && tiesLeft > 0) tiesLeft--;
        else probs[i] = 0;
      }
    }
  }
  // temperature on probabilities: p^(1/T), as (p / p_max)^(1/T) (same after renormalising)
  if (temperature !== 1) {
    let pmax = 0;
    for (let i = 0; i < V; i++) if (probs[i]! > pmax) pmax = probs[i]!;
    const inv = 1 / temperature;
    for (let i = 0; i < V; i++) if (probs[i]! > 0) probs[i] = (probs[i]! / pmax) ** inv;
  }
  let sum = 0;
  for (let i = 0; i < V; i++) sum += probs[i]!;
  for (let i = 0; i < V; i++) probs[i]! /= sum;
  return probs;
}

/**
 * Draw from `probs` (non-negative, summing to about 1) with one uniform double u ∈ [0, 1):
 * the first id (ascending) whose cumulative probability exceeds u.
 */
export function drawFrom(probs: ArrayLike<number>, rng: Rng): number {
  const u = rng.nextFloat();
  let cum = 0;
  let last = -1;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i]!;
    if (p <= 0) continue;
    cum += p;
    last = i;
    if (u < cum) return i;
  }
  if (last < 0) throw new RwkvError('INVALID_ARGUMENT', 'cannot draw from an all-zero distribution', { argument: 'probs' });
  return last; // u beyond the rounded total: the last possible token
}

/** One token from `logits`: the argmax for temperature 0 (no random number used), else a draw. */
export function sampleLogits(logits: ArrayLike<number>, options: SamplingOptions, rng: Rng): number {
  if ((options.temperature ?? PIPELINE_DEFAULTS.temperature) === 0) {
    samplingParams(options);
    return argmax(logits);
  }
  return drawFrom(samplingProbs(logits, options), rng);
}

/** 0 for a token whose text is a substring of ' \t0123456789' (incl. ''), else 1. */
export function occurrenceWeight(tokenText: string): number {
  return ZERO_WEIGHT_CHARS.includes(tokenText) ? 0 : 1;
}

/**
 * The repetition penalties of the official `generate`: token_ban, alpha_presence, alpha_frequency
 * and alpha_decay over the tokens generated so far (the prompt is not counted, as in pip).
 */
export class Penalties {
  readonly alphaFrequency: number;
  readonly alphaPresence: number;
  readonly alphaDecay: number;
  readonly tokenBan: readonly number[];
  /** token → decayed occurrence count, in first-seen order (pip's dict) */
  readonly occurrence = new Map<number, number>();

  /** `weightOf(token)`: its occurrence weight, normally `occurrenceWeight(decode([token]))`. */
  constructor(
    options: PenaltyOptions,
    private readonly weightOf: (token: number) => number,
  ) {
    this.alphaFrequency = options.alphaFrequency ?? PIPELINE_DEFAULTS.alphaFrequency;
    this.alphaPresence = options.alphaPresence ?? PIPELINE_DEFAULTS.alphaPresence;
    this.alphaDecay = options.alphaDecay ?? PIPELINE_DEFAULTS.alphaDecay;
    this.tokenBan = options.tokenBan ?? [];
    checkNumber('alphaFrequency', this.alphaFrequency, Number.isFinite, 'a finite number');
    checkNumber('alphaPresence', this.alphaPresence, Number.isFinite, 'a finite number');
    checkNumber('alphaDecay', this.alphaDecay, (x) => Number.isFinite(x) && x >= 0, 'a finite number ≥ 0 (1 = no decay)');
    for (const t of this.tokenBan) checkNumber('tokenBan', t, (x) => Number.isInteger(x) && x >= 0, 'token ids (integers ≥ 0)');
  }

  /** The penalised logits as a new float64 array: banned → −∞, seen n → l[n] − (presence + occ[n]·frequency). */
  apply(logits: ArrayLike<number>): Float64Array {
    const out = Float64Array.from(logits as ArrayLike<number>);
    for (const n of this.tokenBan) if (n < out.length) out[n] = -Infinity;
    for (const [n, occ] of this.occurrence) out[n]! -= this.alphaPresence + occ * this.alphaFrequency;
    return out;
  }

  /** After `token` was generated: decay every count, then add the token's weight. */
  record(token: number): void {
    for (const [n, occ] of this.occurrence) this.occurrence.set(n, occ * this.alphaDecay);
    this.occurrence.set(token, (this.occurrence.get(token) ?? 0) + this.weightOf(token));
  }
}

/**
 * Text-level stop strings over streamed text. `push(text)` returns what may be shown now: text
 * that could still be the start of a stop string is held back until it is clearly not; when the
 * text so far contains a stop string, everything before its first occurrence is released and
 * `stopped` is set (the stop string itself is never released). `flush()` releases what is held.
 */
export class StopStrings {
  private held = '';
  private readonly stops: readonly string[];
  stopped = false;
  /** Which stop string matched. */
  matched: string | undefined;

  constructor(stops: readonly string[]) {
    for (const s of stops) {
      if (typeof s !== 'string' || s.length === 0) {
        throw new RwkvError('INVALID_ARGUMENT', 'a stop string is empty', {
          argument: 'stop',
          expected: 'non-empty strings',
          actual: JSON.stringify(s),
        });
      }
    }
    this.stops = stops;
  }

  push(text: string): string {
    if (this.stopped) return '';
    const all = this.held + text;
    if (this.stops.length === 0) return all;
    // the earliest occurrence of any stop string (the longest one on a tie)
    let at = -1;
    let matched = '';
    for (const s of this.stops) {
      const i = all.indexOf(s);
      if (i >= 0 && (at < 0 || i < at || (i === at && s.length > matched.length))) {
        at = i;
        matched = s;
      }
    }
    if (at >= 0) {
      this.stopped = true;
      this.matched = matched;
      this.held = '';
      return all.slice(0, at);
    }
    // hold back the longest suffix that is a proper prefix of some stop string
    let keep = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, all.length); n > keep; n--) {
        if (all.endsWith(s.slice(0, n))) {
          keep = n;
          break;
        }
      }
    }
    this.held = all.slice(all.length - keep);
    return all.slice(0, all.length - keep);
  }

  flush(): string {
    const rest = this.stopped ? '' : this.held;
    this.held = '';
    return rest;
  }
}
