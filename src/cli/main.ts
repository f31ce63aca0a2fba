// The `rwkv` command line: one table of commands (name, one-line summary, usage, the options it
// takes, its handler), from which the usage text, every command list and `rwkv <command> --help`
// are made. A stable contract other tools drive: machine output with --json (forward always
// prints JSON); errors are one line on stderr with exit code 2 for bad arguments and 1 for bad
// files or failures. The commands are in model.ts, text.ts, convert.ts and bench.ts beside this
// file; what they share (the option table, UsageError, model and state loading) is options.ts.
// Add a command: write its handler and add one entry to COMMANDS.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RwkvError } from '../errors.ts';
import { cmdBench } from './bench.ts';
import { cmdConvert, cmdState } from './convert.ts';
import { cmdForward, cmdInfo } from './model.ts';
import {
  type CliIo,
  MODEL_OPTIONS,
  type OptionHelp,
  type OptionName,
  SAMPLING_OPTIONS,
  STATE_OPTIONS,
  TOKENIZER_OPTIONS,
  UsageError,
  type Values,
  closeModels,
  optionLines,
  parse,
  resolveHubFiles,
} from './options.ts';
import { StrategyOptionError } from './strategy-option.ts';
import { cmdChat, cmdDetokenize, cmdGenerate, cmdPerplexity, cmdTokenize } from './text.ts';

/** What a handler gets besides its options and arguments. */
export interface CommandContext {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  readonly io: CliIo;
}

export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The synopsis after `rwkv ` (continuation lines indented by the caller). */
  readonly usage: string;
  /** The options it takes (others are refused); `--help` lists them in this order. */
  readonly options: readonly OptionName[];
  /** Its own wording of an option's help, where the shared one does not fit. */
  readonly optionHelp?: Partial<Record<OptionName, OptionHelp>>;
  /** Extra lines for its help. */
  readonly notes?: string;
  /** Index in the arguments of a model file to resolve from the Hub (convert's IN). */
  readonly modelArgument?: number;
  run(v: Values, args: string[], c: CommandContext): Promise<void>;
}

const HUB: readonly OptionName[] = ['file', 'revision', 'offline'];

export const COMMANDS: readonly Command[] = [
  {
    name: 'info',
    summary: "the model's version and shapes, read from the file's headers",
    usage: 'info --model FILE [--initial-state FILE] [--json]',
    options: ['model', ...HUB, 'initial-state', 'lora', 'lora-alpha', 'json'],
    run: (v, a, c) => cmdInfo(v, a, c.out),
  },
  {
    name: 'forward',
    summary: 'the logits after token ids, as JSON',
    usage: `forward --model FILE --tokens 34,105,110 [--mode gpt|rnn] [--chunk N] [--all]
        [--state-in FILE] [--state-out FILE] [--initial-state FILE] [--strategy S] [--json]`,
    options: ['tokens', 'mode', 'chunk', 'all', ...MODEL_OPTIONS, ...STATE_OPTIONS, 'json'],
    optionHelp: { tokens: { arg: 'LIST', help: 'the input: comma-separated token ids' } },
    run: (v, a, c) => cmdForward(v, a, c.out),
  },
  {
    name: 'generate',
    summary: 'continue a text prompt (streams the text)',
    usage: `generate --model FILE [--tokenizer world|20b|bytes|PATH] [--vocab PATH] [--tokens N]
        [--temperature T] [--top-p P] [--top-k K] [--alpha-frequency A] [--alpha-presence A]
        [--alpha-decay D] [--ban ID,...] [--stop ID,...] [--stop-text S]... [--seed N]
        [--chunk-len N] [--state-in FILE] [--state-out FILE] [--json]
        (PROMPT | --prompt-tokens LIST)`,
    options: ['tokens', 'count', 'prompt-tokens', ...SAMPLING_OPTIONS, ...TOKENIZER_OPTIONS, ...MODEL_OPTIONS, ...STATE_OPTIONS, 'json'],
    optionHelp: { tokens: 'tokens to generate (default 100, at most 1000000)' },
    notes: `PROMPT is the text to continue; - reads it from stdin (any text, control characters
included); put -- before a prompt that starts with -. The text streams to stdout;
--json prints {"tokens": [...], "text": "..."} at the end.`,
    run: (v, a, c) => cmdGenerate(v, a, c.out, c.io),
  },
  {
    name: 'chat',
    summary: 'a conversation on stdin / stdout, the state kept between turns',
    usage: 'chat --model FILE [tokenizer and sampling options] [--tokens N] [--preamble TEXT] [--json]',
    options: [
      'tokens',
      'count',
      'preamble',
      ...SAMPLING_OPTIONS,
      ...TOKENIZER_OPTIONS,
      ...MODEL_OPTIONS,
      'state-in',
      'state-in-format',
      'state-out-format',
      'json',
    ],
    optionHelp: {
      tokens: 'most tokens per reply (default 500, at most 1000000)',
      temperature: '≥ 0; 0 = greedy (argmax); default 1',
      'state-out-format': 'the format /save writes (default rwkv-js)',
    },
    notes: 'One message per line; /save FILE, /load FILE, /reset, /exit. Ctrl-C stops a reply.',
    run: (v, a, c) => cmdChat(v, a, c.out, c.err, c.io),
  },
  {
    name: 'tokenize',
    summary: 'text to token ids (JSON)',
    usage: 'tokenize (--tokenizer NAME|PATH | --vocab PATH | --model FILE) TEXT',
    options: [...TOKENIZER_OPTIONS, 'model', ...HUB, 'json'],
    notes: 'TEXT - reads stdin.',
    run: (v, a, c) => cmdTokenize(v, a, c.out, c.io),
  },
  {
    name: 'detokenize',
    summary: 'token ids to text',
    usage: 'detokenize (--tokenizer NAME|PATH | --vocab PATH | --model FILE) IDS',
    options: [...TOKENIZER_OPTIONS, 'model', ...HUB, 'json'],
    notes: 'IDS is 1,2,3 or a JSON array [1,2,3]; - reads stdin.',
    run: (v, a, c) => cmdDetokenize(v, a, c.out, c.io),
  },
  {
    name: 'perplexity',
    summary: 'loss, perplexity and bits per byte of a text, or LAMBADA accuracy',
    usage: 'perplexity --model FILE (--text FILE | --lambada FILE.jsonl) [--chunk-len N] [--json]',
    options: ['text', 'lambada', 'chunk-len', ...TOKENIZER_OPTIONS, ...MODEL_OPTIONS, 'json'],
    run: (v, a, c) => cmdPerplexity(v, a, c.out, c.io),
  },
  {
    name: 'convert',
    summary: 'a model file to another format (safetensors, rwkv.cpp .bin, GGUF, .pth)',
    usage: `convert IN OUT [--dtype f32|f16|bf16] [--format NAME] [--quantize TYPE] [--vocab FILE]
        [--initial-state FILE] [--lora FILE --lora-alpha A] [--json]`,
    options: ['dtype', 'format', 'quantize', 'vocab', 'initial-state', 'lora', 'lora-alpha', ...HUB, 'json'],
    optionHelp: {
      vocab: `GGUF output: the vocabulary to embed (default: rwkv_vocab_v20230424.txt next to
IN, or $RWKV_VOCAB; none for a 256-token byte-level model)`,
      file: 'with IN = ORG/REPO: the file in the repository',
    },
    modelArgument: 0,
    run: (v, a, c) => cmdConvert(v, a, c.out),
  },
  {
    name: 'state',
    summary: 'convert a state file between formats (rwkv state convert)',
    usage: 'state convert IN OUT --model FILE [--from FORMAT] --to FORMAT',
    options: ['model', ...HUB, 'from', 'to', 'json'],
    run: (v, a, c) => cmdState(v, a, c.out),
  },
  {
    name: 'bench',
    summary: 'decode and prefill speed of random weights in a released RWKV-7 shape',
    usage: `bench --shape 0.1B|0.4B|1.5B|L,C,V [--strategy S] [--prefill N] [--decode N]
        [--threads N] [--runs K] [--seed N] [--json]`,
    options: ['shape', 'strategy', 'prefill', 'decode', 'runs', 'threads', 'seed', 'json'],
    optionHelp: { seed: 'seed of the random weights and tokens (default 1)', strategy: 'as for every command (default auto)' },
    run: (v, a, c) => cmdBench(v, a, c.out),
  },
];

const byName = new Map(COMMANDS.map((c) => [c.name, c]));

/** `usage: rwkv NAME …`, continuation lines aligned after the command name. */
function synopsis(c: Command): string {
  const head = `usage: rwkv ${c.name} `;
  return `usage: rwkv ${c.usage}`.replace(/\n\s*/g, `\n${' '.repeat(head.length)}`);
}

/** `rwkv --help`: the commands, then what every model-loading command takes. */
export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'usage: rwkv <command> [options]          rwkv <command> --help: its usage and options',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'every command that runs a model takes:',
    ...MODEL_OPTIONS.map((o) => optionLines(o)),
    optionLines('json'),
    optionLines('version'),
  ].join('\n');
}

/** `rwkv <command> --help`. */
export function commandHelp(c: Command): string {
  return [
    synopsis(c),
    '',
    `${c.summary}.${c.notes !== undefined ? `\n${c.notes}` : ''}`,
    '',
    'options:',
    ...c.options.map((o) => optionLines(o, c.optionHelp?.[o])),
    optionLines('help'),
  ].join('\n');
}

/**
 * The package's version, from package.json found upwards of this module: the same code runs as
 * src/cli/main.ts and as dist/src/cli/main.js.
 */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'rwkv' && pkg.version !== undefined) return pkg.version;
    } catch {
      // not here: one folder up
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

/** Run the CLI; returns the exit code. Exported for tests. */
export async function main(
  argv: string[],
  out = (s: string) => console.log(s),
  err = (s: string) => console.error(s),
  io: CliIo = {},
): Promise<number> {
  let seeHelp = 'rwkv --help';
  try {
    const { values, positionals } = parse(argv);
    const [name, ...rest] = positionals;
    if (values.version) {
      out(packageVersion());
      return 0;
    }
    if (name === undefined || name === 'help') {
      const topic = name === 'help' ? rest[0] : undefined;
      if (topic !== undefined) {
        const c = byName.get(topic);
        if (c === undefined) throw new UsageError(`unknown command "${topic}" (commands: ${COMMANDS.map((x) => x.name).join(', ')})`);
        out(commandHelp(c));
      } else out(usage());
      return name === undefined && !values.help ? 2 : 0;
    }
    const command = byName.get(name);
    if (command === undefined) {
      throw new UsageError(`unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
    }
    if (values.help) {
      out(commandHelp(command));
      return 0;
    }
    seeHelp = `rwkv ${name} --help`;
    const foreign = Object.keys(values).filter((k) => !(command.options as readonly string[]).includes(k));
    if (foreign.length > 0) {
      throw new UsageError(`${name} takes no ${foreign.map((k) => `--${k}`).join(', ')}`);
    }
    await resolveHubFiles(values, rest, command.modelArgument);
    await command.run(values, rest, { out, err, io });
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof StrategyOptionError) {
      err(`rwkv: error: ${e.message} (see ${seeHelp})`);
      return 2;
    }
    if (e instanceof RwkvError) {
      err(`rwkv: error: ${e.message.replace(/\n/g, ' ')}`);
      return 1;
    }
    err(`rwkv: internal error: ${(e as Error).stack?.split('\n').slice(0, 2).join(' ') ?? String(e)}`);
    return 1;
  } finally {
    await closeModels();
  }
}
