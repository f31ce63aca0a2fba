// Loss, perplexity and bits per byte of a text, and the LAMBADA protocol of RWKV-LM.
//
// Text (teacher forcing). The sequence is `prefix + encode(text)`, prefix = [0] by default (token
// 0 = end-of-document, as the LAMBADA protocol conditions on it), so every token of the text is
// predicted, the first one from the document start:
//   loss       = −(1/n) Σ_i log p(x_i | prefix, x_<i)          nats per predicted token
//   perplexity = exp(loss)
//   bitsPerByte = −Σ_i log₂ p(x_i | …) / (UTF-8 bytes of the predicted tokens)
// With `prefix: []` the first token is context only (not predicted, its bytes not counted).
// The inputs (every token but the last) are fed in GPT mode, `chunkLen` tokens per call with the
// state carried; logits row t predicts token t+1. log p = l − max − log Σ exp(l − max), in float64.
//
// LAMBADA (RWKV-LM RWKV-v7/rwkv_v7_demo_fast.py L435-463): for each document
//   context, word = text.rsplit(' ', 1);  src = [0] + encode(context);  dst = encode(' ' + word)
//   logits of src + dst (fresh state); logL = Σ_i log p(dst_i | …); correct = every dst_i is the argmax
//   ppl = exp(−(Σ_docs logL) / docs)   (per document, i.e. the last word's likelihood, as RWKV-LM)
//   acc = correct / docs

import { RwkvError } from '../errors.ts';
import type { RwkvModel } from '../model/model.ts';
import type { RwkvState } from '../model/state.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { PIPELINE_DEFAULTS, argmax } from './sampler.ts';

/** Token 0: end of document in the World and 20B vocabularies; the LAMBADA protocol starts with it. */
export const DOCUMENT_START = 0;

export interface PerplexityOptions {
  /** Tokens fed before the text (conditioned on, never predicted). Default [0]. */
  prefix?: readonly number[];
  /** Tokens per model call. Default 256. */
  chunkLen?: number;
  /** Start from this state (advanced in place). Default: fresh. */
  state?: RwkvState;
  /** After every chunk: tokens fed so far, tokens to feed. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface PerplexityResult {
  /** Tokens predicted (scored). */
  tokens: number;
  /** UTF-8 bytes of the predicted tokens. */
  bytes: number;
  /** Σ −log p over the predicted tokens (nats). */
  nll: number;
  /** Mean −log p per predicted token (nats). */
  loss: number;
  perplexity: number;
  bitsPerByte: number;
}

/** log p(target) under softmax(logits), in float64. */
export function logProb(logits: ArrayLike<number>, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return logits[target]! - max - Math.log(sum);
}

/** Scored log-probabilities of `seq[1..]` given `seq[0..]`, fed in chunks; `score(t, logits)` per position. */
async function teacherForce(
  model: RwkvModel,
  seq: readonly number[],
  chunkLen: number,
  state: RwkvState,
  score: (position: number, logits: Float32Array) => void,
  onProgress?: (done: number, total: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  const inputs = seq.length - 1; // the last token is never an input
  for (let i = 0; i < inputs; i += chunkLen) {
    signal?.throwIfAborted();
    const part = seq.slice(i, Math.min(i + chunkLen, inputs));
    const rows = (await model.forward(part, state, { allLogits: true })).logits as Float32Array[];
    // row j (input position i + j) predicts seq[i + j + 1]
    for (let j = 0; j < rows.length; j++) score(i + j + 1, rows[j]!);
    onProgress?.(i + part.length, inputs);
  }
}

function chunkLenOf(x: number | undefined): number {
  const v = x ?? PIPELINE_DEFAULTS.chunkLen;
  if (!Number.isInteger(v) || v < 1)
    throw new RwkvError('INVALID_ARGUMENT', 'chunkLen must be an integer ≥ 1', { argument: 'chunkLen', actual: String(x) });
  return v;
}

/** Loss / perplexity / bits per byte of `text` (a string, or token ids). See the file header. */
export async function perplexity(
  model: RwkvModel,
  tokenizer: Tokenizer,
  text: string | readonly number[],
  options: PerplexityOptions = {},
): Promise<PerplexityResult> {
  const ids = typeof text === 'string' ? tokenizer.encode(text) : Array.from(text);
  const prefix = Array.from(options.prefix ?? [DOCUMENT_START]);
  const seq = [...prefix, ...ids];
  const firstScored = Math.max(prefix.length, 1);
  if (seq.length - firstScored < 1) {
    throw new RwkvError('INVALID_ARGUMENT', 'nothing to score: the text has no tokens to predict', {
      argument: 'text',
      ...(prefix.length === 0 ? { hint: 'with an empty prefix the first token is context only; give at least 2 tokens' } : {}),
    });
  }
  let nll = 0;
  await teacherForce(
    model,
    seq,
    chunkLenOf(options.chunkLen),
    options.state ?? model.createState(),
    (t, logits) => {
      if (t >= firstScored) nll -= logProb(logits, seq[t]!);
    },
    options.onProgress,
    options.signal,
  );
  const scored = seq.slice(firstScored);
  const bytes = tokenizer.decodeBytes(scored).length;
  const loss = nll / scored.length;
  return { tokens: scored.length, bytes, nll, loss, perplexity: Math.exp(loss), bitsPerByte: nll / Math.LN2 / bytes };
}

export interface LambadaDocument {
  text: string;
}

export interface LambadaResult {
  /** Documents scored. */
  documents: number;
  /** exp(−mean over documents of log p(last word)). */
  perplexity: number;
  /** Fraction of documents whose last word is entirely the greedy prediction. */
  accuracy: number;
  /** Σ over documents of log p(last word) (nats). */
  logLikelihood: number;
  correct: number;
}

/** Split a LAMBADA text into [context, " " + last word] as Python's `text.rsplit(' ', 1)`. */
export function splitLastWord(text: string, where = 'text'): [string, string] {
  const at = text.lastIndexOf(' ');
  if (at < 0) {
    throw new RwkvError('INVALID_ARGUMENT', `${where} has no space, so no last word to predict`, {
      argument: 'text',
      actual: JSON.stringify(text.slice(0, 60)),
    });
  }
  return [text.slice(0, at), ` ${text.slice(at + 1)}`];
}

/** Parse a LAMBADA jsonl file's text: one `{"text": ...}` per non-empty line. */
export function parseLambadaJsonl(content: string, file = '(jsonl)'): LambadaDocument[] {
  const docs: LambadaDocument[] = [];
  content.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let doc: unknown;
    try {
      doc = JSON.parse(line);
    } catch (e) {
      throw new RwkvError('FILE_FORMAT', `line ${i + 1} is not JSON (${(e as Error).message})`, { file });
    }
    const text = (doc as { text?: unknown } | null)?.text;
    if (typeof text !== 'string')
      throw new RwkvError('FILE_FORMAT', `line ${i + 1} has no "text" string`, { file, expected: '{"text": "..."}' });
    docs.push({ text });
  });
  if (docs.length === 0) throw new RwkvError('FILE_FORMAT', 'no documents (expected one {"text": ...} per line)', { file });
  return docs;
}

/** The LAMBADA protocol over `documents` (each from a fresh state). See the file header. */
export async function lambada(
  model: RwkvModel,
  tokenizer: Tokenizer,
  documents: readonly LambadaDocument[],
  options: Pick<PerplexityOptions, 'chunkLen' | 'signal'> & { onProgress?: (done: number, total: number) => void } = {},
): Promise<LambadaResult> {
  const chunkLen = chunkLenOf(options.chunkLen);
  let logLikelihood = 0;
  let correct = 0;
  for (let d = 0; d < documents.length; d++) {
    const [context, word] = splitLastWord(documents[d]!.text, `document ${d + 1}`);
    const src = [DOCUMENT_START, ...tokenizer.encode(context)];
    const dst = tokenizer.encode(word);
    const seq = [...src, ...dst];
    let logL = 0;
    let allCorrect = true;
    await teacherForce(
      model,
      seq,
      chunkLen,
      model.createState(),
      (t, logits) => {
        if (t < src.length) return;
        logL += logProb(logits, seq[t]!);
        if (argmax(logits) !== seq[t]) allCorrect = false;
      },
      undefined,
      options.signal,
    );
    logLikelihood += logL;
    if (allCorrect) correct++;
    options.onProgress?.(d + 1, documents.length);
  }
  const n = documents.length;
  return { documents: n, perplexity: Math.exp(-logLikelihood / n), accuracy: correct / n, logLikelihood, correct };
}
