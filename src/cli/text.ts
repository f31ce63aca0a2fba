// The text commands of the `rwkv` CLI: generate, chat, tokenize, detokenize, perplexity.
//
//   rwkv generate --model FILE [--tokenizer world|20b|bytes|PATH] [--vocab PATH] [--tokens N]
//                 [--temperature T] [--top-p P] [--top-k K] [--alpha-frequency A] [--alpha-presence A]
//                 [--alpha-decay D] [--ban ID,...] [--stop ID,...] [--stop-text S]... [--seed N]
//                 [--chunk-len N] [--state-in F] [--state-out F] [--json] PROMPT
//       PROMPT `-` reads stdin; `--prompt-tokens 1,2,3` gives the prompt as ids instead.
//       The text streams to stdout; --json prints {"tokens": [...], "text": "..."} at the end.
//   rwkv chat --model FILE [tokenizer and sampling options] [--tokens N per reply] [--json]
//       lines from stdin; /save F, /load F, /reset, /exit; Ctrl-C stops the current reply.
//   rwkv tokenize --tokenizer NAME|PATH [--vocab PATH] [--model FILE] TEXT     → JSON ids
//   rwkv detokenize --tokenizer NAME|PATH [--vocab PATH] [--model FILE] IDS    → text
//   rwkv perplexity --model FILE (--text FILE | --lambada FILE.jsonl) [--chunk-len N] [--json]

import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { RwkvError } from '../errors.ts';
import { ChatSession, CHAT_DEFAULTS, normalizeMessage } from '../generate/chat.ts';
import { DEFAULT_MAX_TOKENS, type GenerateOptions, type GeneratedPiece, generate } from '../generate/generate.ts';
import { lambada, parseLambadaJsonl, perplexity } from '../generate/perplexity.ts';
import { loadCheckpoint } from '../io/load.ts';
import { writeFileAtomic } from '../io/write.ts';
import { detectConfig } from '../model/config.ts';
import { loadTokenizer } from '../tokenizer/index.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { progressBar } from '../util/progress.ts';
import {
  type CliIo,
  UsageError,
  type Values,
  loadModel,
  numberOption,
  parseTokens,
  positiveInt,
  readStateBytes,
  saveState,
  startState,
  stateFormat,
  tokenCount,
} from './options.ts';

// ---------- option parsing ----------

function idList(v: Values, name: 'ban' | 'stop'): number[] | undefined {
  const s = v[name];
  if (s === undefined) return undefined;
  const parts = s.split(',').map((p) => p.trim());
  if (parts.some((p) => !/^\d+$/.test(p))) throw new UsageError(`--${name} must be comma-separated token ids, got "${s}"`);
  return parts.map(Number);
}

/**
 * Sampling, penalty and stop options shared by generate and chat (undefined = the command's
 * default), each checked here against the range the sampler accepts (src/generate/sampler.ts),
 * so that a bad value is a usage error naming the option as typed.
 */
function samplingOptions(v: Values): GenerateOptions {
  const o: GenerateOptions = {};
  const set = <K extends keyof GenerateOptions>(k: K, x: GenerateOptions[K] | undefined) => {
    if (x !== undefined) o[k] = x;
  };
  set('temperature', numberOption(v, 'temperature', { min: 0, what: 'a number ≥ 0 (0 = greedy)' }));
  set('topP', numberOption(v, 'top-p', { min: 0, max: 1, what: 'a number in [0, 1]' }));
  set('topK', numberOption(v, 'top-k', { min: 0, integer: true, what: 'an integer ≥ 0 (0 = off)' }));
  set('alphaFrequency', numberOption(v, 'alpha-frequency'));
  set('alphaPresence', numberOption(v, 'alpha-presence'));
  set('alphaDecay', numberOption(v, 'alpha-decay', { min: 0, what: 'a number ≥ 0 (1 = no decay)' }));
  set('tokenBan', idList(v, 'ban'));
  set('tokenStop', idList(v, 'stop'));
  if (v['stop-text'] !== undefined) {
    if (v['stop-text'].some((s) => s === '')) throw new UsageError('--stop-text must not be empty');
    o.stop = v['stop-text'];
  }
  if (v.seed !== undefined) {
    if (!/^\d+$/.test(v.seed) || !Number.isSafeInteger(Number(v.seed)))
      throw new UsageError(`--seed must be a non-negative integer, got "${v.seed}"`);
    o.seed = Number(v.seed);
  }
  if (v['chunk-len'] !== undefined) o.chunkLen = positiveInt('chunk-len', v['chunk-len'], 1);
  return o;
}

async function readStdin(io: CliIo): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of io.stdin ?? process.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

async function readTextFile(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new RwkvError('FILE_NOT_FOUND', `cannot read the ${what} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { file });
  }
}

/** The tokenizer: --tokenizer / --vocab, else chosen from the model (vocab size, files next to it). */
/** --tokenizer: a name or a *.txt / *.json path (checked before any model is loaded). */
function checkTokenizerOption(v: Values): void {
  const t = v.tokenizer;
  if (t !== undefined && !['world', '20b', 'bytes'].includes(t) && !/\.(txt|json)$/i.test(t)) {
    throw new UsageError(
      `--tokenizer must be world, 20b, bytes or the path of a *.txt World vocabulary or *.json tokenizer.json, got "${t}"`,
    );
  }
}

function tokenizerFor(v: Values, model?: { file?: string; vocabSize?: number }): Promise<Tokenizer> {
  checkTokenizerOption(v);
  return loadTokenizer({
    ...(v.tokenizer !== undefined ? { tokenizer: v.tokenizer } : {}),
    ...(v.vocab !== undefined ? { vocab: v.vocab } : {}),
    ...(model?.file !== undefined ? { modelFile: model.file } : {}),
    ...(model?.vocabSize !== undefined ? { vocabSize: model.vocabSize } : {}),
    ...(v['force-tokenizer'] ? { allowVocabMismatch: true } : {}),
  });
}

/** Stand-in for an id-only `generate` (--prompt-tokens) when no tokenizer can be loaded: no text. */
const NO_TEXT: Tokenizer = {
  kind: 'bytes',
  vocabSize: 0,
  encode: () => {
    throw new UsageError('no tokenizer: give the prompt as token ids, or --tokenizer / --vocab');
  },
  decodeBytes: () => new Uint8Array(0),
  decode: () => '',
};

// ---------- generate ----------

export async function cmdGenerate(v: Values, args: string[], out: (s: string) => void, io: CliIo): Promise<void> {
  if (args.length > 1) throw new UsageError(`generate takes one PROMPT (quote it), got ${args.length} arguments`);
  const promptArg = args[0];
  if (promptArg !== undefined && v['prompt-tokens'] !== undefined) throw new UsageError('give PROMPT or --prompt-tokens, not both');
  if (promptArg === undefined && v['prompt-tokens'] === undefined) {
    throw new UsageError(
      /^\d+(,\d+)+$/.test(v.tokens ?? '')
        ? 'generate needs a PROMPT; --tokens N is the number of tokens to generate (prompt ids: --prompt-tokens LIST)'
        : 'generate needs a PROMPT (text, or - for stdin) or --prompt-tokens LIST',
    );
  }
  const n = v.tokens !== undefined ? tokenCount('tokens', v.tokens, DEFAULT_MAX_TOKENS) : undefined;
  const m = v.count !== undefined ? tokenCount('count', v.count, DEFAULT_MAX_TOKENS) : undefined;
  if (n !== undefined && m !== undefined && n !== m) throw new UsageError('--tokens and -n both give the number of tokens; give one');
  const count = n ?? m ?? DEFAULT_MAX_TOKENS;
  let promptIds: number[] | undefined;
  let promptText: string | undefined;
  if (v['prompt-tokens'] !== undefined) promptIds = parseTokens(v['prompt-tokens'], 'prompt-tokens');
  else promptText = promptArg === '-' ? await readStdin(io) : promptArg;
  const options = samplingOptions(v);
  checkTokenizerOption(v);
  const model = await loadModel(v);
  let tokenizer: Tokenizer;
  try {
    tokenizer = await tokenizerFor(v, { file: model.source.file, vocabSize: model.config.nVocab });
  } catch (e) {
    // the id-only forms need no tokenizer unless text is asked for
    const textNeeded = promptText !== undefined || options.stop !== undefined || v.tokenizer !== undefined || v.vocab !== undefined;
    if (textNeeded || !(e instanceof RwkvError)) throw e;
    tokenizer = NO_TEXT;
  }
  const idsOut = tokenizer === NO_TEXT;
  const state = await startState(model, v);
  const bar = progressBar('prompt');
  const write = io.write ?? ((s: string) => void process.stdout.write(s));
  const stream = !v.json && !idsOut;
  const g = generate(model, tokenizer, promptIds ?? promptText!, {
    ...options,
    maxTokens: count,
    state,
    onPromptProgress: (done, total) => {
      if (total > (options.chunkLen ?? 256)) bar.update(done, total, `${done}/${total} prompt tokens`);
      if (done === total) bar.done();
    },
    ...(stream ? { onToken: (p: GeneratedPiece) => p.text !== '' && write(p.text) } : {}),
  });
  const r = await g.result;
  bar.done();
  await saveState(model, r.state, v);
  if (v.json) out(JSON.stringify(tokenizer === NO_TEXT ? { tokens: r.tokens } : { tokens: r.tokens, text: r.text }));
  else if (idsOut) out(r.tokens.join(','));
  else if (process.stdout.isTTY && io.write === undefined) write('\n');
}

// ---------- chat ----------

const CHAT_HELP = 'commands: /save FILE, /load FILE, /reset, /exit (Ctrl-C stops a reply, Ctrl-D ends)';

export async function cmdChat(v: Values, args: string[], out: (s: string) => void, err: (s: string) => void, io: CliIo): Promise<void> {
  if (args.length > 0) throw new UsageError(`chat takes no arguments (messages come from stdin), got "${args[0]}"`);
  const options = samplingOptions(v);
  checkTokenizerOption(v);
  const maxTokens =
    v.tokens !== undefined || v.count !== undefined
      ? tokenCount(v.tokens !== undefined ? 'tokens' : 'count', v.tokens ?? v.count, CHAT_DEFAULTS.maxTokens)
      : undefined;
  const inFormat = stateFormat(v['state-in-format'], 'state-in-format');
  const outFormat = stateFormat(v['state-out-format'], 'state-out-format') ?? 'rwkv-js';
  const model = await loadModel(v);
  const tokenizer = await tokenizerFor(v, { file: model.source.file, vocabSize: model.config.nVocab });
  const initialState = await startState(model, v);
  const session = await ChatSession.create(model, tokenizer, {
    ...options,
    ...(maxTokens !== undefined ? { maxTokens } : {}),
    ...(v.preamble !== undefined ? { preamble: v.preamble } : {}),
    initialState,
  });
  initialState.dispose();
  const input = (io.stdin ?? process.stdin) as Readable & { isTTY?: boolean };
  const tty = io.stdin === undefined && process.stdin.isTTY === true && process.stdout.isTTY === true;
  const write = io.write ?? ((s: string) => void process.stdout.write(s));
  const rl = createInterface({ input, ...(tty ? { output: process.stdout, terminal: true } : { terminal: false }) });
  let reply: AbortController | undefined;
  let interruptedAtPrompt = false;
  const onInterrupt = () => {
    if (reply !== undefined) {
      reply.abort();
      return;
    }
    if (!tty || interruptedAtPrompt) {
      rl.close();
      return;
    }
    interruptedAtPrompt = true;
    write('\n(Ctrl-C again, Ctrl-D or /exit to quit)\n');
    rl.prompt();
  };
  rl.on('SIGINT', onInterrupt); // a terminal: readline reports Ctrl-C
  process.on('SIGINT', onInterrupt); // piped input: the signal itself
  try {
    if (tty) {
      write(`RWKV-${model.config.version} chat, ${tokenizer.kind} tokenizer. ${CHAT_HELP}\n`);
      rl.setPrompt(`${'User'}: `);
      rl.prompt();
    }
    for await (const raw of rl) {
      interruptedAtPrompt = false;
      const line = raw.trim();
      const [cmd, ...rest] = line.split(/\s+/);
      const arg = rest.join(' ');
      if (line === '') {
        // nothing to say
      } else if (cmd === '/exit' || cmd === '/quit') {
        break;
      } else if (cmd === '/reset') {
        session.reset();
        if (!v.json) err('(conversation reset)');
      } else if (cmd === '/save' || cmd === '/load') {
        if (arg === '') {
          err(`rwkv: ${cmd} needs a file name`);
        } else if (cmd === '/save') {
          const bytes = await session.saveState(outFormat);
          writeFileAtomic(arg, (sink) => sink.write(bytes));
          if (!v.json) err(`(state saved to ${arg})`);
        } else {
          try {
            session.loadState(await readStateBytes(arg), inFormat, arg);
            if (!v.json) err(`(state loaded from ${arg})`);
          } catch (e) {
            if (!(e instanceof RwkvError)) throw e;
            err(`rwkv: ${e.message}`); // a bad file does not end the chat
          }
        }
      } else if (cmd === '/help') {
        err(CHAT_HELP);
      } else if (cmd!.startsWith('/') && !cmd!.startsWith('//')) {
        err(`rwkv: unknown command ${cmd} (${CHAT_HELP}; start a message with // to send a literal /)`);
      } else {
        const message = line.startsWith('//') ? line.slice(1) : line;
        reply = new AbortController();
        if (!v.json) write('Assistant:');
        try {
          const g = session.send(message, {
            signal: reply.signal,
            ...(v.json ? {} : { onToken: (p: GeneratedPiece) => p.text !== '' && write(p.text) }),
          });
          const r = await g.result;
          if (v.json) out(JSON.stringify({ user: normalizeMessage(message), reply: r.text, tokens: r.tokens, stop: r.stopReason }));
          else write(r.stopReason === 'aborted' ? ' [stopped]\n\n' : '\n\n');
        } catch (e) {
          if ((e as Error).name !== 'AbortError') throw e;
          if (!v.json) write(' [stopped]\n\n'); // stopped while reading the message: the state is as before it
        } finally {
          reply = undefined;
        }
      }
      if (tty) rl.prompt();
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    rl.close();
    session.dispose();
  }
}

// ---------- tokenize / detokenize ----------

async function tokenizerFromOptions(v: Values): Promise<Tokenizer> {
  if (v.model !== undefined && v.tokenizer === undefined && v.vocab === undefined) {
    const { checkpoint } = await loadCheckpoint(v.model);
    return tokenizerFor(v, { file: v.model, vocabSize: detectConfig(checkpoint, v.model).nVocab });
  }
  if (v.tokenizer === undefined && v.vocab === undefined)
    throw new UsageError('give --tokenizer world|20b|bytes|PATH, --vocab PATH or --model FILE');
  return tokenizerFor(v, v.model !== undefined ? { file: v.model } : undefined);
}

export async function cmdTokenize(v: Values, args: string[], out: (s: string) => void, io: CliIo): Promise<void> {
  if (args.length !== 1) throw new UsageError('tokenize takes one TEXT argument (quote it; - reads stdin)');
  const text = args[0] === '-' ? await readStdin(io) : args[0]!;
  const tokenizer = await tokenizerFromOptions(v);
  out(JSON.stringify(tokenizer.encode(text)));
}

export async function cmdDetokenize(v: Values, args: string[], out: (s: string) => void, io: CliIo): Promise<void> {
  if (args.length !== 1) throw new UsageError('detokenize takes one IDS argument: 1,2,3 or [1,2,3] (- reads stdin)');
  const text = (args[0] === '-' ? await readStdin(io) : args[0]!).trim();
  let ids: unknown;
  if (text.startsWith('[')) {
    try {
      ids = JSON.parse(text);
    } catch {
      throw new UsageError(`IDS is not a JSON array: ${text.slice(0, 40)}`);
    }
  } else {
    ids = text === '' ? [] : text.split(',').map((p) => (/^\s*\d+\s*$/.test(p) ? Number(p) : Number.NaN));
  }
  if (!Array.isArray(ids) || ids.some((x) => !Number.isInteger(x) || x < 0)) {
    throw new UsageError(`IDS must be token ids (1,2,3 or [1,2,3]), got "${text.slice(0, 40)}"`);
  }
  const tokenizer = await tokenizerFromOptions(v);
  const decoded = tokenizer.decode(ids as number[]);
  if (v.json) out(JSON.stringify({ text: decoded }));
  else if (io.write !== undefined) io.write(decoded);
  else {
    process.stdout.write(decoded);
    if (process.stdout.isTTY) process.stdout.write('\n');
  }
}

// ---------- perplexity ----------

export async function cmdPerplexity(v: Values, args: string[], out: (s: string) => void, io: CliIo): Promise<void> {
  if (args.length > 0) throw new UsageError(`perplexity takes no arguments, got "${args[0]}"`);
  if ((v.text === undefined) === (v.lambada === undefined))
    throw new UsageError('perplexity needs --text FILE (or -) or --lambada FILE.jsonl (one of them)');
  const chunkLen = v['chunk-len'] !== undefined ? positiveInt('chunk-len', v['chunk-len'], 1) : undefined;
  const content =
    v.text === '-' ? await readStdin(io) : await readTextFile((v.text ?? v.lambada)!, v.text !== undefined ? 'text file' : 'LAMBADA file');
  const docs = v.lambada !== undefined ? parseLambadaJsonl(content, v.lambada) : undefined;
  checkTokenizerOption(v);
  const model = await loadModel(v);
  const tokenizer = await tokenizerFor(v, { file: model.source.file, vocabSize: model.config.nVocab });
  const bar = progressBar(docs ? 'lambada' : 'perplexity');
  try {
    if (docs) {
      const r = await lambada(model, tokenizer, docs, {
        ...(chunkLen !== undefined ? { chunkLen } : {}),
        onProgress: (d, n) => bar.update(d, n, `${d}/${n} documents`),
      });
      bar.done();
      if (v.json)
        out(
          JSON.stringify({
            documents: r.documents,
            perplexity: r.perplexity,
            accuracy: r.accuracy,
            correct: r.correct,
            log_likelihood: r.logLikelihood,
          }),
        );
      else
        out(
          `LAMBADA: ${r.documents} documents, ppl ${r.perplexity.toFixed(4)}, acc ${(r.accuracy * 100).toFixed(2)}% (${r.correct}/${r.documents})`,
        );
    } else {
      const r = await perplexity(model, tokenizer, content, {
        ...(chunkLen !== undefined ? { chunkLen } : {}),
        onProgress: (d, n) => bar.update(d, n, `${d}/${n} tokens`),
      });
      bar.done();
      if (v.json)
        out(JSON.stringify({ tokens: r.tokens, bytes: r.bytes, loss: r.loss, perplexity: r.perplexity, bits_per_byte: r.bitsPerByte }));
      else
        out(
          `${r.tokens} tokens, ${r.bytes} bytes: loss ${r.loss.toFixed(6)} nats/token, perplexity ${r.perplexity.toFixed(4)}, ${r.bitsPerByte.toFixed(6)} bits/byte`,
        );
    }
  } finally {
    bar.done();
  }
}
