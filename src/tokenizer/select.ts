// Choosing and loading the tokenizer for a model. The 20B tokenizer's library is imported only when
// a 20B tokenizer is loaded (neox.ts imports it dynamically).
//
// What to load (first that applies):
//   1. options.tokenizer: 'world' | '20b' | 'bytes', or a path (*.txt → World vocab, *.json → HF
//      tokenizer.json);
//   2. options.vocab by its extension (*.txt → World, *.json → 20B);
//   3. a .gguf model file that embeds a vocabulary (tokenizer.ggml.model = "rwkv");
//   4. the model's vocab size: 65536 → World, 50277 → 20B, 256 → bytes.
// Where the file is (World; 20B the same with its own names):
//   options.vocab → the GGUF model's embedded vocabulary → rwkv_vocab_v20230424.txt next to the
//   model file → $RWKV_VOCAB (20B: $RWKV_TOKENIZER_20B). Nothing found → RwkvError FILE_NOT_FOUND
//   listing every place looked at and where to download the file.
// A tokenizer whose vocab size differs from options.vocabSize is refused (a 20B tokenizer on a World
// model gives gibberish: RWKV/rwkv.cpp issue #123), unless options.allowVocabMismatch is true.

import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RwkvError } from '../errors.ts';
import { readGgufMetadata } from '../io/gguf.ts';
import { BYTES_VOCAB_SIZE, BytesTokenizer } from './bytes.ts';
import { NEOX_TOKENIZER_FILE, NEOX_VOCAB_SIZE, NeoxTokenizer } from './neox.ts';
import type { Tokenizer, TokenizerKind } from './tokenizer.ts';
import { WORLD_VOCAB_FILE, WORLD_VOCAB_SIZE, WorldTokenizer } from './world.ts';

/** Environment variables naming the vocabulary files when no path is given. */
export const WORLD_VOCAB_ENV = 'RWKV_VOCAB';
export const NEOX_TOKENIZER_ENV = 'RWKV_TOKENIZER_20B';

// The raw files: a github.com/…/blob/… address is an HTML page about the file, not the file.
export const WORLD_VOCAB_URLS: readonly string[] = [
  'https://raw.githubusercontent.com/BlinkDL/ChatRWKV/main/tokenizer/rwkv_vocab_v20230424.txt',
  'the rwkv pip package (rwkv/rwkv_vocab_v20230424.txt)',
];
export const NEOX_TOKENIZER_URLS: readonly string[] = ['https://raw.githubusercontent.com/BlinkDL/ChatRWKV/main/20B_tokenizer.json'];

export interface TokenizerOptions {
  /** a name, or a path: *.txt → World vocab, *.json → HF tokenizer.json */
  tokenizer?: 'world' | '20b' | 'bytes' | string;
  /** explicit vocab/tokenizer file for 'world' / '20b' */
  vocab?: string;
  /** the model's path: vocab files are looked for next to it (and a .gguf's embedded vocabulary) */
  modelFile?: string;
  /** the model's vocab size: 65536 → world, 50277 → 20b, 256 → bytes */
  vocabSize?: number;
  /** use the tokenizer even when its vocab size differs from `vocabSize` (default false) */
  allowVocabMismatch?: boolean;
}

/** The vocab size → tokenizer family table used when nothing else decides. */
export const TOKENIZER_BY_VOCAB_SIZE: Readonly<Record<number, TokenizerKind>> = {
  [WORLD_VOCAB_SIZE]: 'world',
  [NEOX_VOCAB_SIZE]: '20b',
  [BYTES_VOCAB_SIZE]: 'bytes',
};

export async function loadTokenizer(options: TokenizerOptions): Promise<Tokenizer> {
  const tok = await pickTokenizer(options);
  const want = options.vocabSize;
  if (want !== undefined && tok.vocabSize !== want && options.allowVocabMismatch !== true) {
    throw new RwkvError(
      'INVALID_ARGUMENT',
      `the ${tok.kind} tokenizer has ${tok.vocabSize} ids but the model has a vocabulary of ${want}`,
      {
        argument: 'tokenizer',
        expected: `a tokenizer of ${want} ids${TOKENIZER_BY_VOCAB_SIZE[want] ? ` (${TOKENIZER_BY_VOCAB_SIZE[want]})` : ''}`,
        actual: `${tok.kind}, ${tok.vocabSize} ids`,
        hint: 'a tokenizer that does not belong to the model gives gibberish; set allowVocabMismatch (CLI: --force-tokenizer) to use it anyway',
      },
    );
  }
  return tok;
}

async function pickTokenizer(o: TokenizerOptions): Promise<Tokenizer> {
  const name = o.tokenizer;
  if (name !== undefined) {
    if (name === 'bytes') return new BytesTokenizer();
    if (name === 'world') return loadWorld(o);
    if (name === '20b') return loadNeox(o);
    if (/\.txt$/i.test(name)) return worldFromFile(name);
    if (/\.json$/i.test(name)) return neoxFromFile(name);
    throw new RwkvError('INVALID_ARGUMENT', `unknown tokenizer ${JSON.stringify(name)}`, {
      argument: 'tokenizer',
      expected: '"world", "20b", "bytes", or a path to a *.txt World vocabulary or a *.json tokenizer.json',
      actual: name,
    });
  }
  if (o.vocab !== undefined) {
    if (/\.txt$/i.test(o.vocab)) return worldFromFile(o.vocab);
    if (/\.json$/i.test(o.vocab)) return neoxFromFile(o.vocab);
    // a folder: refused here, whatever the model (checkVocabFile names the file to give)
    if (existsSync(o.vocab) && statSync(o.vocab).isDirectory()) checkVocabFile(o.vocab, 'vocabulary', WORLD_VOCAB_FILE, WORLD_VOCAB_URLS);
  }
  const embedded = ggufTokenizer(o.modelFile);
  if (embedded !== undefined) return embedded;
  const kind = o.vocabSize === undefined ? undefined : TOKENIZER_BY_VOCAB_SIZE[o.vocabSize];
  if (kind === 'world') return loadWorld(o);
  if (kind === '20b') return loadNeox(o);
  if (kind === 'bytes') return new BytesTokenizer();
  throw new RwkvError(
    'INVALID_ARGUMENT',
    o.vocabSize === undefined
      ? 'cannot choose a tokenizer: no tokenizer, vocab file or model vocab size given'
      : `cannot choose a tokenizer for a vocabulary of ${o.vocabSize} ids`,
    {
      argument: 'tokenizer',
      expected: `a tokenizer name or path, or a vocab size of ${Object.keys(TOKENIZER_BY_VOCAB_SIZE).join(', ')}`,
      ...(o.vocabSize === undefined ? {} : { actual: String(o.vocabSize) }),
    },
  );
}

// ---------------------------------------------------------------------------------------------

async function loadWorld(o: TokenizerOptions): Promise<Tokenizer> {
  if (o.vocab !== undefined) return worldFromFile(o.vocab);
  const embedded = ggufTokenizer(o.modelFile);
  if (embedded?.kind === 'world') return embedded;
  return worldFromFile(findFile('World vocabulary', WORLD_VOCAB_FILE, WORLD_VOCAB_ENV, WORLD_VOCAB_URLS, o.modelFile));
}

async function loadNeox(o: TokenizerOptions): Promise<Tokenizer> {
  if (o.vocab !== undefined) return neoxFromFile(o.vocab);
  return neoxFromFile(findFile('20B tokenizer', NEOX_TOKENIZER_FILE, NEOX_TOKENIZER_ENV, NEOX_TOKENIZER_URLS, o.modelFile));
}

function worldFromFile(file: string): WorldTokenizer {
  checkVocabFile(file, 'World vocabulary', WORLD_VOCAB_FILE, WORLD_VOCAB_URLS);
  return WorldTokenizer.fromFileText(readFileSync(file, 'utf8'), file);
}

async function neoxFromFile(file: string): Promise<Tokenizer> {
  checkVocabFile(file, '20B tokenizer', NEOX_TOKENIZER_FILE, NEOX_TOKENIZER_URLS);
  return NeoxTokenizer.fromFile(file);
}

/**
 * A vocabulary path that is missing, a directory, or an HTML page (a GitHub `blob/` address
 * saved from a browser is the page about the file, not the file) is refused with what to do.
 */
function checkVocabFile(file: string, what: string, fileName: string, urls: readonly string[]): void {
  if (!existsSync(file)) throw new RwkvError('FILE_NOT_FOUND', `no such ${what} file`, { file, hint: download(urls) });
  if (statSync(file).isDirectory()) {
    const inside = join(file, fileName);
    throw new RwkvError('INVALID_ARGUMENT', `the ${what} path is a directory; give the file itself`, {
      file,
      argument: 'vocab',
      expected: `a file such as ${existsSync(inside) ? inside : fileName}`,
      hint: existsSync(inside) ? `pass ${inside}` : download(urls),
    });
  }
  const fd = openSync(file, 'r');
  const head = new Uint8Array(512);
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const start = new TextDecoder()
    .decode(head.subarray(0, n))
    .replace(/^\uFEFF/, '')
    .trimStart()
    .toLowerCase();
  if (start.startsWith('<!doctype html') || start.startsWith('<html') || start.startsWith('<head')) {
    throw new RwkvError('FILE_FORMAT', `this is an HTML page, not the ${what}`, {
      file,
      expected: fileName,
      hint: `a github.com …/blob/… link saved from a browser is the page about the file; download the raw file: ${urls[0]}`,
    });
  }
}

/**
 * Where the World vocabulary is when no path is given: next to the model file, then
 * $RWKV_VOCAB. `looked` lists every place tried (for the message when nothing is found).
 */
export function findWorldVocab(modelFile: string | undefined): { file?: string; looked: string[] } {
  return lookFor(WORLD_VOCAB_FILE, WORLD_VOCAB_ENV, modelFile);
}

function lookFor(fileName: string, envVar: string, modelFile: string | undefined): { file?: string; looked: string[] } {
  const looked: string[] = [];
  if (modelFile !== undefined) {
    const p = join(dirname(modelFile), fileName);
    if (existsSync(p)) return { file: p, looked };
    looked.push(`${p} (next to the model)`);
  } else {
    looked.push('next to the model (no model file given)');
  }
  const env = globalThis.process?.env?.[envVar];
  if (env !== undefined && env !== '') {
    if (existsSync(env)) return { file: env, looked };
    looked.push(`${env} ($${envVar})`);
  } else {
    looked.push(`$${envVar} (not set)`);
  }
  return { looked };
}

/** The file next to the model, then the environment variable; else an error naming both. */
function findFile(what: string, fileName: string, envVar: string, urls: readonly string[], modelFile: string | undefined): string {
  const { file, looked } = lookFor(fileName, envVar, modelFile);
  if (file !== undefined) return file;
  throw new RwkvError('FILE_NOT_FOUND', `${what} ${fileName} not found; looked at: ${looked.join('; ')}`, {
    file: fileName,
    hint: `${download(urls)}, then pass its path (vocab / --vocab), put it next to the model, or set $${envVar}`,
  });
}

const download = (urls: readonly string[]): string => `download it from ${urls.join(' or ')}`;

// ---------------------------------------------------------------------------------------------
// A vocabulary embedded in a GGUF model (llama.cpp's converter: tokenizer.ggml.model = "rwkv",
// tokenizer.ggml.tokens = Python bytes reprs without the b'', token_type 3 = control (<s> at id 0),
// 5 = unused ([PAD<id>] padding)).

const GGUF_SKIPPED_TOKEN_TYPES = new Set([3, 5]);

/** The tokenizer a .gguf model embeds, or undefined when it is not a .gguf or embeds none. */
export function ggufTokenizer(modelFile: string | undefined): Tokenizer | undefined {
  if (modelFile === undefined || !/\.gguf$/i.test(modelFile) || !existsSync(modelFile)) return undefined;
  const meta = readGgufMetadata(modelFile).metadata;
  if (meta.get('tokenizer.ggml.model')?.value !== 'rwkv') return undefined;
  const tokens = meta.get('tokenizer.ggml.tokens')?.value;
  if (!Array.isArray(tokens)) return undefined;
  const types = meta.get('tokenizer.ggml.token_type')?.value;
  const table: (Uint8Array | undefined)[] = [];
  for (let id = 0; id < tokens.length; id++) {
    const t = tokens[id];
    const type = Array.isArray(types) ? types[id] : undefined;
    if (typeof type === 'number' && GGUF_SKIPPED_TOKEN_TYPES.has(type)) continue;
    if (typeof t !== 'string') {
      throw new RwkvError('FILE_FORMAT', `tokenizer.ggml.tokens[${id}] is not a string`, { file: modelFile });
    }
    table[id] = unescapeRwkvToken(t, modelFile, id);
  }
  const identity = tokens.length === BYTES_VOCAB_SIZE && table.every((b, i) => b !== undefined && b.length === 1 && b[0] === i);
  if (identity) return new BytesTokenizer();
  return new WorldTokenizer(table, { vocabSize: tokens.length, source: `${modelFile} (embedded vocabulary)` });
}

/**
 * llama.cpp `llama_unescape_rwkv_token`: `\t \n \r \xhh` are escapes, a backslash before any other
 * character stands for that character, everything else is its UTF-8 bytes.
 */
export function unescapeRwkvToken(text: string, file = '(gguf)', id = -1): Uint8Array {
  const src = new TextEncoder().encode(text);
  const out = new Uint8Array(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c !== 0x5c) {
      out[n++] = c;
      continue;
    }
    const e = src[++i];
    if (e === undefined)
      throw new RwkvError('FILE_FORMAT', `token ${id} ends with a lone backslash`, { file, actual: JSON.stringify(text) });
    if (e === 0x74)
      out[n++] = 0x09; // t
    else if (e === 0x6e)
      out[n++] = 0x0a; // n
    else if (e === 0x72)
      out[n++] = 0x0d; // r
    else if (e === 0x78) {
      // x
      const hex = String.fromCharCode(src[i + 1] ?? 0, src[i + 2] ?? 0);
      if (!/^[0-9a-fA-F]{2}$/.test(hex))
        throw new RwkvError('FILE_FORMAT', `token ${id} has a bad \\x escape`, { file, actual: JSON.stringify(text) });
      out[n++] = parseInt(hex, 16);
      i += 2;
    } else out[n++] = e;
  }
  return out.slice(0, n);
}
