// The RWKV World tokenizer: the 10 public cases of the official TRIE_TOKENIZER exactly (ids and the
// text back), the Python literal parser (str/bytes, every escape, bad lines → FILE_FORMAT with the
// line number), decodeBytes/decode edge cases, and streaming decoding that never shows U+FFFD
// while a character is split over tokens.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseRwkvVocab } from '../../src/convert/gguf-write.ts';
import { Utf8StreamDecoder } from '../../src/tokenizer/tokenizer.ts';
import { WorldTokenizer, parsePythonLiteral, parseWorldVocab } from '../../src/tokenizer/world.ts';
import { fixturePath } from '../helpers/fixtures.ts';
import { errorOf } from '../helpers/errors.ts';

interface PublicCase {
  id: string;
  text: string;
  utf8_len: number;
  tokens: number[];
}

const vocabPath = fixturePath('rwkv_vocab_v20230424.txt');
const casesPath = fixturePath('tokenizer-world-public.json');
// read and parsed once for the whole file
const vocabText = vocabPath === undefined ? '' : readFileSync(vocabPath, 'utf8');
const table = vocabPath === undefined ? [] : parseWorldVocab(vocabText, vocabPath);
const world = vocabPath === undefined ? undefined : new WorldTokenizer(table, { source: vocabPath });
const cases: PublicCase[] = casesPath === undefined ? [] : (JSON.parse(readFileSync(casesPath, 'utf8')) as { cases: PublicCase[] }).cases;

const bytesOf = (lit: string): number[] => [...parsePythonLiteral(lit)];

describe.skipIf(world === undefined || cases.length === 0)('public cases (rwkv 0.8.32 TRIE_TOKENIZER)', () => {
  it('has the 10 public cases', () => {
    expect(cases.map((c) => c.id)).toEqual([
      'hello',
      'fox',
      'zh_simple',
      'ja_mixed',
      'emoji_basic',
      'code_py',
      'crlf',
      'spaces_run',
      'long_word',
      'chat',
    ]);
  });
  for (const c of cases) {
    it(`${c.id}: encode gives the official ids, decode gives the text back`, () => {
      expect(new TextEncoder().encode(c.text).length).toBe(c.utf8_len);
      expect(world!.encode(c.text)).toEqual(c.tokens);
      expect(world!.decode(c.tokens)).toBe(c.text);
      expect(new TextDecoder().decode(world!.decodeBytes(c.tokens))).toBe(c.text);
    });
  }

  it('streaming the emoji case token by token never shows U+FFFD, and ends with the text', () => {
    const c = cases.find((x) => x.id === 'emoji_basic')!;
    // the case really splits characters: some token alone is not valid UTF-8
    expect(c.tokens.some((id) => world!.decode([id]).includes('\ufffd'))).toBe(true);
    const dec = new Utf8StreamDecoder();
    let text = '';
    for (const id of c.tokens) {
      const piece = dec.push(world!.decodeBytes([id]));
      expect(piece).not.toContain('\ufffd');
      text += piece;
    }
    text += dec.flush();
    expect(text).toBe(c.text);
  });
});

describe.skipIf(world === undefined)('the World vocabulary', () => {
  it('has ids 1..65529, 65536 ids in all, single bytes at 1..256', () => {
    expect(world!.vocabSize).toBe(65536);
    for (let b = 0; b < 256; b++) expect([...world!.tokenBytes(b + 1)]).toEqual([b]);
    expect(new TextDecoder().decode(world!.tokenBytes(65529))).toBe(' '.repeat(128));
    expect(world!.tokenBytes(65530).length).toBe(0);
  });

  it('id 0 (end of text) and the unused ids 65530..65535 decode to no bytes; other ids are INVALID_TOKEN', () => {
    expect(world!.decodeBytes([0, 65530, 65535]).length).toBe(0);
    expect(world!.decode([34, 0, 35])).toBe('!"'); // ids 34, 35 are bytes 0x21, 0x22
    for (const bad of [-1, 65536, 1.5, Number.NaN]) {
      const e = errorOf(() => world!.decodeBytes([34, bad]));
      expect(e.code).toBe('INVALID_TOKEN');
      expect(e.message).toContain(String(bad));
    }
  });

  it('encodes the empty string to no ids, and lone surrogates as U+FFFD (as TextEncoder does)', () => {
    expect(world!.encode('')).toEqual([]);
    expect(world!.decode(world!.encode('a\ud800b\udc00'))).toBe('a\ufffdb\ufffd');
    expect(world!.encode('\ud800')).toEqual(world!.encode('\ufffd'));
  });

  it('invalid UTF-8 from bytes tokens decodes with U+FFFD, encodeBytes takes any bytes', () => {
    const raw = Uint8Array.of(0xff, 0xe4, 0x41);
    const ids = world!.encodeBytes(raw);
    expect([...world!.decodeBytes(ids)]).toEqual([0xff, 0xe4, 0x41]);
    expect(world!.decode(ids)).toBe('\ufffd\ufffdA');
  });
});

describe('Python literal parser', () => {
  it('str literals → UTF-8, with every escape', () => {
    expect(bytesOf("'abc'")).toEqual([0x61, 0x62, 0x63]);
    expect(bytesOf('"it\'s"')).toEqual([...new TextEncoder().encode("it's")]);
    expect(bytesOf("'\\\\ \\' \\\" \\a\\b\\f\\n\\r\\t\\v'")).toEqual([
      0x5c, 0x20, 0x27, 0x20, 0x22, 0x20, 0x07, 0x08, 0x0c, 0x0a, 0x0d, 0x09, 0x0b,
    ]);
    expect(bytesOf("'\\x41\\xe9'")).toEqual([0x41, 0xc3, 0xa9]); // \xe9 in a str is U+00E9
    expect(bytesOf("'\\u4f60'")).toEqual([0xe4, 0xbd, 0xa0]);
    expect(bytesOf("'\\U0001F600'")).toEqual([0xf0, 0x9f, 0x98, 0x80]);
    expect(bytesOf("'你'")).toEqual([0xe4, 0xbd, 0xa0]);
    expect(bytesOf("'😀'")).toEqual([0xf0, 0x9f, 0x98, 0x80]);
    expect(bytesOf("'\\0\\12\\101\\1012'")).toEqual([0, 0x0a, 0x41, 0x41, 0x32]); // octal: at most 3 digits
    expect(bytesOf("'\\777'")).toEqual([0xc7, 0xbf]); // U+01FF
    expect(bytesOf("'\\q'")).toEqual([0x5c, 0x71]); // unknown escapes keep the backslash
    expect(bytesOf("''")).toEqual([]);
    expect(bytesOf("r'\\n'")).toEqual([0x5c, 0x6e]);
  });

  it('bytes literals → the bytes', () => {
    expect(bytesOf("b'\\xe4\\xbd'")).toEqual([0xe4, 0xbd]);
    expect(bytesOf("b'\\xff\\''")).toEqual([0xff, 0x27]);
    expect(bytesOf('b"\'"')).toEqual([0x27]);
    expect(bytesOf("b'\\377\\0'")).toEqual([0xff, 0]);
    expect(bytesOf("b'\\u4f60'")).toEqual([0x5c, 0x75, 0x34, 0x66, 0x36, 0x30]); // no \u in bytes
    expect(bytesOf("B'a'")).toEqual([0x61]);
  });

  it('rejects what Python rejects', () => {
    for (const bad of [
      "'abc",
      'abc',
      "'a'b'",
      "b'é'",
      "b'\\400'",
      "'\\x4'",
      "'\\u12'",
      "'\\U00110000'",
      "'\\ud800'",
      "x'a'",
      "'a\\'",
      "'''a'''",
      "'\\N{DIGIT ONE}'",
    ]) {
      expect(() => parsePythonLiteral(bad), bad).toThrow();
    }
    expect(() => parsePythonLiteral("'a\ud800'")).toThrow(/surrogate U\+D800/); // a lone surrogate character
  });

  it.skipIf(vocabPath === undefined)("reads the whole World file as the GGUF writer's separate parser does", () => {
    const mine = table;
    const theirs = parseRwkvVocab(vocabText, vocabPath!);
    expect(mine.length).toBe(65530);
    expect(theirs.length).toBe(mine.length);
    for (let id = 0; id < mine.length; id++) {
      if (mine[id] === undefined || theirs[id] === undefined) expect([id, mine[id]]).toEqual([id, theirs[id]]);
      else if (!Buffer.from(mine[id]!).equals(Buffer.from(theirs[id]!))) expect([id, [...mine[id]!]]).toEqual([id, [...theirs[id]!]]);
    }
  });
});

describe('vocabulary file lines', () => {
  it('reads ids, holes and both kinds of literal, with CRLF line ends', () => {
    const t = parseWorldVocab("1 'a' 1\r\n3 b'\\xe4' 1\r\n4 ' ' 1\n5 '\\u00e9 x' 4\n\n");
    expect(t.length).toBe(6);
    expect(t[0]).toBeUndefined();
    expect(t[2]).toBeUndefined();
    expect([...t[1]!, ...t[3]!, ...t[4]!]).toEqual([0x61, 0xe4, 0x20]);
    expect([...t[5]!]).toEqual([0xc3, 0xa9, 0x20, 0x78]);
  });

  it('a bad line is FILE_FORMAT naming the file and the line number', () => {
    const cases: [string, RegExp][] = [
      ["1 'a' 1\n2 'bc' 3\n", /line 2: the literal is 2 bytes, the line says 3/],
      ["1 'a' 1\n\n3 'abc 3\n", /line 3: the literal does not end/],
      ["x 'a' 1\n", /line 1: the id/],
      ["1 'a' one\n", /line 1: the byte length/],
      ["1 'a'\n", /line 1: expected three/],
      ["1 'a' 1\n1 'b' 1\n", /line 2: the id 1 appears twice/],
      ["1 b'\\x4' 1\n", /line 1: a truncated \\x escape/],
      ["1 '' 0\n", /line 1: an empty token/],
    ];
    for (const [text, re] of cases) {
      const e = errorOf(() => parseWorldVocab(text, 'my_vocab.txt'));
      expect(e.code).toBe('FILE_FORMAT');
      expect(e.file).toBe('my_vocab.txt');
      expect(e.message).toMatch(/^my_vocab\.txt: /);
      expect(e.message).toMatch(re);
    }
  });
});

describe('a tokenizer from a small table', () => {
  // every byte, plus "ab", "abc", "bcd" and "abcde": greedy longest match, not the best split
  const table: (Uint8Array | undefined)[] = [undefined];
  for (let b = 0; b < 256; b++) table.push(Uint8Array.of(b));
  const enc = (s: string) => new TextEncoder().encode(s);
  table.push(enc('ab'), enc('abc'), enc('bcd'), enc('abcde'));
  const tok = new WorldTokenizer(table, { vocabSize: 300 });
  const byte = (c: string) => c.charCodeAt(0) + 1;

  it('takes the longest token at each position, left to right', () => {
    expect(tok.encode('abcd')).toEqual([258, byte('d')]); // "abc"+"d", although "a"+"bcd" exists
    expect(tok.encode('abcde')).toEqual([260]);
    expect(tok.encode('abcdx')).toEqual([258, byte('d'), byte('x')]); // backs off from the dead end "abcd"
    expect(tok.encode('xab')).toEqual([byte('x'), 257]);
    expect(tok.encode('bcdab')).toEqual([259, 257]);
    expect(tok.vocabSize).toBe(300);
    expect(tok.decode(tok.encode('zabcdeab'))).toBe('zabcdeab');
  });

  it('a table without every byte cannot encode text it has no token for', () => {
    const partial = new WorldTokenizer([undefined, enc('a')], { vocabSize: 2 });
    expect(partial.encode('aa')).toEqual([1, 1]);
    const e = errorOf(() => partial.encode('ab'));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/byte 0x62 at offset 1/);
  });
});
