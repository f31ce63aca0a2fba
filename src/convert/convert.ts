// `rwkv convert`: any readable model file → any writable format, through the original
// checkpoint layout. The output is written to a temporary file and renamed into place when
// complete; the input is only ever read.

import { readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { RwkvError } from '../errors.ts';
import type { GgmlQuantType } from '../io/ggml-quants.ts';
import { createGgufWriter, parseRwkvVocab } from './gguf-write.ts';
import { loadCheckpoint } from '../io/load.ts';
import type { Checkpoint } from '../tensor/tensor.ts';
import { type FloatDType, writeFileAtomic } from '../io/write.ts';
import { writerFor } from './writers.ts';
import { detectConfig, type ModelConfig } from '../model/config.ts';
import { mergeLora } from '../model/lora.ts';

export interface ConvertOptions {
  /** Store every tensor in this dtype (default: keep each tensor's dtype where the format has it). */
  dtype?: FloatDType;
  /** Output format name (default: from the output extension). */
  format?: string;
  /** Extra checkpoints merged over the input (e.g. a state-tuning file). */
  extraFiles?: readonly string[];
  /** GGUF only: store the large matrices in this ggml block type. */
  quantize?: GgmlQuantType;
  /** GGUF only: the tokenizer vocabulary file (rwkv_vocab_v20230424.txt) for non-byte-level models. */
  vocabFile?: string;
  /** LoRA checkpoints merged before writing, in order. */
  lora?: readonly { file: string; alpha: number }[];
  onProgress?: (done: number, total: number, bytes: number) => void;
}

export interface ConvertResult {
  input: string;
  output: string;
  inputFormat: string;
  outputFormat: string;
  config: ModelConfig;
  tensors: number;
  bytes: number;
}

function samePath(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return resolve(a) === resolve(b);
  }
}

export async function convertModel(input: string, output: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  if (samePath(input, output)) {
    throw new RwkvError('INVALID_ARGUMENT', 'the output would overwrite the input', { file: output, hint: 'choose another output file' });
  }
  let writer = writerFor(output, options.format);
  if (options.quantize !== undefined || options.vocabFile !== undefined) {
    if (writer.format !== 'gguf') {
      throw new RwkvError('INVALID_ARGUMENT', `--quantize and --vocab apply to GGUF output only, not ${writer.format}`, { file: output });
    }
    let vocab: ReturnType<typeof parseRwkvVocab> | undefined;
    if (options.vocabFile !== undefined) {
      let text: string;
      try {
        text = readFileSync(options.vocabFile, 'utf8');
      } catch (e) {
        throw new RwkvError('FILE_NOT_FOUND', `cannot read the vocabulary (${(e as NodeJS.ErrnoException).code ?? 'error'})`, {
          file: options.vocabFile,
        });
      }
      vocab = parseRwkvVocab(text, options.vocabFile);
    }
    writer = createGgufWriter({
      ...(options.quantize !== undefined ? { quantize: options.quantize } : {}),
      ...(vocab !== undefined ? { vocab } : {}),
    });
  }
  const loaded = await loadCheckpoint(input);
  let ckpt: Checkpoint = new Map(loaded.checkpoint);
  for (const extra of options.extraFiles ?? []) for (const [k, t] of (await loadCheckpoint(extra)).checkpoint) ckpt.set(k, t);
  for (const l of options.lora ?? []) ckpt = mergeLora(ckpt, (await loadCheckpoint(l.file)).checkpoint, l.alpha, l.file);
  const config = detectConfig(ckpt, input); // refuse what is not an RWKV model before writing anything
  const why = writer.cannot(ckpt);
  if (why !== undefined) {
    throw new RwkvError('UNSUPPORTED_FORMAT', `${writer.format} cannot hold this model: ${why}`, { file: output });
  }
  let bytes = 0;
  writeFileAtomic(output, (sink) => {
    writer.write(ckpt, sink, {
      ...(options.dtype !== undefined ? { dtype: options.dtype } : {}),
      onProgress: (done, total, b) => options.onProgress?.(done, total, b),
    });
    bytes = sink.position;
  });
  return { input, output, inputFormat: loaded.format, outputFormat: writer.format, config, tensors: ckpt.size, bytes };
}
