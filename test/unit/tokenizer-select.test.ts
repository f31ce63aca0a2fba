// Choosing and loading a tokenizer: by name, by path, by the model's vocab size; where vocab files
// are looked for (explicit path, next to the model, $RWKV_VOCAB / $RWKV_TOKENIZER_20B) and the
// error that lists them; the vocab-size mismatch guard; the 20B tokenizer ("Hello world" →
// [12092, 1533]); vocabularies embedded in GGUF models.

import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGgufWriter } from '../../src/convert/gguf-write.ts';
import { MemorySink } from '../../src/io/write.ts';
import { BytesTokenizer } from '../../src/tokenizer/bytes.ts';
import { NeoxTokenizer } from '../../src/tokenizer/neox.ts';
import { loadTokenizer, unescapeRwkvToken } from '../../src/tokenizer/select.ts';
import type { Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { WorldTokenizer, parseWorldVocab } from '../../src/tokenizer/world.ts';
import { fixturePath } from '../helpers/fixtures.ts';
import { randomCheckpoint } from '../helpers/random-model.ts';
import { rejectionOf } from '../helpers/errors.ts';

const vocabPath = fixturePath('rwkv_vocab_v20230424.txt');
const neoxPath = fixturePath('tokenizers/20B_tokenizer.json');
const ggufBytePath = fixturePath('gguf/tiny-rwkv7-834K-f32.gguf');
const casesPath = fixturePath('tokenizer-world-public.json');
const cases: { text: string; tokens: number[] }[] =
  casesPath === undefined ? [] : (JSON.parse(readFileSync(casesPath, 'utf8')) as { cases: { text: string; tokens: number[] }[] }).cases;

const dir = mkdtempSync(join(tmpdir(), 'rwkv-tok-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ENV_VARS = ['RWKV_VOCAB', 'RWKV_TOKENIZER_20B'] as const;
const savedEnv: Record<string, string | undefined> = {};
beforeEach(() => {
  for (const k of ENV_VARS) {
    savedEnv[k] = process.env[k];
    delete process.env[k];
  }
});
afterEach(() => {
  for (const k of ENV_VARS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});

describe('by name and by vocab size', () => {
  it('bytes: by name and for a 256-id model', async () => {
    expect((await loadTokenizer({ tokenizer: 'bytes' })).kind).toBe('bytes');
    const t = await loadTokenizer({ vocabSize: 256 });
    expect(t).toBeInstanceOf(BytesTokenizer);
    expect(t.encode('hé')).toEqual([0x68, 0xc3, 0xa9]);
    expect(t.decode([0x68, 0xc3, 0xa9])).toBe('hé');
    expect((await rejectionOf(Promise.resolve().then(() => t.decode([256])))).code).toBe('INVALID_TOKEN');
  });

  it.skipIf(vocabPath === undefined)('world: 65536 ids, with the vocab given', async () => {
    const t = await loadTokenizer({ vocabSize: 65536, vocab: vocabPath! });
    expect(t).toBeInstanceOf(WorldTokenizer);
    expect(t.encode('Hello, world!')).toEqual([33155, 45, 40213, 34]);
  });

  it('an unknown name or vocab size, or nothing to decide with, is INVALID_ARGUMENT', async () => {
    expect((await rejectionOf(loadTokenizer({ tokenizer: 'gpt2' }))).message).toMatch(/unknown tokenizer "gpt2"/);
    expect((await rejectionOf(loadTokenizer({ vocabSize: 1000 }))).message).toMatch(/vocabulary of 1000 ids/);
    expect((await rejectionOf(loadTokenizer({}))).code).toBe('INVALID_ARGUMENT');
  });
});

describe('where the World vocabulary is looked for', () => {
  // small stand-in vocabularies, told apart by their one token
  const tiny = (name: string, token: string): string => {
    const d = mkdtempSync(join(dir, 'vocab-'));
    const p = join(d, name);
    writeFileSync(p, `1 '${token}' 1\n`);
    return p;
  };
  const only = async (t: Promise<Tokenizer>): Promise<string> => new TextDecoder().decode((await t).decodeBytes([1]));

  it('options.vocab first, then next to the model, then $RWKV_VOCAB', async () => {
    const nextTo = tiny('rwkv_vocab_v20230424.txt', 'n');
    const modelFile = join(dirname(nextTo), 'model.pth');
    const explicit = tiny('my-vocab.txt', 'x');
    process.env['RWKV_VOCAB'] = tiny('env-vocab.txt', 'e');
    expect(await only(loadTokenizer({ tokenizer: 'world', modelFile, vocab: explicit }))).toBe('x');
    expect(await only(loadTokenizer({ tokenizer: 'world', modelFile }))).toBe('n');
    expect(await only(loadTokenizer({ vocabSize: 65536, modelFile }))).toBe('n');
    expect(await only(loadTokenizer({ tokenizer: 'world', modelFile: join(dir, 'elsewhere', 'model.pth') }))).toBe('e');
    expect(await only(loadTokenizer({ tokenizer: 'world' }))).toBe('e');
    expect(await only(loadTokenizer({ tokenizer: explicit }))).toBe('x'); // a *.txt path as the tokenizer
    expect(await only(loadTokenizer({ vocab: explicit }))).toBe('x'); // vocab alone, by its extension
  });

  it('not found: FILE_NOT_FOUND listing every place looked at and where to download it', async () => {
    process.env['RWKV_VOCAB'] = join(dir, 'missing.txt');
    const e = await rejectionOf(loadTokenizer({ vocabSize: 65536, modelFile: join(dir, 'nowhere', 'm.pth') }));
    expect(e.code).toBe('FILE_NOT_FOUND');
    expect(e.message).toContain(join(dir, 'nowhere', 'rwkv_vocab_v20230424.txt'));
    expect(e.message).toContain(`${join(dir, 'missing.txt')} ($RWKV_VOCAB)`);
    expect(e.message).toContain('https://raw.githubusercontent.com/BlinkDL/ChatRWKV/main/tokenizer/rwkv_vocab_v20230424.txt');
    expect(e.message).toContain('rwkv pip package');
    delete process.env['RWKV_VOCAB'];
    const e2 = await rejectionOf(loadTokenizer({ tokenizer: 'world' }));
    expect(e2.message).toMatch(/no model file given.*\$RWKV_VOCAB \(not set\)/);
    const e3 = await rejectionOf(loadTokenizer({ tokenizer: 'world', vocab: join(dir, 'nope.txt') }));
    expect([e3.code, e3.file]).toEqual(['FILE_NOT_FOUND', join(dir, 'nope.txt')]);
  });

  it("a tokenizer whose size differs from the model's is refused unless allowed", async () => {
    const vocab = tiny('v.txt', 'a');
    const e = await rejectionOf(loadTokenizer({ tokenizer: 'world', vocab, vocabSize: 50277 }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/world tokenizer has 65536 ids but the model has a vocabulary of 50277/);
    expect(e.message).toMatch(/gibberish/);
    const forced = await loadTokenizer({ tokenizer: 'world', vocab, vocabSize: 50277, allowVocabMismatch: true });
    expect(forced.kind).toBe('world');
    expect((await rejectionOf(loadTokenizer({ tokenizer: 'bytes', vocabSize: 65536 }))).message).toMatch(/bytes tokenizer has 256 ids/);
  });
});

describe.skipIf(neoxPath === undefined)('GPT-NeoX 20B', () => {
  let neox: NeoxTokenizer;
  beforeAll(async () => {
    neox = await NeoxTokenizer.fromFile(neoxPath!);
  });

  it('loads by vocab size with $RWKV_TOKENIZER_20B, and by name next to the model', async () => {
    process.env['RWKV_TOKENIZER_20B'] = neoxPath!;
    const t = await loadTokenizer({ vocabSize: 50277 });
    expect(t).toBeInstanceOf(NeoxTokenizer);
    expect(t.vocabSize).toBe(50277);
    const modelDir = mkdtempSync(join(dir, 'pile-'));
    copyFileSync(neoxPath!, join(modelDir, '20B_tokenizer.json'));
    delete process.env['RWKV_TOKENIZER_20B'];
    expect((await loadTokenizer({ tokenizer: '20b', modelFile: join(modelDir, 'RWKV-4-Pile.pth') })).kind).toBe('20b');
    expect((await loadTokenizer({ tokenizer: neoxPath! })).kind).toBe('20b'); // *.json path
    const e = await rejectionOf(loadTokenizer({ tokenizer: '20b', modelFile: join(dir, 'x', 'm.pth') }));
    expect(e.message).toContain('https://raw.githubusercontent.com/BlinkDL/ChatRWKV/main/20B_tokenizer.json');
    expect(e.message).toContain('$RWKV_TOKENIZER_20B (not set)');
  });

  it('"Hello world" → [12092, 1533] (docs/fixtures.md "Tokenizers"), and round trips', () => {
    expect(neox.encode('Hello world')).toEqual([12092, 1533]);
    expect(neox.encode('The quick brown fox').slice(0, 4)).toEqual([510, 3158, 8516, 30013]);
    for (const s of ['Hello world', '  two  spaces ', 'a\u0000\u0001\t\n\r\n', '你好，世界 😀👍', 'x'.repeat(300), '']) {
      expect(neox.decode(neox.encode(s))).toBe(s);
    }
    expect(neox.decode(neox.encode('\ud800x'))).toBe('\ufffdx');
  });

  it('decodes per token to bytes (a split character is held back by the stream decoder), specials to nothing', () => {
    const ids = neox.encode('😀');
    expect(ids.length).toBeGreaterThan(1); // the emoji is split over byte-level tokens
    expect([...neox.decodeBytes(ids)]).toEqual([0xf0, 0x9f, 0x98, 0x80]);
    expect(neox.decode([0, 12092, 1])).toBe('Hello');
    expect(neox.decodeBytes([0, 1]).length).toBe(0);
    expect(() => neox.decode([50277])).toThrow(/50277/);
  });

  it('a 20B tokenizer for a 65536-id (World) model is refused', async () => {
    const e = await rejectionOf(loadTokenizer({ tokenizer: '20b', vocab: neoxPath!, vocabSize: 65536 }));
    expect(e.message).toMatch(/20b tokenizer has 50277 ids but the model has a vocabulary of 65536/);
  });

  it('a tokenizer.json that is not byte-level BPE is FILE_FORMAT', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ model: { type: 'WordPiece', vocab: {} } }));
    expect((await rejectionOf(loadTokenizer({ tokenizer: bad }))).code).toBe('FILE_FORMAT');
    writeFileSync(bad, '{');
    expect((await rejectionOf(loadTokenizer({ tokenizer: bad }))).code).toBe('FILE_FORMAT');
  });
});

describe('vocabularies embedded in GGUF models', () => {
  it("llama.cpp's token escaping is undone", () => {
    expect([...unescapeRwkvToken("\\t\\n\\r\\x00\\xff\\\\\\'ab")]).toEqual([9, 10, 13, 0, 0xff, 0x5c, 0x27, 0x61, 0x62]);
    expect(() => unescapeRwkvToken('\\x4')).toThrow(/bad \\x escape/);
  });

  it.skipIf(ggufBytePath === undefined)('the fixture GGUF (256-token byte vocabulary) gives the bytes tokenizer', async () => {
    const t = await loadTokenizer({ modelFile: ggufBytePath!, vocabSize: 256 });
    expect(t).toBeInstanceOf(BytesTokenizer);
  });

  it.skipIf(vocabPath === undefined || cases.length === 0)(
    'a GGUF with the World vocabulary (as llama.cpp writes it) encodes the public cases',
    async () => {
      const vocab = parseWorldVocab(readFileSync(vocabPath!, 'utf8'), vocabPath!);
      const ck = randomCheckpoint({
        version: '7',
        nLayer: 1,
        nHead: 1,
        headSize: 32,
        nFfn: 32,
        nVocab: 65536,
        ranks: { maa: 1, decay: 1, w: 2, a: 2, v: 2, g: 2, s: 1 },
        timeState: false,
        seed: 3,
      });
      const sink = new MemorySink();
      createGgufWriter({ vocab }).write(ck, sink, {});
      const file = join(dir, 'world.gguf');
      writeFileSync(file, sink.bytes());
      // no vocab file anywhere: the embedded one is used
      const t = await loadTokenizer({ modelFile: file, vocabSize: 65536 });
      expect(t.kind).toBe('world');
      expect(t.vocabSize).toBe(65536);
      for (const c of cases) {
        expect(t.encode(c.text)).toEqual(c.tokens);
        expect(t.decode(c.tokens)).toBe(c.text);
      }
      expect(t.decodeBytes([0, 65535]).length).toBe(0); // <s> and [PAD65535] are not tokens
    },
  );
});
