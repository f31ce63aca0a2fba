// The RWKV World tokenizer (rwkv_vocab_v20230424.txt), as the official `TRIE_TOKENIZER` of the
// `rwkv` pip package computes it (rwkv_tokenizer.py: vocab lines L55-62, trie L35-47, encode
// L72-81, decode L83-93):
//
//   encode(text) = greedy longest match of token bytes over UTF-8(text), left to right
//   decode(ids)  = concatenation of the tokens' bytes
//
// Every single byte is a token (ids 1..256 are bytes 0x00..0xff), so encoding never fails.
// Choices where the official code raises or is silent:
// - id 0 is end-of-text; it is not in the file and decodes to no bytes (pip raises a KeyError).
//   So is every other id below vocabSize that has no token (65530..65535 in the World vocab).
// - Lone UTF-16 surrogates in the text are encoded as U+FFFD (EF BF BD), as TextEncoder does;
//   so decode(encode(s)) === s.toWellFormed() (Python would raise UnicodeEncodeError).
// - Two ids with the same bytes (not in the World vocab; possible in a GGUF table) → the lower id.

import { RwkvError } from '../errors.ts';
import type { Tokenizer } from './tokenizer.ts';

/** The model vocabulary size of RWKV World models (ids 0..65535; the file holds 1..65529). */
export const WORLD_VOCAB_SIZE = 65536;
/** The vocabulary file's name, as BlinkDL publishes it. */
export const WORLD_VOCAB_FILE = 'rwkv_vocab_v20230424.txt';
/** End-of-text id: not in the file, decodes to no bytes. */
export const END_OF_TEXT = 0;

// ---------------------------------------------------------------------------------------------
// The vocabulary file: `<id> <Python str or bytes literal> <byte length>` per line

/**
 * Parse rwkv_vocab_v20230424.txt into token bytes by id (holes are undefined). Each literal is read
 * with Python's rules (prefixes b/r/u, quotes ' or ", escapes \\ \' \" \a \b \f \n \r \t \v \ooo
 * \xhh, and in str literals \uXXXX \UXXXXXXXX; an unknown escape keeps its backslash, as in Python).
 * A str literal stands for its UTF-8 bytes. A bad line, a duplicate id or a byte length that
 * disagrees with the literal throws RwkvError FILE_FORMAT naming `file` and the line number.
 */
export function parseWorldVocab(text: string, file = WORLD_VOCAB_FILE): (Uint8Array | undefined)[] {
  const out: (Uint8Array | undefined)[] = [];
  const lines = text.split('\n');
  for (let ln = 0; ln < lines.length; ln++) {
    let line = lines[ln]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') continue;
    const bad = (why: string): RwkvError =>
      new RwkvError('FILE_FORMAT', `line ${ln + 1}: ${why}`, {
        file,
        expected: '"<id> <Python str or bytes literal> <byte length>"',
        actual: JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line),
      });
    const first = line.indexOf(' ');
    const last = line.lastIndexOf(' ');
    if (first <= 0 || last <= first + 1) throw bad('expected three space-separated fields');
    const idText = line.slice(0, first);
    const lenText = line.slice(last + 1);
    if (!/^[0-9]+$/.test(idText)) throw bad(`the id ${JSON.stringify(idText)} is not a non-negative integer`);
    if (!/^[0-9]+$/.test(lenText)) throw bad(`the byte length ${JSON.stringify(lenText)} is not a non-negative integer`);
    const id = Number(idText);
    const len = Number(lenText);
    if (id >= MAX_IDS) throw bad(`the id ${id} is too large (at most ${MAX_IDS - 1})`);
    let bytes: Uint8Array;
    try {
      bytes = parsePythonLiteral(line.slice(first + 1, last));
    } catch (e) {
      if (e instanceof LiteralError) throw bad(e.message);
      throw e;
    }
    if (bytes.length !== len) throw bad(`the literal is ${bytes.length} bytes, the line says ${len}`);
    if (bytes.length === 0) throw bad('an empty token');
    if (out[id] !== undefined) throw bad(`the id ${id} appears twice`);
    out[id] = bytes;
  }
  return out;
}

/** ids are kept below 2^24 so that trie nodes and ids fit the typed arrays below. */
const MAX_IDS = 1 << 24;

class LiteralError extends Error {}

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = {
  '\\': 0x5c,
  "'": 0x27,
  '"': 0x22,
  a: 0x07,
  b: 0x08,
  f: 0x0c,
  n: 0x0a,
  r: 0x0d,
  t: 0x09,
  v: 0x0b,
};
const HEX_DIGITS = { x: 2, u: 4, U: 8 } as const;
const UTF8 = new TextEncoder();
const isOctal = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '7';
const isHex = (s: string): boolean => /^[0-9a-fA-F]+$/.test(s);

/**
 * One Python string or bytes literal (a single-line one: no triple quotes) → its bytes (a str
 * literal → UTF-8). Throws LiteralError on anything Python would reject, on \N{...} (names are not
 * supported) and on surrogate code points (a str that has no UTF-8 encoding).
 */
export function parsePythonLiteral(lit: string): Uint8Array {
  const m = /^([bBrRuU]{0,2})(['"])/.exec(lit);
  if (m === null) throw new LiteralError('not a Python string literal (no opening quote)');
  const prefix = m[1]!.toLowerCase();
  if (!['', 'b', 'r', 'u', 'br', 'rb'].includes(prefix)) throw new LiteralError(`unknown literal prefix ${m[1]}`);
  const isBytes = prefix.includes('b');
  const raw = prefix.includes('r');
  const q = m[2]!;
  const start = m[0].length;
  if (lit.length < start + 1 || lit[lit.length - 1] !== q) throw new LiteralError('the literal does not end with its quote');
  if (lit.length >= start + 5 && lit.startsWith(q.repeat(3), start - 1)) {
    throw new LiteralError('triple-quoted literals are not supported');
  }
  const body = lit.slice(start, -1);
  // fast path (most lines): no escapes, no quote inside, no surrogates (a lone one must throw below)
  if (!body.includes('\\') && !body.includes(q) && !/[\ud800-\udfff]/.test(body)) {
    if (!isBytes) return UTF8.encode(body);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range, control bytes included, on purpose
    if (/^[\x00-\x7f]*$/.test(body)) return Uint8Array.from(body, (c) => c.charCodeAt(0));
  }
  const out: number[] = [];
  const pushCodePoint = (cp: number): void => {
    if (isBytes) {
      if (cp > 0xff) throw new LiteralError(`byte value ${cp} out of range in a bytes literal`);
      out.push(cp);
    } else {
      pushUtf8(out, cp);
    }
  };
  for (let i = 0; i < body.length; i++) {
    const cp = body.codePointAt(i)!;
    if (cp > 0xffff) i++;
    if (cp === q.charCodeAt(0)) throw new LiteralError(`an unescaped ${q} inside the literal`);
    if (cp !== 0x5c) {
      if (isBytes && cp > 0x7f) throw new LiteralError('a non-ASCII character in a bytes literal');
      pushCodePoint(cp);
      continue;
    }
    // a backslash
    const e = body[i + 1];
    if (e === undefined) throw new LiteralError('the literal ends with a lone backslash');
    if (raw) {
      // raw literals keep the backslash; it only stops a following quote from ending the literal
      pushCodePoint(0x5c);
      pushCodePoint(body.codePointAt(i + 1)!);
      i += body.codePointAt(i + 1)! > 0xffff ? 2 : 1;
      continue;
    }
    i++;
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      pushCodePoint(simple);
    } else if (isOctal(e)) {
      // \o, \oo or \ooo
      let n = 0;
      let k = 0;
      while (k < 3 && isOctal(body[i + k])) n = n * 8 + (body.charCodeAt(i + k++) - 0x30);
      i += k - 1;
      if (isBytes && n > 0xff) throw new LiteralError(`octal escape \\${n.toString(8)} is above 0o377 in a bytes literal`);
      pushCodePoint(n);
    } else if (e === 'x' || (!isBytes && (e === 'u' || e === 'U'))) {
      const n = HEX_DIGITS[e];
      const hex = body.slice(i + 1, i + 1 + n);
      if (hex.length !== n || !isHex(hex)) throw new LiteralError(`a truncated \\${e} escape (needs ${n} hex digits)`);
      const v = parseInt(hex, 16);
      if (v > 0x10ffff) throw new LiteralError(`\\${e}${hex} is beyond U+10FFFF`);
      i += n;
      pushCodePoint(v);
    } else if (e === 'N' && !isBytes) {
      throw new LiteralError('\\N{...} named escapes are not supported');
    } else if (e === '\n') {
      // a backslash-newline continues the literal (cannot happen on one line; kept for completeness)
    } else {
      // Python keeps an unknown escape as written (with a warning)
      pushCodePoint(0x5c);
      pushCodePoint(body.codePointAt(i)!);
      if (body.codePointAt(i)! > 0xffff) i++;
    }
  }
  return Uint8Array.from(out);
}

function pushUtf8(out: number[], cp: number): void {
  if (cp >= 0xd800 && cp <= 0xdfff) {
    throw new LiteralError(`the surrogate U+${cp.toString(16).toUpperCase()} has no UTF-8 encoding`);
  }
  if (cp < 0x80) out.push(cp);
  else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
}

// ---------------------------------------------------------------------------------------------
// The byte trie
//
// Nodes are numbered from 0 (the root). The children of the root are a dense table (256 entries),
// as are the children of the root's children (256 × 256), because almost every token starts there.
// Deeper edges live in one open-addressing hash table keyed by (node << 8 | byte). `tokenOf[node]`
// is the id + 1 of the token ending at the node (0 = none), so no allocation happens per byte.

const EMPTY = -1;

class ByteTrie {
  private readonly level1 = new Int32Array(256).fill(EMPTY); // byte → node
  private level2 = new Int32Array(0); // (level-1 index << 8 | byte) → node
  private level1Index = new Int32Array(0); // node → its index among level-1 nodes, or -1
  private keys = new Int32Array(0);
  private vals = new Int32Array(0);
  private mask = 0;
  tokenOf = new Int32Array(0);
  private nodes = 1;

  constructor(table: readonly (Uint8Array | undefined)[]) {
    let totalBytes = 0;
    for (const t of table) if (t !== undefined) totalBytes += t.length;
    const maxNodes = totalBytes + 1;
    // edge keys are (node << 8 | byte) in an Int32Array
    if (maxNodes >= 1 << 23) throw new RwkvError('INVALID_ARGUMENT', `the token table is too large (${totalBytes} bytes of tokens)`);
    this.tokenOf = new Int32Array(maxNodes);
    this.level1Index = new Int32Array(maxNodes).fill(EMPTY);
    this.level2 = new Int32Array(256 * 256).fill(EMPTY);
    let cap = 1024;
    while (cap < 2 * maxNodes) cap *= 2;
    this.keys = new Int32Array(cap).fill(EMPTY);
    this.vals = new Int32Array(cap);
    this.mask = cap - 1;
    // level-1 nodes get indexes 0..255 in byte order
    for (let id = 0; id < table.length; id++) {
      const t = table[id];
      if (t === undefined || t.length === 0) continue;
      let node = 0;
      for (let d = 0; d < t.length; d++) node = this.childOrAdd(node, d, t[d]!);
      // the lower id wins when two ids have the same bytes
      if (this.tokenOf[node] === 0) this.tokenOf[node] = id + 1;
    }
  }

  private childOrAdd(node: number, depth: number, b: number): number {
    if (depth === 0) {
      let c = this.level1[b]!;
      if (c === EMPTY) {
        c = this.nodes++;
        this.level1[b] = c;
        this.level1Index[c] = b;
      }
      return c;
    }
    if (depth === 1) {
      const k = (this.level1Index[node]! << 8) | b;
      let c = this.level2[k]!;
      if (c === EMPTY) {
        c = this.nodes++;
        this.level2[k] = c;
      }
      return c;
    }
    const key = (node << 8) | b;
    let h = hash(key) & this.mask;
    for (;;) {
      const k = this.keys[h]!;
      if (k === key) return this.vals[h]!;
      if (k === EMPTY) {
        const c = this.nodes++;
        this.keys[h] = key;
        this.vals[h] = c;
        return c;
      }
      h = (h + 1) & this.mask;
    }
  }

  /**
   * Greedy longest match (TRIE_TOKENIZER.find_longest) of src from `start`, for each position in
   * turn; ids are appended to `out`. Every single byte must be a token: a byte that is not throws.
   */
  encodeInto(src: Uint8Array, out: number[]): void {
    const { level1, level2, level1Index, keys, vals, mask, tokenOf } = this;
    const n = src.length;
    let i = 0;
    while (i < n) {
      // depth 1
      const n1 = level1[src[i]!]!;
      let bestId = n1 === EMPTY ? 0 : tokenOf[n1]!;
      let bestEnd = i + 1;
      if (n1 !== EMPTY && i + 1 < n) {
        // depth 2
        let node = level2[(level1Index[n1]! << 8) | src[i + 1]!]!;
        let j = i + 2;
        while (node !== EMPTY) {
          const t = tokenOf[node]!;
          if (t !== 0) {
            bestId = t;
            bestEnd = j;
          }
          if (j >= n) break;
          // depth ≥ 3: the hash table
          const key = (node << 8) | src[j]!;
          let h = hash(key) & mask;
          let next = EMPTY;
          for (;;) {
            const k = keys[h]!;
            if (k === key) {
              next = vals[h]!;
              break;
            }
            if (k === EMPTY) break;
            h = (h + 1) & mask;
          }
          node = next;
          j++;
        }
      }
      if (bestId === 0) {
        throw new RwkvError('INVALID_ARGUMENT', `byte 0x${src[i]!.toString(16).padStart(2, '0')} at offset ${i} has no token`, {
          argument: 'text',
          hint: 'this tokenizer table does not hold every single byte, so it cannot encode arbitrary text',
        });
      }
      out.push(bestId - 1);
      i = bestEnd;
    }
  }
}

/** A cheap integer mix (Murmur3 finaliser) for the edge hash table. */
function hash(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return x ^ (x >>> 16);
}

// ---------------------------------------------------------------------------------------------

export interface WorldTokenizerOptions {
  /** Number of ids (default: WORLD_VOCAB_SIZE, or the table's length if larger). */
  vocabSize?: number;
  /** Where the table came from, for error messages. */
  source?: string;
}

export class WorldTokenizer implements Tokenizer {
  readonly kind = 'world' as const;
  readonly vocabSize: number;
  /** The file or model the table came from. */
  readonly source: string;
  private readonly trie: ByteTrie;
  /** token bytes of id i: data[offsets[i] .. offsets[i + 1]) (empty for holes and id 0) */
  private readonly data: Uint8Array;
  private readonly offsets: Int32Array;
  private readonly encoder = new TextEncoder();

  /** From an id → bytes table (holes = undefined), e.g. `parseWorldVocab` or a GGUF vocabulary. */
  constructor(table: readonly (Uint8Array | undefined)[], options: WorldTokenizerOptions = {}) {
    this.source = options.source ?? '(table)';
    this.vocabSize = options.vocabSize ?? Math.max(WORLD_VOCAB_SIZE, table.length);
    if (table.length > this.vocabSize) {
      throw new RwkvError('INVALID_ARGUMENT', `the token table has ${table.length} ids, more than the vocabulary size`, {
        file: this.source,
        argument: 'vocabSize',
        expected: `at least ${table.length}`,
        actual: String(this.vocabSize),
      });
    }
    if (table.length > MAX_IDS) throw new RwkvError('INVALID_ARGUMENT', 'the token table is too large', { file: this.source });
    this.offsets = new Int32Array(this.vocabSize + 1);
    let total = 0;
    for (let id = 0; id < this.vocabSize; id++) {
      this.offsets[id] = total;
      total += table[id]?.length ?? 0;
    }
    this.offsets[this.vocabSize] = total;
    this.data = new Uint8Array(total);
    for (let id = 0; id < table.length; id++) {
      const t = table[id];
      if (t !== undefined) this.data.set(t, this.offsets[id]!);
    }
    this.trie = new ByteTrie(table);
  }

  /** Reads and parses a rwkv_vocab_v20230424.txt-style file. */
  static fromFileText(text: string, file: string, vocabSize = WORLD_VOCAB_SIZE): WorldTokenizer {
    return new WorldTokenizer(parseWorldVocab(text, file), { vocabSize, source: file });
  }

  encode(text: string): number[] {
    return this.encodeBytes(this.encoder.encode(text));
  }

  /** UTF-8 (or any) bytes → ids, greedy longest match. */
  encodeBytes(bytes: Uint8Array): number[] {
    const out: number[] = [];
    this.trie.encodeInto(bytes, out);
    return out;
  }

  /** The bytes of one token (a view: do not modify); id 0 and holes give no bytes. */
  tokenBytes(id: number): Uint8Array {
    this.check(id);
    return this.data.subarray(this.offsets[id]!, this.offsets[id + 1]!);
  }

  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      this.check(id);
      total += this.offsets[id + 1]! - this.offsets[id]!;
    }
    const out = new Uint8Array(total);
    let p = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const a = this.offsets[id]!;
      const b = this.offsets[id + 1]!;
      out.set(this.data.subarray(a, b), p);
      p += b - a;
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(this.decodeBytes(ids));
  }

  private check(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new RwkvError('INVALID_TOKEN', `token id ${id} is outside the vocabulary`, {
        file: this.source,
        expected: `an integer in [0, ${this.vocabSize})`,
        actual: String(id),
      });
    }
  }
}
