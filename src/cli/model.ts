// `rwkv info` and `rwkv forward`.
//
//   rwkv info     --model FILE [--initial-state F] [--json]
//       The configuration, from the file's headers: tensor names, shapes and dtypes. No weight is
//       read or decoded.
//   rwkv forward  --model FILE --tokens 34,105,110 [--mode gpt|rnn] [--chunk N] [--all]
//                 [--state-in F] [--state-out F] [--initial-state F] [--json]
//       One JSON object on stdout: {"logits": [...]} for the last token, or with --all one row
//       per input token.

import { loadCheckpoint } from '../io/load.ts';
import { detectConfig } from '../model/config.ts';
import type { Checkpoint, StoredDType } from '../tensor/tensor.ts';
import { float32ArrayJson } from '../util/format.ts';
import {
  UsageError,
  type Values,
  explainModelError,
  loadModel,
  loraOptions,
  parseTokens,
  positiveInt,
  saveState,
  startState,
} from './options.ts';

/** What `rwkv info` prints (snake_case keys: the JSON other tools read). */
export interface ModelInfo {
  version: string;
  n_layer: number;
  n_embd: number;
  n_head: number;
  head_size: number;
  vocab: number;
  ffn: number;
  lora: Readonly<Record<string, number>>;
  time_state: boolean;
  parameters: number;
  /** tensors per stored dtype */
  dtypes: Partial<Record<StoredDType, number>>;
  format: string;
  file: string;
}

/**
 * The description of a checkpoint from its tensors' names, shapes and dtypes alone: no tensor's
 * data is read (a lazy tensor's `data` would read and decode it from the file).
 */
export function modelInfo(checkpoint: Checkpoint, file: string, format: string): ModelInfo {
  const c = detectConfig(checkpoint, file);
  const dtypes: Partial<Record<StoredDType, number>> = {};
  for (const t of checkpoint.values()) dtypes[t.storedAs] = (dtypes[t.storedAs] ?? 0) + 1;
  return {
    version: c.version,
    n_layer: c.nLayer,
    n_embd: c.nEmbd,
    n_head: c.nHead,
    head_size: c.headSize,
    vocab: c.nVocab,
    ffn: c.nFfn,
    lora: c.lora,
    time_state: c.hasTimeState,
    parameters: c.nParams,
    dtypes,
    format,
    file,
  };
}

export async function cmdInfo(v: Values, args: string[], out: (s: string) => void): Promise<void> {
  if (args.length > 0) throw new UsageError(`unexpected argument "${args[0]}"`);
  if (v.model === undefined) throw new UsageError('--model FILE is required');
  loraOptions(v); // a LoRA changes no shape: checked, not merged
  const file = v.model;
  let info: ModelInfo;
  try {
    const main = await loadCheckpoint(file);
    const ckpt: Checkpoint = new Map(main.checkpoint);
    if (v['initial-state'] !== undefined) for (const [k, t] of (await loadCheckpoint(v['initial-state'])).checkpoint) ckpt.set(k, t);
    info = modelInfo(ckpt, file, main.format);
  } catch (e) {
    return explainModelError(e, file);
  }
  if (v.json) {
    out(JSON.stringify(info));
  } else {
    for (const [k, val] of Object.entries(info)) out(`${k.padEnd(11)} ${typeof val === 'object' ? JSON.stringify(val) : val}`);
  }
}

export async function cmdForward(v: Values, args: string[], out: (s: string) => void): Promise<void> {
  if (args.length > 0) throw new UsageError(`unexpected argument "${args[0]}"`);
  const tokens = parseTokens(v.tokens);
  const mode = v.mode ?? 'gpt';
  if (mode !== 'gpt' && mode !== 'rnn') throw new UsageError(`--mode must be gpt or rnn, got "${mode}"`);
  if (mode === 'rnn' && v.chunk !== undefined) throw new UsageError('--mode rnn and --chunk cannot be combined (rnn is --chunk 1)');
  const chunk = mode === 'rnn' ? 1 : positiveInt('chunk', v.chunk, tokens.length);
  const model = await loadModel(v);
  const state = await startState(model, v);
  const rows: Float32Array[] = [];
  let last: Float32Array | undefined;
  for (let i = 0; i < tokens.length; i += chunk) {
    const part = tokens.slice(i, i + chunk);
    const { logits } = await model.forward(part, state, { allLogits: v.all === true });
    if (v.all) rows.push(...(logits as Float32Array[]));
    else last = logits as Float32Array;
  }
  await saveState(model, state, v);
  out(v.all ? `{"logits":[${rows.map(float32ArrayJson).join(',')}]}` : `{"logits":${float32ArrayJson(last!)}}`);
}
