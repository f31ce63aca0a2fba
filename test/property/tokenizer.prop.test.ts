// Properties of the World and byte tokenizers: decode(encode(s)) === s for any Unicode string
// (control characters, long runs of one character, astral planes), lone surrogates → U+FFFD
// deliberately (=== s.toWellFormed()), streaming token by token gives the same text without ever
// showing U+FFFD, and the trie encoder equals a naive greedy longest match written here.

import { readFileSync } from 'node:fs';
import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import { BytesTokenizer } from '../../src/tokenizer/bytes.ts';
import { Utf8StreamDecoder } from '../../src/tokenizer/tokenizer.ts';
import { WorldTokenizer, parseWorldVocab } from '../../src/tokenizer/world.ts';
import { fixturePath } from '../helpers/fixtures.ts';

const vocabPath = fixturePath('rwkv_vocab_v20230424.txt');
// loaded once for the whole file
const table = vocabPath === undefined ? [] : parseWorldVocab(readFileSync(vocabPath, 'utf8'), vocabPath);
const world = vocabPath === undefined ? undefined : new WorldTokenizer(table, { source: vocabPath });
const bytesTok = new BytesTokenizer();

/** ES2024 String.prototype.toWellFormed (Node 20, Deno and Bun have it; the TS lib here is ES2022). */
const toWellFormed = (s: string): string => (s as unknown as { toWellFormed(): string }).toWellFormed();

const controlChar = fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c));
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
/** Text: any code point, many control characters and spaces, some long runs of one character. */
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: fc.oneof(fc.constantFrom(' ', '\n', '\r\n', '\t', 'a', '你', '😀', 'é', 'e\u0301'), controlChar), maxLength: 200 }),
  fc
    .tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 2 }), fc.integer({ min: 1, max: 600 }), fc.string({ maxLength: 5 }))
    .map(([c, n, tail]) => c.repeat(n) + tail),
);
const withSurrogates = fc.string({
  unit: fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), loneSurrogate),
  maxLength: 100,
});

describe.skipIf(world === undefined)('World tokenizer', () => {
  test.prop([text])('decode(encode(s)) === s', (s) => {
    expect(world!.decode(world!.encode(s))).toBe(s);
  });

  test.prop([withSurrogates])('lone surrogates become U+FFFD: decode(encode(s)) === s.toWellFormed()', (s) => {
    expect(world!.decode(world!.encode(s))).toBe(toWellFormed(s));
  });

  test.prop([text])('streaming token by token gives s and never a U+FFFD that s lacks', (s) => {
    const dec = new Utf8StreamDecoder();
    let out = '';
    for (const id of world!.encode(s)) {
      const piece = dec.push(world!.decodeBytes([id]));
      if (!s.includes('\ufffd')) expect(piece).not.toContain('\ufffd');
      out += piece;
    }
    out += dec.flush();
    expect(out).toBe(s);
  });

  // An independent greedy longest match: at each position try every length from the longest
  // token down, looking token bytes up in a Map keyed by their latin-1 string.
  const byKey = new Map<string, number>();
  let maxLen = 0;
  table.forEach((b, id) => {
    if (b === undefined) return;
    byKey.set(String.fromCharCode(...b), id);
    maxLen = Math.max(maxLen, b.length);
  });
  function naiveEncode(bytes: Uint8Array): number[] {
    const key = String.fromCharCode(...bytes);
    const out: number[] = [];
    let i = 0;
    while (i < key.length) {
      for (let len = Math.min(maxLen, key.length - i); len >= 1; len--) {
        const id = byKey.get(key.slice(i, i + len));
        if (id !== undefined) {
          out.push(id);
          i += len;
          break;
        }
      }
    }
    return out;
  }
  // byte strings made of whole tokens (so long matches happen), raw bytes and partial tokens
  const someToken = fc.integer({ min: 1, max: 65529 }).map((id) => table[id]!);
  const piece = fc.oneof(
    someToken,
    someToken.map((b) => b.subarray(0, Math.max(1, b.length - 1))),
    fc.uint8Array({ minLength: 1, maxLength: 4 }),
  );
  const byteString = fc.array(piece, { maxLength: 40 }).map((parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  });

  test.prop([byteString])('the trie encoder equals a naive greedy longest match on any bytes', (bytes) => {
    const ids = world!.encodeBytes(bytes);
    expect(ids).toEqual(naiveEncode(bytes));
    expect([...world!.decodeBytes(ids)]).toEqual([...bytes]);
  });
});

describe('bytes tokenizer', () => {
  test.prop([text])('decode(encode(s)) === s, one id per UTF-8 byte', (s) => {
    const ids = bytesTok.encode(s);
    expect(ids.length).toBe(new TextEncoder().encode(s).length);
    expect(bytesTok.decode(ids)).toBe(s);
  });

  test.prop([withSurrogates])('lone surrogates become U+FFFD', (s) => {
    expect(bytesTok.decode(bytesTok.encode(s))).toBe(toWellFormed(s));
  });
});
