// generate(): greedy decoding reproduces the official greedy tokens of every fixture model (docs/fixtures.md
// `greedy_tokens`: argmax of the prompt's logits, then one token at a time), seeded sampling repeats,
// chunked prompts equal unchunked ones, continuing from a result equals one long generation,
// AbortSignal / break stop it, stop strings and stop tokens, and a seeded end-to-end token list.

import { describe, expect, it } from 'vitest';
import { RwkvModel } from '../../src/model/model.ts';
import { type GeneratedPiece, generate, generateText } from '../../src/generate/generate.ts';
import { Pcg32 } from '../../src/generate/rng.ts';
import { BytesTokenizer } from '../../src/tokenizer/bytes.ts';
import { type OracleCase, fixturePath, oracleCases } from '../helpers/fixtures.ts';
import { skipIfNoCases } from '../helpers/skip.ts';
import { GENERATE_PATHS_ATOL } from '../helpers/tolerance.ts';

const bytes = new BytesTokenizer();

/** One file per oracle model (+ its state-tuning file): the fp32 .bin for tiny models, else the set's .safetensors. */
function modelFile(c: OracleCase): { set: string; file: string; extra: string[] } | undefined {
  const s = c.sets.find((x) => x.set === 'fp32') ?? c.sets.find((x) => x.set === 'bf16');
  if (s === undefined) return undefined;
  const file = s.files.find((f) => f.endsWith('.bin')) ?? s.files.find((f) => f.endsWith('.safetensors'));
  if (file === undefined) return undefined;
  return { set: s.set, file, extra: s.timeStateFiles.filter((f) => f.endsWith('.safetensors')) };
}

const cases = oracleCases();
const models = new Map<string, Promise<RwkvModel>>();
function load(path: string, extra: string[] = []): Promise<RwkvModel> {
  const key = [path, ...extra].join('|');
  let m = models.get(key);
  if (m === undefined) {
    m = RwkvModel.load(path, { backend: 'ts', extraFiles: extra });
    models.set(key, m);
  }
  return m;
}

describe('greedy generation (temperature 0) reproduces the official greedy tokens', () => {
  skipIfNoCases(cases.length, 'oracle models');
  for (const c of cases) {
    const f = modelFile(c);
    if (f === undefined) continue;
    const path = fixturePath(f.file);
    const extra = f.extra.map((e) => fixturePath(e));
    it.skipIf(path === undefined || extra.includes(undefined))(`${c.model} (${f.file.split('/').pop()})`, async () => {
      const model = await load(path!, extra as string[]);
      for (const p of c.oracle.prompts) {
        const want = p.results[f.set]!.greedy_tokens;
        // token ids in, and the same prompt as text through the byte tokenizer
        const r = await generateText(model, bytes, p.tokens, { temperature: 0, maxTokens: want.length });
        expect(r.tokens, `${c.model} ${p.name}`).toEqual(want);
        expect(r.stopReason).toBe('maxTokens');
        const viaText = await generateText(model, bytes, p.text, { temperature: 0, maxTokens: 8, chunkLen: 5 });
        expect(viaText.tokens).toEqual(want.slice(0, 8));
      }
    });
  }
});

const v7path = fixturePath('tiny-rwkv/tiny-rwkv-7v0-834K-FP32.bin');
const PROMPT = 'The small model reads bytes one by one.';

describe.skipIf(v7path === undefined)('generate on tiny v7', () => {
  const model = () => load(v7path!);

  it('seeded sampling gives the same tokens twice; another seed gives other tokens', async () => {
    const m = await model();
    const opts = { temperature: 1.2, topP: 0.95, maxTokens: 24 };
    const a = await generateText(m, bytes, PROMPT, { ...opts, seed: 7 });
    const b = await generateText(m, bytes, PROMPT, { ...opts, seed: 7 });
    const c = await generateText(m, bytes, PROMPT, { ...opts, seed: 8 });
    expect(a.tokens).toEqual(b.tokens);
    expect(a.text).toBe(b.text);
    expect(c.tokens).not.toEqual(a.tokens);
  });

  it('a seeded end-to-end run gives this exact token list (the same in Node, Deno and Bun)', async () => {
    // Pinned from one run under Node. The runner (test/runtimes/run.mjs) runs this file under
    // Node, Deno and Bun, so this value checks that all three draw the same tokens: the RNG is
    // integer-exact and the sampler works in float64 in a fixed order. A change here means a
    // runtime (or a change in the sampler / model numerics) gives other tokens.
    const r = await generateText(await model(), bytes, PROMPT, { seed: 20240601, maxTokens: 24, temperature: 1, topP: 0.9 });
    expect(r.tokens).toEqual(SEEDED_TOKENS);
  });

  it('a chunked prompt gives the same tokens as one call; the state after is the same', async () => {
    const m = await model();
    const one = await generateText(m, bytes, PROMPT, { temperature: 0, maxTokens: 6 });
    for (const chunkLen of [1, 5, 7, 1000]) {
      const r = await generateText(m, bytes, PROMPT, { temperature: 0, maxTokens: 6, chunkLen });
      expect(r.tokens).toEqual(one.tokens);
      const [a, b] = [await r.state.toArray(), await one.state.toArray()];
      let maxDiff = 0;
      for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
      expect(maxDiff).toBeLessThan(GENERATE_PATHS_ATOL);
    }
  });

  it('continuing from the returned state and logits equals one long generation (greedy and seeded)', async () => {
    const m = await model();
    const long = await generateText(m, bytes, PROMPT, { temperature: 0, maxTokens: 20 });
    const first = await generateText(m, bytes, PROMPT, { temperature: 0, maxTokens: 8 });
    const rest = await generateText(m, bytes, '', { temperature: 0, maxTokens: 12, state: first.state, logits: first.logits });
    expect([...first.tokens, ...rest.tokens]).toEqual(long.tokens);
    expect(first.text + rest.text).toBe(long.text);
    // seeded, penalties off (they are per call, as in pip): the same RNG object carries on
    const opts = { temperature: 1, topP: 1, alphaPresence: 0, alphaFrequency: 0 };
    const longS = await generateText(m, bytes, PROMPT, { ...opts, maxTokens: 20, rng: new Pcg32(5) });
    const rng = new Pcg32(5);
    const a = await generateText(m, bytes, PROMPT, { ...opts, maxTokens: 9, rng });
    const b = await generateText(m, bytes, [], { ...opts, maxTokens: 11, rng, state: a.state, logits: a.logits });
    expect([...a.tokens, ...b.tokens]).toEqual(longS.tokens);
  });

  it('the returned state is prompt + generated tokens', async () => {
    const m = await model();
    const r = await generateText(m, bytes, PROMPT, { temperature: 0, maxTokens: 5 });
    const s = m.createState();
    await m.forward([...bytes.encode(PROMPT), ...r.tokens], s);
    const [a, b] = [await r.state.toArray(), await s.toArray()];
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(GENERATE_PATHS_ATOL);
  });

  it('streams pieces whose text adds up to the result; onToken sees each piece', async () => {
    const m = await model();
    const seen: GeneratedPiece[] = [];
    const g = generate(m, bytes, PROMPT, { temperature: 0, maxTokens: 10, onToken: (p) => seen.push(p) });
    const pieces: GeneratedPiece[] = [];
    for await (const p of g) pieces.push(p);
    const r = await g.result;
    expect(pieces).toEqual(seen);
    expect(pieces.map((p) => p.token)).toEqual(r.tokens);
    expect(pieces.map((p) => p.text).join('')).toBe(r.text);
    expect(r.text).toBe(bytes.decode(r.tokens));
    // a consumer that stops pulling does not make result wait forever
    const h = generate(m, bytes, PROMPT, { temperature: 0, maxTokens: 6 });
    const it = h[Symbol.asyncIterator]();
    expect((await it.next()).value).toEqual({ token: 32, text: ' ' });
    expect((await h.result).tokens.length).toBe(6);
    // iterating after reading result is refused
    const k = generate(m, bytes, PROMPT, { temperature: 0, maxTokens: 1 });
    await k.result;
    expect(() => k[Symbol.asyncIterator]()).toThrow(/once/);
  });

  it('AbortSignal stops generation with the tokens so far; break stops it too', async () => {
    const m = await model();
    const ac = new AbortController();
    let n = 0;
    const r = await generateText(m, bytes, PROMPT, {
      temperature: 0,
      maxTokens: 50,
      signal: ac.signal,
      onToken: () => {
        if (++n === 3) ac.abort();
      },
    });
    expect(r.stopReason).toBe('aborted');
    expect(r.tokens.length).toBe(3);
    // aborted before the prompt: rejects with the signal's reason
    const pre = new AbortController();
    pre.abort();
    await expect(generateText(m, bytes, PROMPT, { signal: pre.signal })).rejects.toMatchObject({ name: 'AbortError' });
    // break out of for-await
    const g = generate(m, bytes, PROMPT, { temperature: 0, maxTokens: 50 });
    let k = 0;
    for await (const _ of g) if (++k === 4) break;
    const br = await g.result;
    expect(br.stopReason).toBe('aborted');
    expect(br.tokens.length).toBe(4);
  });

  it('a stop string ends generation and is not emitted; its tokens are in tokens', async () => {
    const m = await model();
    const free = await generateText(m, bytes, PROMPT, { temperature: 0, maxTokens: 12 });
    expect(free.text).toBe(' the the the');
    const r = await generateText(m, bytes, PROMPT, { temperature: 0, maxTokens: 12, stop: ['e th'] });
    expect(r.stopReason).toBe('stopString');
    expect(r.stopString).toBe('e th');
    expect(r.text).toBe(' th');
    expect(bytes.decode(r.tokens)).toBe(' the th');
    // the text is held back while it could be the start of a stop string
    const g = generate(m, bytes, PROMPT, { temperature: 0, maxTokens: 12, stop: ['e tx'] });
    const texts: string[] = [];
    for await (const p of g) texts.push(p.text);
    expect(texts.slice(0, 7)).toEqual([' ', 't', 'h', '', '', '', 'e th']);
    expect((await g.result).text).toBe(' the the the');
  });

  it('tokenStop ends generation without emitting or feeding the token', async () => {
    const m = await model();
    const r = await generateText(m, bytes, PROMPT, { temperature: 0, maxTokens: 12, tokenStop: [104] }); // 'h'
    expect(r.stopReason).toBe('tokenStop');
    expect(r.text).toBe(' t');
  });

  it('tokenBan and penalties change the greedy choice as specified', async () => {
    const m = await model();
    const r = await generateText(m, bytes, PROMPT, { temperature: 0, maxTokens: 4, tokenBan: [32] });
    expect(r.tokens).not.toContain(32);
    // penalties given explicitly apply to greedy runs too: a strong one breaks the " the" loop
    const p = await generateText(m, bytes, PROMPT, { temperature: 0, maxTokens: 24, alphaPresence: 3, alphaFrequency: 1 });
    expect(p.text).not.toBe(' the the the the the the');
    expect(new Set(p.tokens).size).toBeGreaterThan(4);
  });

  it('bad options are refused with a typed error before any work', async () => {
    const m = await model();
    await expect(generateText(m, bytes, PROMPT, { temperature: -1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      argument: 'temperature',
    });
    await expect(generateText(m, bytes, PROMPT, { topP: 2 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', argument: 'topP' });
    await expect(generateText(m, bytes, PROMPT, { chunkLen: 0 })).rejects.toMatchObject({ argument: 'chunkLen' });
    await expect(generateText(m, bytes, PROMPT, { stop: [''] })).rejects.toMatchObject({ argument: 'stop' });
    await expect(generateText(m, bytes, '')).rejects.toMatchObject({ argument: 'prompt' });
    await expect(generateText(m, bytes, [300])).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
  });
});

const SEEDED_TOKENS = [112, 175, 108, 132, 98, 101, 116, 12, 224, 121, 32, 50, 41, 199, 32, 65, 17, 107, 111, 14, 198, 171, 32, 204];
