// The `rwkv` command line. A stable contract other tools drive:
//   rwkv info     --model FILE [--initial-state F] [--json]
//   rwkv forward  --model FILE --tokens 34,105,110 [--mode gpt|rnn] [--chunk N] [--all]
//                 [--state-in F] [--state-out F] [--initial-state F] [--backend NAME] [--json]
//   rwkv generate --model FILE --tokens 34,105,110 [-n 32] [...same state options] [--json]
//   rwkv convert  IN OUT [--dtype f32|f16|bf16] [--format NAME] [--initial-state F]
// Output of forward is one JSON object on stdout. Errors: one line on stderr, non-zero exit
// (2 for bad arguments, 1 for bad files or failures).

import { readFile, rename, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { BACKEND_NAMES } from './backends/select.ts';
import { convertModel } from './convert.ts';
import { RwkvError } from './errors.ts';
import { decodeState, encodeState } from './io/state-file.ts';
import { RwkvModel } from './model/model.ts';
import type { RwkvState } from './model/state.ts';
import { float32ArrayJson } from './util/format.ts';
import { formatBytes, progressBar } from './util/progress.ts';

const USAGE = `usage:
  rwkv info --model FILE [--initial-state FILE] [--json]
  rwkv forward --model FILE --tokens 34,105,110 [--mode gpt|rnn] [--chunk N] [--all]
               [--state-in FILE] [--state-out FILE] [--initial-state FILE] [--backend NAME] [--json]
  rwkv generate --model FILE --tokens 34,105,110 [-n COUNT] [--state-in FILE] [--state-out FILE]
               [--initial-state FILE] [--backend NAME] [--json]
  rwkv convert IN OUT [--dtype f32|f16|bf16] [--format NAME] [--initial-state FILE] [--json]

  --model FILE          .safetensors or rwkv.cpp .bin model file (version detected from the weights)
  --tokens LIST         comma-separated token ids
  --mode gpt|rnn        gpt (default): one call on all tokens; rnn: one call per token
  --chunk N             calls of N tokens each, carrying the state
  --all                 logits for every input token ({"logits": [[...], ...]})
  --state-in FILE       start from a state saved with --state-out
  --state-out FILE      save the state after the last token (rwkv-js-state v1, see README)
  --initial-state FILE  state-tuning checkpoint (blocks.N.att.time_state), becomes the fresh state
  --backend NAME        ${BACKEND_NAMES.join(' | ')} (default auto)
  -n, --count N         generate: number of tokens (greedy, argmax)
  --dtype f32|f16|bf16  convert: store every tensor in this dtype (default: keep each tensor's)
  --format NAME         convert: output format (default: from OUT's extension)
  --json                machine-readable output`;

class UsageError extends Error {}

const OPTIONS = {
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
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parse>['values'];

function parse(args: string[]) {
  try {
    return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!);
  }
}

function positiveInt(name: string, s: string | undefined, fallback: number): number {
  if (s === undefined) return fallback;
  if (!/^\d+$/.test(s) || Number(s) < 1) throw new UsageError(`--${name} must be a positive integer, got "${s}"`);
  return Number(s);
}

function parseTokens(s: string | undefined): number[] {
  if (s === undefined) throw new UsageError('--tokens is required (comma-separated token ids, e.g. 34,105,110)');
  const parts = s.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p))) {
    throw new UsageError(`--tokens must be comma-separated non-negative integers, got "${s}"`);
  }
  return parts.map(Number);
}

async function loadModel(v: Values): Promise<RwkvModel> {
  if (v.model === undefined) throw new UsageError('--model FILE is required');
  if (v.backend !== undefined && !BACKEND_NAMES.includes(v.backend)) {
    throw new UsageError(`--backend must be one of ${BACKEND_NAMES.join(', ')}, got "${v.backend}"`);
  }
  return RwkvModel.load(v.model, {
    ...(v.backend !== undefined ? { backend: v.backend } : {}),
    ...(v['initial-state'] !== undefined ? { extraFiles: [v['initial-state']] } : {}),
  });
}

async function startState(model: RwkvModel, v: Values): Promise<RwkvState> {
  const state = model.createState();
  const file = v['state-in'];
  if (file !== undefined) {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch (e) {
      throw new RwkvError('FILE_NOT_FOUND', `cannot read the state file (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { file });
    }
    state.fromArray(decodeState(bytes, model.config, file));
  }
  return state;
}

async function saveState(model: RwkvModel, state: RwkvState, file: string | undefined): Promise<void> {
  if (file === undefined) return;
  const bytes = encodeState(model.config, await state.toArray());
  // write next to the target, then rename: a reader never sees a half-written file
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, bytes);
  await rename(tmp, file);
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
  await saveState(model, state, v['state-out']);
  out(v.all ? `{"logits":[${rows.map(float32ArrayJson).join(',')}]}` : `{"logits":${float32ArrayJson(last!)}}`);
}

async function cmdGenerate(v: Values, out: (s: string) => void): Promise<void> {
  const tokens = parseTokens(v.tokens);
  const count = positiveInt('count', v.count, 32);
  const model = await loadModel(v);
  const state = await startState(model, v);
  let { logits } = await model.forward(tokens, state);
  const generated: number[] = [];
  for (let i = 0; i < count; i++) {
    const l = logits as Float32Array;
    let best = 0;
    for (let j = 1; j < l.length; j++) if (l[j]! > l[best]!) best = j;
    generated.push(best);
    if (i + 1 < count) ({ logits } = await model.forward([best], state));
  }
  await saveState(model, state, v['state-out']);
  out(v.json ? JSON.stringify({ tokens: generated }) : generated.join(','));
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
  const bar = progressBar('converting');
  try {
    const r = await convertModel(input, output, {
      ...(dtype !== undefined ? { dtype } : {}),
      ...(v.format !== undefined ? { format: v.format } : {}),
      ...(v['initial-state'] !== undefined ? { extraFiles: [v['initial-state']] } : {}),
      onProgress: (done, total, bytes) => bar.update(done, total, `${done}/${total} tensors, ${formatBytes(bytes)}`),
    });
    bar.done();
    const summary = {
      input: r.input, output: r.output, from: r.inputFormat, to: r.outputFormat,
      version: r.config.version, tensors: r.tensors, bytes: r.bytes,
    };
    out(v.json ? JSON.stringify(summary) : `wrote ${r.output} (${r.outputFormat}, RWKV-${r.config.version}, ${r.tensors} tensors, ${formatBytes(r.bytes)}) from ${r.input} (${r.inputFormat})`);
  } finally {
    bar.done();
  }
}

/** Run the CLI; returns the exit code. Exported for tests. */
export async function main(argv: string[], out = (s: string) => console.log(s), err = (s: string) => console.error(s)): Promise<number> {
  try {
    const { values, positionals } = parse(argv);
    const [command, ...rest] = positionals;
    if (values.help || command === undefined || command === 'help') {
      out(USAGE);
      return command === undefined && !values.help ? 2 : 0;
    }
    if (command === 'convert') {
      await cmdConvert(values, rest, out);
      return 0;
    }
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
    if (command === 'info') await cmdInfo(values, out);
    else if (command === 'forward') await cmdForward(values, out);
    else if (command === 'generate') await cmdGenerate(values, out);
    else throw new UsageError(`unknown command "${command}" (expected info, forward, generate or convert)`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`rwkv: error: ${e.message} (see rwkv --help)`);
      return 2;
    }
    if (e instanceof RwkvError) {
      err(`rwkv: error: ${e.message.replace(/\n/g, ' ')}`);
      return 1;
    }
    err(`rwkv: internal error: ${(e as Error).stack?.split('\n').slice(0, 2).join(' ') ?? String(e)}`);
    return 1;
  }
}

