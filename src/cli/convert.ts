// `rwkv convert` and `rwkv state convert`.
//
//   rwkv convert IN OUT [--dtype f32|f16|bf16] [--format NAME] [--quantize TYPE] [--vocab FILE]
//                [--initial-state F] [--lora F --lora-alpha A] [--json]
//       Any readable model file to any writable format (src/convert/convert.ts). A GGUF output
//       embeds the tokenizer vocabulary: --vocab, else rwkv_vocab_v20230424.txt found as
//       `generate` finds it (next to the model, then $RWKV_VOCAB).
//   rwkv state convert IN OUT --model FILE [--from FORMAT] --to FORMAT

import { convertModel } from '../convert/convert.ts';
import { writerFor } from '../convert/writers.ts';
import { GGML_QUANT_TYPES, type GgmlQuantType } from '../io/ggml-quants.ts';
import { loadCheckpoint } from '../io/load.ts';
import { writeFileAtomic } from '../io/write.ts';
import { detectConfig } from '../model/config.ts';
import { STATE_FILE_FORMATS, encodeStateFile } from '../state/state-interop.ts';
import { BYTES_VOCAB_SIZE } from '../tokenizer/bytes.ts';
import { WORLD_VOCAB_URLS, findWorldVocab } from '../tokenizer/select.ts';
import { WORLD_VOCAB_FILE } from '../tokenizer/world.ts';
import { formatBytes, progressBar } from '../util/progress.ts';
import { UsageError, type Values, decodeAnyState, explainModelError, loraOptions, readStateBytes, stateFormat } from './options.ts';

const DTYPES = { f32: 'F32', f16: 'F16', bf16: 'BF16' } as const;

/**
 * The vocabulary file a GGUF output embeds: --vocab, else the World vocabulary found next to
 * the input or through $RWKV_VOCAB; none needed for a byte-level (256-token) model.
 */
async function ggufVocab(v: Values, input: string): Promise<string | undefined> {
  if (v.vocab !== undefined) return v.vocab;
  let nVocab: number;
  try {
    nVocab = detectConfig((await loadCheckpoint(input)).checkpoint, input).nVocab; // headers only
  } catch (e) {
    return explainModelError(e, input);
  }
  if (nVocab === BYTES_VOCAB_SIZE) return undefined;
  const { file, looked } = findWorldVocab(input);
  if (file !== undefined) return file;
  throw new UsageError(
    `a GGUF file carries the tokenizer: this ${nVocab}-token model needs --vocab FILE (${WORLD_VOCAB_FILE}, from ${WORLD_VOCAB_URLS[0]}); looked at ${looked.join('; ')}`,
  );
}

export async function cmdConvert(v: Values, args: string[], out: (s: string) => void): Promise<void> {
  if (args.length !== 2) throw new UsageError('convert needs an input and an output file: rwkv convert IN OUT');
  const [input, output] = args as [string, string];
  let dtype: 'F32' | 'F16' | 'BF16' | undefined;
  if (v.dtype !== undefined) {
    dtype = (DTYPES as Record<string, 'F32' | 'F16' | 'BF16'>)[v.dtype.toLowerCase()];
    if (dtype === undefined) throw new UsageError(`--dtype must be f32, f16 or bf16, got "${v.dtype}"`);
  }
  let quantize: GgmlQuantType | undefined;
  if (v.quantize !== undefined) {
    const q = v.quantize.toUpperCase();
    if (!(GGML_QUANT_TYPES as readonly string[]).includes(q))
      throw new UsageError(`--quantize must be one of ${GGML_QUANT_TYPES.join(', ')}, got "${v.quantize}"`);
    quantize = q as GgmlQuantType;
  }
  const lora = loraOptions(v);
  const vocabFile = writerFor(output, v.format).format === 'gguf' ? await ggufVocab(v, input) : v.vocab;
  const bar = progressBar('converting');
  try {
    const r = await convertModel(input, output, {
      ...(dtype !== undefined ? { dtype } : {}),
      ...(v.format !== undefined ? { format: v.format } : {}),
      ...(quantize !== undefined ? { quantize } : {}),
      ...(vocabFile !== undefined ? { vocabFile } : {}),
      ...(v['initial-state'] !== undefined ? { extraFiles: [v['initial-state']] } : {}),
      lora,
      onProgress: (done, total, bytes) => bar.update(done, total, `${done}/${total} tensors, ${formatBytes(bytes)}`),
    });
    bar.done();
    const summary = {
      input: r.input,
      output: r.output,
      from: r.inputFormat,
      to: r.outputFormat,
      version: r.config.version,
      tensors: r.tensors,
      bytes: r.bytes,
    };
    out(
      v.json
        ? JSON.stringify(summary)
        : `wrote ${r.output} (${r.outputFormat}, RWKV-${r.config.version}, ${r.tensors} tensors, ${formatBytes(r.bytes)}) from ${r.input} (${r.inputFormat})`,
    );
  } catch (e) {
    return explainModelError(e, input);
  } finally {
    bar.done();
  }
}

export async function cmdState(v: Values, args: string[], out: (s: string) => void): Promise<void> {
  const [sub, input, output, ...rest] = args;
  if (sub !== 'convert' || input === undefined || output === undefined || rest.length > 0) {
    throw new UsageError('usage: rwkv state convert IN OUT --model FILE [--from FORMAT] --to FORMAT');
  }
  if (v.model === undefined) throw new UsageError('rwkv state convert needs --model FILE (the state layout depends on the model)');
  const to = stateFormat(v.to, 'to');
  if (to === undefined) throw new UsageError(`--to is required: one of ${STATE_FILE_FORMATS.join(', ')}`);
  const from = stateFormat(v.from, 'from');
  const { checkpoint } = await loadCheckpoint(v.model);
  const cfg = detectConfig(checkpoint, v.model);
  const data = decodeAnyState(await readStateBytes(input), cfg, from, input, 'from');
  const bytes = encodeStateFile(data, cfg, to);
  writeFileAtomic(output, (sink) => sink.write(bytes));
  out(
    v.json
      ? JSON.stringify({ input, output, to, values: data.length })
      : `wrote ${output} (${to}, ${data.length} values, RWKV-${cfg.version})`,
  );
}
