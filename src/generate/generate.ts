// Text generation: the official pipeline's `generate` (rwkv pip utils.py L90-135) as a stream.
//
//   prompt → tokens → fed in GPT mode, `chunkLen` tokens per call (state carried)
//   repeat up to maxTokens times:
//     logits' = penalties(logits)            token_ban → −∞, presence/frequency (sampler.ts)
//     token   = sample(logits')               temperature / top_p / top_k, seeded RNG
//     token ∈ tokenStop → stop (not emitted, not fed)
//     record the token's occurrence; feed it (RNN mode, one token); decode its bytes
//     text reaches a stop string → stop (the stop string is not emitted)
//
// Unlike pip, every emitted token is fed to the model before the next step or the end, so the
// returned state is exactly "prompt + tokens" and a conversation continues from it. Text is
// streamed through a UTF-8 stream decoder (a character split over tokens is held back until
// complete) and the stop-string matcher (text that may begin a stop string is held back until it
// is clearly not one).

import { RwkvError } from '../errors.ts';
import type { RwkvModel } from '../model/model.ts';
import type { RwkvState } from '../model/state.ts';
import { type Tokenizer, Utf8StreamDecoder } from '../tokenizer/tokenizer.ts';
import { type Rng, createRng } from './rng.ts';
import {
  PIPELINE_DEFAULTS,
  type PenaltyOptions,
  Penalties,
  type SamplingOptions,
  StopStrings,
  occurrenceWeight,
  sampleLogits,
  samplingParams,
} from './sampler.ts';

/** Default number of tokens to generate (pip's `token_count`). */
export const DEFAULT_MAX_TOKENS = 100;
/** While a signal is watched, give the event loop a turn at least this often (ms), so aborts land. */
const YIELD_EVERY_MS = 16;

export interface GenerateOptions extends SamplingOptions, PenaltyOptions {
  /** Most tokens to generate. Default 100. */
  maxTokens?: number;
  /** Generation stops when one of these ids is sampled (it is neither emitted nor fed). */
  tokenStop?: readonly number[];
  /** Generation stops when the text contains one of these; the stop string is not emitted. */
  stop?: string | readonly string[];
  /** Prompt tokens per model call (GPT mode). Default 256. */
  chunkLen?: number;
  /** Seed for the sampler's RNG: the same seed gives the same tokens everywhere. Default: random. */
  seed?: number | bigint;
  /** Or an RNG to draw from (kept by the caller, so a later call continues its sequence). */
  rng?: Rng;
  /** Start from this state (advanced in place and returned; clone() it to keep it). Default: fresh. */
  state?: RwkvState;
  /** With an empty prompt: the logits to sample the first token from (a previous result's `logits`). */
  logits?: Float32Array;
  /** Stops generation (stopReason 'aborted'); during the prompt it rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called with every piece, as it is produced. */
  onToken?: (piece: GeneratedPiece) => void;
  /** Prompt progress, after every chunk: tokens fed so far, prompt length. */
  onPromptProgress?: (done: number, total: number) => void;
}

export interface GeneratedPiece {
  /** The token sampled at this step; null for a final piece that only releases held-back text. */
  token: number | null;
  /** Text that can be shown now (may be empty; never a broken UTF-8 sequence, never a stop string). */
  text: string;
}

export type StopReason = 'maxTokens' | 'tokenStop' | 'stopString' | 'aborted';

export interface GenerateResult {
  /** Every token generated and fed to the state (a stop string's tokens included). */
  tokens: number[];
  /** The generated text, up to (not including) a stop string. */
  text: string;
  /** The state after the prompt and every token of `tokens`. */
  state: RwkvState;
  /** Logits after the last token fed: pass them with `state` and an empty prompt to continue. */
  logits: Float32Array;
  stopReason: StopReason;
  /** The stop string that ended generation (stopReason 'stopString'). */
  stopString?: string;
  /** Number of prompt tokens fed. */
  promptTokens: number;
}

/**
 * Generate text. The returned object is an async iterable of pieces (`for await (const { text } of
 * generate(...))`) and has `result`, a promise of the final result (tokens, text, state). Reading
 * only `result` runs the generation to the end; breaking out of the loop stops it (stopReason
 * 'aborted'). A prompt string is encoded with `tokenizer`; an array is taken as token ids.
 */
export function generate(
  model: RwkvModel,
  tokenizer: Tokenizer,
  prompt: string | readonly number[],
  options: GenerateOptions = {},
): Generation {
  return new Generation((cancelled) => generateSteps(model, tokenizer, prompt, options, cancelled));
}

/** `generate(...).result`: just the final result. */
export function generateText(
  model: RwkvModel,
  tokenizer: Tokenizer,
  prompt: string | readonly number[],
  options: GenerateOptions = {},
): Promise<GenerateResult> {
  return generate(model, tokenizer, prompt, options).result;
}

export class Generation implements AsyncIterable<GeneratedPiece> {
  private readonly steps: AsyncGenerator<GeneratedPiece, GenerateResult>;
  private readonly done: Promise<GenerateResult>;
  private resolve!: (r: GenerateResult) => void;
  private reject!: (e: unknown) => void;
  private started = false;
  private draining = false;
  private cancelled = false;

  /** `steps(cancelled)`: the pieces, then the result; it checks `cancelled()` before each step. */
  constructor(steps: (cancelled: () => boolean) => AsyncGenerator<GeneratedPiece, GenerateResult>) {
    this.done = new Promise<GenerateResult>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    this.done.catch(() => {}); // a consumer that only iterates sees the error there, not as unhandled
    this.steps = steps(() => this.cancelled);
  }

  /**
   * The final result. Reading it runs the generation to its end (pieces not yet pulled by an
   * iterator still reach `onToken`), so awaiting it never waits on a consumer that stopped pulling.
   */
  get result(): Promise<GenerateResult> {
    this.started = true;
    if (!this.draining) {
      this.draining = true;
      void this.drain();
    }
    return this.done;
  }

  [Symbol.asyncIterator](): AsyncIterator<GeneratedPiece> {
    if (this.started) throw new RwkvError('INVALID_ARGUMENT', 'a generation can be iterated only once (and not after reading .result)');
    this.started = true;
    return {
      next: async () => {
        try {
          const r = await this.steps.next();
          if (r.done) {
            this.resolve(r.value);
            return { done: true, value: undefined };
          }
          return { done: false, value: r.value };
        } catch (e) {
          this.reject(e);
          throw e;
        }
      },
      return: async () => {
        // `break` out of for-await: stop after the current step, keep a consistent result
        this.cancelled = true;
        await this.result;
        return { done: true, value: undefined };
      },
    };
  }

  private async drain(): Promise<void> {
    try {
      for (;;) {
        const r = await this.steps.next();
        if (r.done) {
          this.resolve(r.value);
          return;
        }
      }
    } catch (e) {
      this.reject(e);
    }
  }
}

function positive(name: string, x: number | undefined, fallback: number, allowZero = false): number {
  const v = x ?? fallback;
  if (!Number.isInteger(v) || v < (allowZero ? 0 : 1)) {
    throw new RwkvError('INVALID_ARGUMENT', `${name} must be an integer ≥ ${allowZero ? 0 : 1}`, { argument: name, actual: String(x) });
  }
  return v;
}

const tick = () => new Promise<void>((r) => setTimeout(r, 0));

/**
 * The generation itself: yields the pieces, returns the result. `generate` wraps it; other
 * streams (chat.ts) compose it. `cancelled()` is checked before every token.
 */
export async function* generateSteps(
  model: RwkvModel,
  tokenizer: Tokenizer,
  prompt: string | readonly number[],
  o: GenerateOptions,
  cancelled: () => boolean = () => false,
): AsyncGenerator<GeneratedPiece, GenerateResult> {
  // ---- options (validated before any model work) ----
  const sampling = samplingParams(o);
  const greedy = sampling.temperature === 0;
  // greedy means the argmax of the model's logits: penalties default to 0 there (given ones apply)
  const penalties = penaltiesFor(tokenizer, {
    ...o,
    alphaFrequency: o.alphaFrequency ?? (greedy ? 0 : PIPELINE_DEFAULTS.alphaFrequency),
    alphaPresence: o.alphaPresence ?? (greedy ? 0 : PIPELINE_DEFAULTS.alphaPresence),
  });
  const maxTokens = positive('maxTokens', o.maxTokens, DEFAULT_MAX_TOKENS, true);
  const chunkLen = positive('chunkLen', o.chunkLen, PIPELINE_DEFAULTS.chunkLen);
  const tokenStop = new Set(o.tokenStop ?? []);
  const stops = new StopStrings(typeof o.stop === 'string' ? [o.stop] : (o.stop ?? []));
  const rng = o.rng ?? createRng(o.seed);
  const ids = typeof prompt === 'string' ? tokenizer.encode(prompt) : Array.from(prompt);
  const signal = o.signal;
  const state = o.state ?? model.createState();

  // ---- prompt: GPT mode in chunks ----
  let logits: Float32Array;
  let lastYield = Date.now();
  if (ids.length === 0) {
    if (o.logits === undefined) {
      throw new RwkvError('INVALID_ARGUMENT', 'the prompt is empty', {
        argument: 'prompt',
        hint: 'give text or token ids, or options.logits (with options.state) to continue a previous result',
      });
    }
    logits = o.logits;
  } else {
    logits = o.logits ?? new Float32Array(0);
    for (let i = 0; i < ids.length; i += chunkLen) {
      signal?.throwIfAborted();
      logits = (await model.forward(ids.slice(i, i + chunkLen), state)).logits as Float32Array;
      o.onPromptProgress?.(Math.min(i + chunkLen, ids.length), ids.length);
      if (signal !== undefined && Date.now() - lastYield >= YIELD_EVERY_MS) {
        await tick();
        lastYield = Date.now();
      }
    }
    signal?.throwIfAborted();
  }

  // ---- generation: RNN mode, one token at a time ----
  const utf8 = new Utf8StreamDecoder();
  const tokens: number[] = [];
  let text = '';
  let stopReason: StopReason = 'maxTokens';
  const emit = (piece: GeneratedPiece): GeneratedPiece => {
    text += piece.text;
    o.onToken?.(piece);
    return piece;
  };
  for (let i = 0; i < maxTokens; i++) {
    if (signal !== undefined && Date.now() - lastYield >= YIELD_EVERY_MS) {
      await tick();
      lastYield = Date.now();
    }
    if (cancelled() || signal?.aborted) {
      stopReason = 'aborted';
      break;
    }
    const token = sampleLogits(penalties.apply(logits), sampling, rng);
    if (tokenStop.has(token)) {
      stopReason = 'tokenStop';
      break;
    }
    tokens.push(token);
    penalties.record(token);
    logits = (await model.forward([token], state)).logits as Float32Array;
    let piece = stops.push(utf8.push(tokenizer.decodeBytes([token])));
    if (!stops.stopped && i + 1 === maxTokens) piece += stops.push(utf8.flush()) + stops.flush();
    yield emit({ token, text: piece });
    if (stops.stopped) {
      stopReason = 'stopString';
      break;
    }
  }
  if (stopReason === 'aborted' || stopReason === 'tokenStop') {
    const rest = stops.push(utf8.flush()) + stops.flush();
    if (stops.stopped) stopReason = 'stopString';
    if (rest !== '') yield emit({ token: null, text: rest });
  }
  return {
    tokens,
    text,
    state,
    logits,
    stopReason,
    ...(stops.matched !== undefined && stopReason === 'stopString' ? { stopString: stops.matched } : {}),
    promptTokens: ids.length,
  };
}

/** Penalties whose occurrence weight comes from each token's decoded text (cached per token). */
export function penaltiesFor(tokenizer: Tokenizer, options: PenaltyOptions): Penalties {
  const weights = new Map<number, number>();
  return new Penalties(options, (token) => {
    let w = weights.get(token);
    if (w === undefined) {
      w = occurrenceWeight(tokenizer.decode([token]));
      weights.set(token, w);
    }
    return w;
  });
}
