// The `rwkv` command line. A stable contract other tools drive:
//   rwkv info     --model FILE [--initial-state F] [--json]
//   rwkv forward  --model FILE --tokens 34,105,110 [--mode gpt|rnn] [--chunk N] [--all]
//                 [--state-in F] [--state-out F] [--initial-state F] [--backend NAME] [--json]
//   rwkv generate --model FILE [sampling options] [--tokens N] [--json] PROMPT   (src/cli/text.ts)
//   rwkv chat / tokenize / detokenize / perplexity                                (src/cli/text.ts)
//   rwkv convert  IN OUT [--dtype f32|f16|bf16] [--format NAME] [--initial-state F] [--lora F --lora-alpha A]
//   rwkv state convert IN OUT --model FILE [--from FMT] --to FMT
// Output of forward is one JSON object on stdout. Errors: one line on stderr, non-zero exit
// (2 for bad arguments, 1 for bad files or failures).

import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { BACKEND_NAMES } from './backends/select.ts';
import { convertModel } from './convert/convert.ts';
import { resolveModelFile } from './hub/index.ts';
import { GGML_QUANT_TYPES, type GgmlQuantType } from './io/ggml-quants.ts';
import { RwkvError } from './errors.ts';
import { loadCheckpoint } from './io/load.ts';
import { STATE_FILE_FORMATS, type StateFileFormat, decodeStateFile, detectStateFileFormat, encodeStateFile } from './state/state-interop.ts';
import { writeFileAtomic } from './io/write.ts';
import { type ModelConfig, detectConfig } from './model/config.ts';
import { RwkvModel } from './model/model.ts';
import type { RwkvState } from './model/state.ts';
import { float32ArrayJson } from './util/format.ts';
import { formatBytes, progressBar } from './util/progress.ts';
import { cmdChat, cmdDetokenize, cmdGenerate, cmdPerplexity, cmdTokenize } from './cli/text.ts';
import { cmdBench } from './cli/bench.ts';
import { STRATEGY_HELP, STRATEGY_OPTIONS, StrategyOptionError, strategyLoadOptions } from './cli/strategy-option.ts';

const USAGE = `usage:
  rwkv info --model FILE [--initial-state FILE] [--json]
  rwkv forward --model FILE --tokens 34,105,110 [--mode gpt|rnn] [--chunk N] [--all]
               [--state-in FILE] [--state-out FILE] [--initial-state FILE] [--backend NAME] [--json]
  rwkv generate --model FILE [--tokenizer world|20b|bytes|PATH] [--vocab PATH] [--tokens N]
               [--temperature T] [--top-p P] [--top-k K] [--alpha-frequency A] [--alpha-presence A]
               [--alpha-decay D] [--ban ID,...] [--stop ID,...] [--stop-text S]... [--seed N]
               [--chunk-len N] [--state-in FILE] [--state-out FILE] [--json] PROMPT
  rwkv generate --model FILE --tokens 34,105,110 [-n COUNT] [...]   (older form: prompt ids, greedy)
  rwkv chat --model FILE [tokenizer and sampling options] [--tokens N] [--preamble TEXT] [--json]
  rwkv tokenize (--tokenizer NAME|PATH | --vocab PATH | --model FILE) TEXT
  rwkv detokenize (--tokenizer NAME|PATH | --vocab PATH | --model FILE) IDS
  rwkv perplexity --model FILE (--text FILE | --lambada FILE.jsonl) [--chunk-len N] [--json]
  rwkv convert IN OUT [--dtype f32|f16|bf16] [--format NAME] [--quantize TYPE] [--vocab FILE]
               [--initial-state FILE] [--json]
  rwkv state convert IN OUT --model FILE [--from FORMAT] --to FORMAT
  rwkv bench --shape 0.1B|0.4B|1.5B|L,C,V --strategy S [--prefill N] [--decode N] [--threads N] [--json]
  (every command that loads a model also takes --strategy S and --threads N)

  --model FILE          model file: .pth, .safetensors, rwkv.cpp .bin or GGUF (version detected from the
                        weights), or a Hugging Face Hub file ORG/REPO[@REV]/PATH (downloaded once into
                        the Hugging Face cache, shared with Python)
  --file PATH           with --model ORG/REPO: the file in the repository
  --revision REV        Hub branch, tag or commit (default main)
  --offline             use only the Hub cache, no network
  --tokens LIST         forward: comma-separated token ids
  --tokens N            generate: tokens to generate (default 100; -n is the same); chat: most tokens
                        per reply (default 500). Without PROMPT, generate --tokens LIST is the older
                        form: LIST = prompt ids, -n COUNT tokens (default 32), greedy unless
                        --temperature is given, prints the generated ids
  PROMPT                generate: the prompt text; - reads it from stdin (any text, control characters
                        included); put -- before a prompt that starts with -
  --prompt-tokens LIST  generate: the prompt as token ids instead of PROMPT
  --tokenizer NAME      world | 20b | bytes | PATH (*.txt World vocab, *.json tokenizer.json); default:
                        from the model's vocab size (65536 world, 50277 20b, 256 bytes)
  --vocab PATH          the tokenizer file (default: found next to the model, or $RWKV_VOCAB /
                        $RWKV_TOKENIZER_20B); convert to GGUF: the vocabulary to embed
  --force-tokenizer     use a tokenizer whose vocab size differs from the model's
  --temperature T       0 = greedy (argmax); default 1 (chat 1)
  --top-p P             nucleus sampling; default 0.85 (chat 0.3)
  --top-k K             keep the K most likely tokens; default 0 = off
  --alpha-frequency A   penalty per (decayed) occurrence; default 0.2 (chat 0.5; greedy 0)
  --alpha-presence A    penalty for any occurrence; default 0.2 (chat 0.5; greedy 0)
  --alpha-decay D       occurrence decay per token; default 0.996
  --ban ID,...          token ids never generated
  --stop ID,...         token ids that end generation (not printed)
  --stop-text S         text that ends generation (not printed); repeatable
  --seed N              seed of the sampler's random numbers (the same text on every runtime)
  --chunk-len N         prompt tokens per model call (default 256)
  --preamble TEXT       chat: text fed once before the conversation
  --text FILE           perplexity: the text (- reads stdin)
  --lambada FILE        perplexity: LAMBADA jsonl ({"text": ...} per line), RWKV-LM's protocol
  --mode gpt|rnn        gpt (default): one call on all tokens; rnn: one call per token
  --chunk N             calls of N tokens each, carrying the state
  --all                 logits for every input token ({"logits": [[...], ...]})
  --state-in FILE       start from a state saved with --state-out
  --state-out FILE      save the state after the last token (rwkv-js-state v1, see README)
  --initial-state FILE  state-tuning checkpoint (blocks.N.att.time_state), becomes the fresh state
  --backend NAME        ${BACKEND_NAMES.join(' | ')} (default auto)
  --lora FILE           merge a LoRA checkpoint (*.lora_A / *.lora_B) at load; repeatable
  --lora-alpha A        its alpha (scale alpha / rank); one per --lora, or one for all
  --state-in-format F   ${STATE_FILE_FORMATS.join(' | ')} (default: detected)
  --state-out-format F  as above (default rwkv-js)
  --weights MODE        f32 | compact | auto: keep 16-bit-exact matrices in 16 bits (default auto)
${STRATEGY_HELP}
  -n, --count N         generate: number of tokens (same as --tokens N)
  --dtype f32|f16|bf16  convert: store every tensor in this dtype (default: keep each tensor's)
  --format NAME         convert: output format (default: from OUT's extension)
  --quantize TYPE       convert to GGUF: Q8_0 | Q4_0 | Q4_1 | Q5_0 | Q5_1 for the large matrices
  --json                machine-readable output`;

export class UsageError extends Error {}

/** Streams for the commands that read stdin or stream text (tests pass their own). */
export interface CliIo {
  /** Input for PROMPT / TEXT / IDS `-` and chat (default process.stdin). */
  stdin?: Readable;
  /** Raw text output, no newline added (default process.stdout.write). */
  write?: (s: string) => void;
}

const OPTIONS = {
  ...STRATEGY_OPTIONS,
  model: { type: 'string' },
  tokens: { type: 'string' },
  mode: { type: 'string' },
  chunk: { type: 'string' },
  all: { type: 'boolean' },
  'state-in': { type: 'string' },
  'state-out': { type: 'string' },
  'initial-state': { type: 'string' },
  backend: { type: 'string' },
  count: { type: 'string', short: 'n' },
  dtype: { type: 'string' },
  format: { type: 'string' },
  lora: { type: 'string', multiple: true },
  'lora-alpha': { type: 'string', multiple: true },
  'state-in-format': { type: 'string' },
  'state-out-format': { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  weights: { type: 'string' },
  quantize: { type: 'string' },
  vocab: { type: 'string' },
  tokenizer: { type: 'string' },
  'force-tokenizer': { type: 'boolean' },
  'prompt-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'top-p': { type: 'string' },
  'top-k': { type: 'string' },
  'alpha-frequency': { type: 'string' },
  'alpha-presence': { type: 'string' },
  'alpha-decay': { type: 'string' },
  ban: { type: 'string' },
  stop: { type: 'string' },
  'stop-text': { type: 'string', multiple: true },
  seed: { type: 'string' },
  'chunk-len': { type: 'string' },
  preamble: { type: 'string' },
  text: { type: 'string' },
  lambada: { type: 'string' },
  file: { type: 'string' },
  revision: { type: 'string' },
  offline: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type Values = ReturnType<typeof parse>['values'];

function parse(args: string[]) {
  try {
    return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!);
  }
}

export function positiveInt(name: string, s: string | undefined, fallback: number): number {
  if (s === undefined) return fallback;
  if (!/^\d+$/.test(s) || Number(s) < 1) throw new UsageError(`--${name} must be a positive integer, got "${s}"`);
  return Number(s);
}

export function parseTokens(s: string | undefined): number[] {
  if (s === undefined) throw new UsageError('--tokens is required (comma-separated token ids, e.g. 34,105,110)');
  const parts = s.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p))) {
    throw new UsageError(`--tokens must be comma-separated non-negative integers, got "${s}"`);
  }
  return parts.map(Number);
}

/** Models loaded by this CLI run: disposed when the command ends (worker threads, backend memory). */
const openModels: RwkvModel[] = [];

export async function loadModel(v: Values): Promise<RwkvModel> {
  if (v.model === undefined) throw new UsageError('--model FILE is required');
  const strategy = strategyLoadOptions(v);
  if (v.backend !== undefined && !BACKEND_NAMES.includes(v.backend)) {
    throw new UsageError(`--backend must be one of ${BACKEND_NAMES.join(', ')}, got "${v.backend}"`);
  }
  const weights = v.weights ?? 'auto';
  if (weights !== 'auto' && weights !== 'f32' && weights !== 'compact')
    throw new UsageError(`--weights must be f32, compact or auto, got "${weights}"`);
  const bar = progressBar('loading');
  let model: RwkvModel;
  try {
    model = await RwkvModel.load(v.model, {
      onProgress: (p) =>
        bar.update(p.loaded, p.total, `${v.model} ${formatBytes(p.loaded * 4)} of ${formatBytes(p.total * 4)} (as float32)`),
      // --strategy replaces --backend/--weights (strategyLoadOptions refuses both together)
      ...(strategy.strategy !== undefined ? strategy : { weights, ...strategy }),
      lora: loraOptions(v),
      // the CLI's default is 'auto': the fastest backend here (wasm where WebAssembly SIMD works)
      ...(strategy.strategy === undefined ? { backend: v.backend ?? 'auto' } : {}),
      ...(v['initial-state'] !== undefined ? { extraFiles: [v['initial-state']] } : {}),
    });
  } finally {
    bar.done();
  }
  openModels.push(model);
  return model;
}

/** --lora F (repeatable) with --lora-alpha A: one alpha per --lora, or a single one for all. */
function loraOptions(v: Values): { file: string; alpha: number }[] {
  const files = v.lora ?? [];
  const alphas = (v['lora-alpha'] ?? []).map((a) => {
    const x = Number(a);
    if (a.trim() === '' || !Number.isFinite(x)) throw new UsageError(`--lora-alpha must be a number, got "${a}"`);
    return x;
  });
  if (files.length === 0) {
    if (alphas.length > 0) throw new UsageError('--lora-alpha needs a --lora FILE');
    return [];
  }
  if (alphas.length === 0) throw new UsageError('--lora needs --lora-alpha A (the alpha the LoRA was trained with)');
  if (alphas.length !== 1 && alphas.length !== files.length) {
    throw new UsageError(`give one --lora-alpha for all LoRAs or one per --lora (${files.length} LoRAs, ${alphas.length} alphas)`);
  }
  return files.map((file, i) => ({ file, alpha: alphas.length === 1 ? alphas[0]! : alphas[i]! }));
}

export function stateFormat(name: string | undefined, option: string): StateFileFormat | undefined {
  if (name === undefined || name === 'auto') return undefined;
  if (!(STATE_FILE_FORMATS as readonly string[]).includes(name)) {
    throw new UsageError(`--${option} must be one of ${STATE_FILE_FORMATS.join(', ')}, got "${name}"`);
  }
  return name as StateFileFormat;
}

export async function readStateBytes(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (e) {
    throw new RwkvError('FILE_NOT_FOUND', `cannot read the state file (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { file });
  }
}

/** Decode a state file of `format` (detected when undefined) for a model with `cfg`. */
function decodeAnyState(
  bytes: Uint8Array,
  cfg: ModelConfig,
  format: StateFileFormat | undefined,
  file: string,
  option: string,
): Float32Array {
  const fmt = format ?? detectStateFileFormat(bytes);
  if (fmt === undefined) {
    throw new UsageError(`cannot tell the format of state file ${file} (raw float32?): pass --${option} rwkv.cpp or web-rwkv`);
  }
  return decodeStateFile(bytes, cfg, fmt, file);
}

export async function startState(model: RwkvModel, v: Values): Promise<RwkvState> {
  const inFormat = stateFormat(v['state-in-format'], 'state-in-format');
  stateFormat(v['state-out-format'], 'state-out-format'); // validate before any work
  const state = model.createState();
  const file = v['state-in'];
  if (file !== undefined) {
    state.fromArray(decodeAnyState(await readStateBytes(file), model.config, inFormat, file, 'state-in-format'));
  }
  return state;
}

export async function saveState(model: RwkvModel, state: RwkvState, v: Values): Promise<void> {
  const file = v['state-out'];
  if (file === undefined) return;
  const format = stateFormat(v['state-out-format'], 'state-out-format') ?? 'rwkv-js';
  const bytes = encodeStateFile(await state.toArray(), model.config, format);
  // a temporary file renamed into place: a reader never sees a half-written state
  writeFileAtomic(file, (sink) => sink.write(bytes));
}

async function cmdState(v: Values, args: string[], out: (s: string) => void): Promise<void> {
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

async function cmdInfo(v: Values, out: (s: string) => void): Promise<void> {
  const model = await loadModel(v);
  const c = model.config;
  const info = {
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
    format: model.source.format,
    file: model.source.file,
  };
  if (v.json) {
    out(JSON.stringify(info));
  } else {
    for (const [k, val] of Object.entries(info)) out(`${k.padEnd(11)} ${typeof val === 'object' ? JSON.stringify(val) : val}`);
  }
}

async function cmdForward(v: Values, out: (s: string) => void): Promise<void> {
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

const DTYPES = { f32: 'F32', f16: 'F16', bf16: 'BF16' } as const;

async function cmdConvert(v: Values, args: string[], out: (s: string) => void): Promise<void> {
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
  const bar = progressBar('converting');
  try {
    const r = await convertModel(input, output, {
      ...(dtype !== undefined ? { dtype } : {}),
      ...(v.format !== undefined ? { format: v.format } : {}),
      ...(quantize !== undefined ? { quantize } : {}),
      ...(v.vocab !== undefined ? { vocabFile: v.vocab } : {}),
      ...(v['initial-state'] !== undefined ? { extraFiles: [v['initial-state']] } : {}),
      lora: loraOptions(v),
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
  } finally {
    bar.done();
  }
}

/**
 * Turn every model-file argument that is a Hugging Face Hub reference into the path of its
 * cached copy (downloading it once, with a progress bar on a terminal). Local paths pass through.
 */
async function resolveHubFiles(v: Values, command: string, rest: string[]): Promise<void> {
  const hub = {
    ...(v.revision !== undefined ? { revision: v.revision } : {}),
    ...(v.offline ? { offline: true } : {}),
  };
  const resolveOne = async (spec: string, file?: string): Promise<string> => {
    const bar = progressBar('downloading');
    try {
      return await resolveModelFile(spec, {
        ...hub,
        ...(file !== undefined ? { file } : {}),
        onProgress: (p) => bar.update(p.loaded, p.total, `${p.file} ${formatBytes(p.loaded)} / ${formatBytes(p.total)}`),
      });
    } finally {
      bar.done();
    }
  };
  const mutable = v as { model?: string; 'initial-state'?: string; lora?: string[] };
  if (mutable.model !== undefined) mutable.model = await resolveOne(mutable.model, v.file);
  if (mutable['initial-state'] !== undefined) mutable['initial-state'] = await resolveOne(mutable['initial-state']);
  if (mutable.lora !== undefined) mutable.lora = await Promise.all(mutable.lora.map((l) => resolveOne(l)));
  if (command === 'convert' && rest[0] !== undefined) rest[0] = await resolveOne(rest[0], v.file);
}

/** Run the CLI; returns the exit code. Exported for tests. */
export async function main(
  argv: string[],
  out = (s: string) => console.log(s),
  err = (s: string) => console.error(s),
  io: CliIo = {},
): Promise<number> {
  try {
    // `rwkv bench` has its own options (src/cli/bench.ts)
    if (argv[0] === 'bench') return await cmdBench(argv.slice(1), out);
    const { values, positionals } = parse(argv);
    const [command, ...rest] = positionals;
    if (values.help || command === undefined || command === 'help') {
      out(USAGE);
      return command === undefined && !values.help ? 2 : 0;
    }
    await resolveHubFiles(values, command, rest);
    if (command === 'convert') {
      await cmdConvert(values, rest, out);
      return 0;
    }
    if (command === 'state') {
      await cmdState(values, rest, out);
      return 0;
    }
    if (command === 'generate') await cmdGenerate(values, rest, out, io);
    else if (command === 'chat') await cmdChat(values, rest, out, err, io);
    else if (command === 'tokenize') await cmdTokenize(values, rest, out, io);
    else if (command === 'detokenize') await cmdDetokenize(values, rest, out, io);
    else if (command === 'perplexity') await cmdPerplexity(values, rest, out, io);
    else {
      if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
      if (command === 'info') await cmdInfo(values, out);
      else if (command === 'forward') await cmdForward(values, out);
      else {
        throw new UsageError(
          `unknown command "${command}" (expected info, forward, generate, chat, tokenize, detokenize, perplexity, convert or state)`,
        );
      }
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof StrategyOptionError) {
      err(`rwkv: error: ${e.message} (see rwkv --help)`);
      return 2;
    }
    if (e instanceof RwkvError) {
      err(`rwkv: error: ${e.message.replace(/\n/g, ' ')}`);
      return 1;
    }
    err(`rwkv: internal error: ${(e as Error).stack?.split('\n').slice(0, 2).join(' ') ?? String(e)}`);
    return 1;
  } finally {
    for (const m of openModels.splice(0)) await m.dispose();
  }
}
