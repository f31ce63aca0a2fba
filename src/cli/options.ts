// What every `rwkv` command shares: the one option table (parseArgs config and help line of each
// option), the one UsageError (exit 2), argument parsing and value checks that speak in CLI words
// (`--top-p`, never `topP`), model loading, and state files in and out. The commands live in
// their own modules (model.ts, text.ts, convert.ts, bench.ts) and main.ts dispatches to them from
// its command table; this module imports none of them.

import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { backendHelpLines } from '../backends/registry.ts';
import { BACKEND_NAMES } from '../backends/select.ts';
import { RwkvError } from '../errors.ts';
import { resolveModelFile } from '../hub/index.ts';
import { loadCheckpoint } from '../io/load.ts';
import type { ModelConfig } from '../model/config.ts';
import { RwkvModel } from '../model/model.ts';
import type { RwkvState } from '../model/state.ts';
import {
  STATE_FILE_FORMATS,
  type StateFileFormat,
  decodeStateFile,
  detectStateFileFormat,
  encodeStateFile,
} from '../state/state-interop.ts';
import { writeFileAtomic } from '../io/write.ts';
import { formatBytes, progressBar } from '../util/progress.ts';
import { STRATEGY_HELP, STRATEGY_OPTIONS, strategyLoadOptions } from './strategy-option.ts';

/** A bad command line: printed as one line on stderr, exit code 2 (bad files and failures exit 1). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Streams for the commands that read stdin or stream text (tests pass their own). */
export interface CliIo {
  /** Input for PROMPT / TEXT / IDS `-` and chat (default process.stdin). */
  stdin?: Readable;
  /** Raw text output, no newline added (default process.stdout.write). */
  write?: (s: string) => void;
}

/** Every option of every command (node:util parseArgs config); each command lists the ones it takes. */
export const OPTIONS = {
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
  shape: { type: 'string' },
  prefill: { type: 'string' },
  decode: { type: 'string' },
  runs: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

export type OptionName = keyof typeof OPTIONS;

/** The description of `flag` in a help block laid out like ours (flag, then the text at column 24). */
function helpOf(block: string, flag: string): string {
  const lines = block.split('\n');
  const start = lines.findIndex((l) => l.trimStart().startsWith(`${flag} `));
  let end = start + 1;
  while (end < lines.length && !lines[end]!.trimStart().startsWith('-')) end++;
  return lines
    .slice(start, end)
    .map((l) => l.slice(24))
    .join('\n');
}

/** The help line of each option: its argument and what it does (a command may word it its own way). */
export const OPTION_HELP: Readonly<Record<OptionName, { readonly arg?: string; readonly help: string }>> = {
  model: {
    arg: 'FILE',
    help: `model file: .pth, .safetensors, rwkv.cpp .bin or GGUF (version detected from the
weights), or a Hugging Face Hub file ORG/REPO[@REV]/PATH (downloaded once into
the Hugging Face cache, shared with Python)`,
  },
  file: { arg: 'PATH', help: 'with --model ORG/REPO: the file in the repository' },
  revision: { arg: 'REV', help: 'Hub branch, tag or commit (default main)' },
  offline: { help: 'use only the Hub cache, no network' },
  strategy: { arg: 'S', help: helpOf(STRATEGY_HELP, '--strategy') },
  threads: { arg: 'N', help: helpOf(STRATEGY_HELP, '--threads') },
  backend: { arg: 'NAME', help: ['one of (default auto):', ...backendHelpLines().map((l) => `  ${l}`)].join('\n') },
  weights: { arg: 'MODE', help: 'f32 | compact | auto: keep 16-bit-exact matrices in 16 bits (default auto)' },
  lora: { arg: 'FILE', help: 'merge a LoRA checkpoint (*.lora_A / *.lora_B) at load; repeatable' },
  'lora-alpha': { arg: 'A', help: 'its alpha (scale alpha / rank); one per --lora, or one for all' },
  'initial-state': { arg: 'FILE', help: 'state-tuning checkpoint (blocks.N.att.time_state), becomes the fresh state' },
  tokens: { arg: 'N', help: 'tokens to generate' },
  count: { arg: 'N', help: 'the same as --tokens N' },
  mode: { arg: 'gpt|rnn', help: 'gpt (default): one call on all tokens; rnn: one call per token' },
  chunk: { arg: 'N', help: 'calls of N tokens each, carrying the state' },
  all: { help: 'logits for every input token ({"logits": [[...], ...]})' },
  'state-in': { arg: 'FILE', help: 'start from a state saved with --state-out' },
  'state-out': { arg: 'FILE', help: 'save the state after the last token (rwkv-js-state v1, see README)' },
  'state-in-format': {
    arg: 'F',
    help: `${STATE_FILE_FORMATS.join(' | ')}
(default: read from the file's header, which rwkv-js, official and
web-rwkv-time-state files have; a raw float32 state of rwkv.cpp or web-rwkv has
none and needs this option)`,
  },
  'state-out-format': { arg: 'F', help: `${STATE_FILE_FORMATS.join(' | ')} (default rwkv-js)` },
  from: { arg: 'FORMAT', help: 'the input state format (default: read from the file, as --state-in-format)' },
  to: { arg: 'FORMAT', help: `the output state format: ${STATE_FILE_FORMATS.join(' | ')}` },
  dtype: { arg: 'f32|f16|bf16', help: "store every tensor in this dtype (default: keep each tensor's)" },
  format: { arg: 'NAME', help: "output format (default: from OUT's extension)" },
  quantize: { arg: 'TYPE', help: 'GGUF output: Q8_0 | Q4_0 | Q4_1 | Q5_0 | Q5_1 for the large matrices' },
  vocab: {
    arg: 'PATH',
    help: `the tokenizer file, e.g. rwkv_vocab_v20230424.txt (default: found next to the
model, or $RWKV_VOCAB / $RWKV_TOKENIZER_20B)`,
  },
  tokenizer: {
    arg: 'NAME',
    help: `world | 20b | bytes | PATH (*.txt World vocab, *.json tokenizer.json); default:
from the model's vocab size (65536 world, 50277 20b, 256 bytes)`,
  },
  'force-tokenizer': { help: "use a tokenizer whose vocab size differs from the model's" },
  'prompt-tokens': { arg: 'LIST', help: 'the prompt as comma-separated token ids instead of PROMPT' },
  temperature: { arg: 'T', help: '≥ 0; 0 = greedy (argmax); default 1' },
  'top-p': { arg: 'P', help: 'nucleus sampling, in [0, 1]; default 0.85 (chat 0.3)' },
  'top-k': { arg: 'K', help: 'keep the K most likely tokens; default 0 = off' },
  'alpha-frequency': { arg: 'A', help: 'penalty per (decayed) occurrence; default 0.2 (chat 0.5; greedy 0)' },
  'alpha-presence': { arg: 'A', help: 'penalty for any occurrence; default 0.2 (chat 0.5; greedy 0)' },
  'alpha-decay': { arg: 'D', help: 'occurrence decay per token, ≥ 0; default 0.996' },
  ban: { arg: 'ID,...', help: 'token ids never generated' },
  stop: { arg: 'ID,...', help: 'token ids that end generation (not printed)' },
  'stop-text': { arg: 'S', help: 'text that ends generation (not printed); repeatable' },
  seed: { arg: 'N', help: "seed of the sampler's random numbers (the same text on every runtime)" },
  'chunk-len': { arg: 'N', help: 'prompt tokens per model call (default 256)' },
  preamble: { arg: 'TEXT', help: 'text fed once before the conversation' },
  text: { arg: 'FILE', help: 'the text (- reads stdin)' },
  lambada: { arg: 'FILE', help: `LAMBADA jsonl ({"text": ...} per line), RWKV-LM's protocol` },
  shape: { arg: 'SHAPE', help: '0.1B | 0.4B | 1.5B (the released RWKV-7 shapes) | L,C,V' },
  prefill: { arg: 'N', help: 'prompt tokens timed in one call (default 512; 0 = skip)' },
  decode: { arg: 'N', help: 'tokens timed one call each (default 64)' },
  runs: { arg: 'K', help: 'runs; the median is reported (default 3)' },
  json: { help: 'machine-readable output' },
  help: { help: 'this help' },
  version: { help: "the package's version" },
};

/** The options that load a model (every command that runs one takes them). */
export const MODEL_OPTIONS: readonly OptionName[] = [
  'model',
  'file',
  'revision',
  'offline',
  'strategy',
  'threads',
  'backend',
  'weights',
  'lora',
  'lora-alpha',
  'initial-state',
];
export const TOKENIZER_OPTIONS: readonly OptionName[] = ['tokenizer', 'vocab', 'force-tokenizer'];
export const SAMPLING_OPTIONS: readonly OptionName[] = [
  'temperature',
  'top-p',
  'top-k',
  'alpha-frequency',
  'alpha-presence',
  'alpha-decay',
  'ban',
  'stop',
  'stop-text',
  'seed',
  'chunk-len',
];
export const STATE_OPTIONS: readonly OptionName[] = ['state-in', 'state-out', 'state-in-format', 'state-out-format'];

/** A command's own wording of an option: the help text, or the argument's name and the text. */
export type OptionHelp = string | { readonly arg: string; readonly help: string };

/** `--name ARG   help`, continuation lines indented under the help column. */
export function optionLines(name: OptionName, own?: OptionHelp): string {
  const o = typeof own === 'object' ? own : { arg: OPTION_HELP[name].arg, help: own ?? OPTION_HELP[name].help };
  const short = 'short' in OPTIONS[name] ? `-${(OPTIONS[name] as { short: string }).short}, ` : '';
  const head = `  ${short}--${name}${o.arg !== undefined ? ` ${o.arg}` : ''}`;
  const [first, ...rest] = o.help.split('\n');
  const pad = ' '.repeat(24);
  return [`${head.padEnd(23)} ${first}`, ...rest.map((l) => pad + l)].join('\n');
}

export type Values = ReturnType<typeof parse>['values'];

/**
 * node:util parseArgs reads `--temperature -1` as an option without its value ("argument is
 * ambiguous"). A number that starts with a minus after an option that takes a value is that
 * option's value: rewrite it as `--temperature=-1` (the range is checked afterwards, in CLI words).
 */
function joinNegativeValues(args: readonly string[]): string[] {
  const takesValue = (a: string): string | undefined => {
    const long = /^--([^=]+)$/.exec(a)?.[1];
    const short = /^-([A-Za-z])$/.exec(a)?.[1];
    for (const [name, o] of Object.entries(OPTIONS)) {
      if (o.type !== 'string') continue;
      if (name === long || ('short' in o && o.short === short)) return name;
    }
    return undefined;
  };
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const name = takesValue(a);
    const next = args[i + 1];
    if (name !== undefined && next !== undefined && /^-(\d|\.\d|Infinity)/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

export function parse(args: readonly string[]) {
  try {
    return parseArgs({ args: joinNegativeValues(args), options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!);
  }
}

export function positiveInt(name: string, s: string | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (s === undefined) return fallback;
  if (!/^\d+$/.test(s) || Number(s) < 1) throw new UsageError(`--${name} must be a positive integer, got "${s}"`);
  if (Number(s) > max) throw new UsageError(`--${name} must be at most ${max}, got ${s}`);
  return Number(s);
}

/**
 * The most tokens one `generate` (or chat reply) produces. Far beyond any context a model was
 * trained on (hours of CPU time for the smallest model); a larger count is a typo, not a plan.
 * Longer runs: generate in parts, carrying the state with --state-out / --state-in.
 */
export const MAX_GENERATE_TOKENS = 1_000_000;

/** --tokens N / -n N of generate and chat: a positive integer up to MAX_GENERATE_TOKENS. */
export function tokenCount(name: 'tokens' | 'count', s: string | undefined, fallback: number): number {
  if (s !== undefined && !/^\d+$/.test(s) && Number.isFinite(Number(s)) && Number(s) >= 1) {
    // 1e12, 5.0: a number, but not written as an integer
    throw new UsageError(`--${name} must be a whole number of tokens written in digits (at most ${MAX_GENERATE_TOKENS}), got "${s}"`);
  }
  try {
    return positiveInt(name, s, fallback, MAX_GENERATE_TOKENS);
  } catch (e) {
    if (e instanceof UsageError && s !== undefined && /^\d+$/.test(s)) {
      throw new UsageError(
        `--${name} ${s} is more tokens than one run should make (at most ${MAX_GENERATE_TOKENS}); generate in parts with --state-out / --state-in`,
      );
    }
    throw e;
  }
}

/**
 * A number option, checked against its range. `min`/`max` are inclusive; `what` words the
 * range for the message.
 */
export function numberOption(
  v: Values,
  name: OptionName,
  range: { min?: number; max?: number; integer?: boolean; what?: string } = {},
): number | undefined {
  const s = v[name as keyof Values] as string | undefined;
  if (s === undefined) return undefined;
  const x = Number(s);
  if (s.trim() === '' || !Number.isFinite(x)) throw new UsageError(`--${name} must be a number, got "${s}"`);
  const bad =
    (range.integer === true && !Number.isInteger(x)) ||
    (range.min !== undefined && x < range.min) ||
    (range.max !== undefined && x > range.max);
  if (bad) throw new UsageError(`--${name} must be ${range.what ?? 'in range'}, got ${s}`);
  return x;
}

export function parseTokens(s: string | undefined, name = 'tokens'): number[] {
  if (s === undefined) throw new UsageError(`--${name} is required (comma-separated token ids, e.g. 34,105,110)`);
  const parts = s.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p))) {
    throw new UsageError(`--${name} must be comma-separated non-negative integers, got "${s}"`);
  }
  return parts.map(Number);
}

/** Models loaded by this CLI run: disposed when the command ends (worker threads, backend memory). */
const openModels: RwkvModel[] = [];

/** Dispose every model loadModel opened (main calls it when the command ends). */
export async function closeModels(): Promise<void> {
  for (const m of openModels.splice(0)) await m.dispose();
}

/**
 * A model file that holds only `blocks.N.att.time_state` is a state-tuning checkpoint, not a
 * model: say so and name the option that takes it. Any other error passes through.
 */
export async function explainModelError(e: unknown, file: string): Promise<never> {
  if (e instanceof RwkvError && (e.code === 'UNKNOWN_ARCHITECTURE' || e.code === 'MISSING_TENSOR')) {
    let keys: string[] = [];
    try {
      keys = [...(await loadCheckpoint(file)).checkpoint.keys()];
    } catch {
      // the original error says more
    }
    if (keys.length > 0 && keys.every((k) => /^blocks\.\d+\.att\.time_state$/.test(k))) {
      throw new RwkvError('UNKNOWN_ARCHITECTURE', 'this is a state-tuning checkpoint (only blocks.N.att.time_state), not a model', {
        file,
        hint: 'give it as --initial-state FILE, with the model it was tuned for as --model',
      });
    }
  }
  throw e;
}

export async function loadModel(v: Values): Promise<RwkvModel> {
  if (v.model === undefined) throw new UsageError('--model FILE is required');
  const strategy = strategyLoadOptions(v);
  if (v.backend !== undefined && !BACKEND_NAMES.includes(v.backend)) {
    throw new UsageError(`--backend must be one of ${BACKEND_NAMES.join(', ')}, got "${v.backend}"`);
  }
  const weights = v.weights ?? 'auto';
  if (weights !== 'auto' && weights !== 'f32' && weights !== 'compact')
    throw new UsageError(`--weights must be f32, compact or auto, got "${weights}"`);
  const file = v.model;
  const bar = progressBar('loading');
  let model: RwkvModel;
  try {
    model = await RwkvModel.load(file, {
      onProgress: (p) => bar.update(p.loaded, p.total, `${file} ${formatBytes(p.loaded * 4)} of ${formatBytes(p.total * 4)} (as float32)`),
      // --strategy replaces --backend/--weights (strategyLoadOptions refuses both together)
      ...(strategy.strategy !== undefined ? strategy : { weights, ...strategy }),
      lora: loraOptions(v),
      // the CLI's default is 'auto': the fastest backend here (wasm where WebAssembly SIMD works)
      ...(strategy.strategy === undefined ? { backend: v.backend ?? 'auto' } : {}),
      ...(v['initial-state'] !== undefined ? { extraFiles: [v['initial-state']] } : {}),
    });
  } catch (e) {
    return explainModelError(e, file);
  } finally {
    bar.done();
  }
  openModels.push(model);
  return model;
}

/** --lora F (repeatable) with --lora-alpha A: one alpha per --lora, or a single one for all. */
export function loraOptions(v: Values): { file: string; alpha: number }[] {
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

/**
 * Decode a state file of `format` for a model with `cfg`. Without a format, the file's own
 * header names it (rwkv-js, official, web-rwkv-time-state); a raw float32 buffer (rwkv.cpp,
 * web-rwkv) has none and is refused with the option to pass.
 */
export function decodeAnyState(
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

/**
 * Turn every model-file argument that is a Hugging Face Hub reference into the path of its
 * cached copy (downloading it once, with a progress bar on a terminal). Local paths pass through.
 * `positional`: the index in `rest` of a model file given as an argument (convert's IN).
 */
export async function resolveHubFiles(v: Values, rest: string[], positional?: number): Promise<void> {
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
  if (positional !== undefined && rest[positional] !== undefined) rest[positional] = await resolveOne(rest[positional], v.file);
}
