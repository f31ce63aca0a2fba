// ChatSession (library): the chat format, message normalisation, state kept between turns (equal
// to feeding the transcript at once), aborting a reply, reset, save/load; and the perplexity
// helpers (LAMBADA split and jsonl parsing, the empty-prefix rule).

import { describe, expect, it } from 'vitest';
import { ChatSession, formatUserTurn, normalizeMessage } from '../../src/generate/chat.ts';
import { parseLambadaJsonl, perplexity, splitLastWord } from '../../src/generate/perplexity.ts';
import { RwkvModel } from '../../src/model/model.ts';
import { BytesTokenizer } from '../../src/tokenizer/bytes.ts';
import { fixturePath } from '../helpers/fixtures.ts';
import { STATE_ORACLE_ATOL, STATE_ORACLE_RTOL, expectClose } from '../helpers/tolerance.ts';

const bytes = new BytesTokenizer();

describe('chat format', () => {
  it('normalises a message like the chat demo: CRLF, trim, newline runs', () => {
    expect(normalizeMessage('  hi\r\n\r\n\nthere \n')).toBe('hi\nthere');
    expect(normalizeMessage('a\rb')).toBe('a\nb');
    expect(normalizeMessage('keep  double  spaces')).toBe('keep  double  spaces');
    expect(formatUserTurn(' Hello\n\nworld ')).toBe('User: Hello\nworld\n\nAssistant:');
    expect(formatUserTurn('x', 'Q', 'A')).toBe('Q: x\n\nA:');
  });
});

const v7 = fixturePath('tiny-rwkv/tiny-rwkv-7v0-834K-FP32.bin');

describe.skipIf(v7 === undefined)('ChatSession on tiny v7', () => {
  const load = (() => {
    let m: Promise<RwkvModel> | undefined;
    return () => (m ??= RwkvModel.load(v7!, { backend: 'ts' }));
  })();

  it('keeps the state between turns: it equals the transcript fed at once (preamble included)', async () => {
    const model = await load();
    const chat = await ChatSession.create(model, bytes, { seed: 3, maxTokens: 20, preamble: 'A chat.\n\n' });
    const r1 = await chat.send('Hi!').result;
    const r2 = await chat.send('And then?').result;
    const expected = [
      ...bytes.encode('A chat.\n\nUser: Hi!\n\nAssistant:'),
      ...r1.tokens,
      ...(r1.stopReason === 'stopString' ? [] : [10, 10]),
      ...bytes.encode('User: And then?\n\nAssistant:'),
      ...r2.tokens,
      ...(r2.stopReason === 'stopString' ? [] : [10, 10]),
    ];
    expect(chat.transcriptTokens).toEqual(expected);
    const whole = model.createState();
    await model.forward(expected, whole);
    expectClose('chat state', await chat.state.toArray(), await whole.toArray(), STATE_ORACLE_ATOL, STATE_ORACLE_RTOL);
    chat.dispose();
  });

  it('an aborted reply is closed with "\\n\\n"; an abort during the message restores the state', async () => {
    const model = await load();
    const chat = await ChatSession.create(model, bytes, { temperature: 0, maxTokens: 30 });
    const ac = new AbortController();
    let n = 0;
    const r = await chat.send('hello', { signal: ac.signal, onToken: () => ++n === 2 && ac.abort() }).result;
    expect(r.stopReason).toBe('aborted');
    expect(r.tokens.length).toBe(2);
    expect(chat.transcriptTokens.slice(-2)).toEqual([10, 10]);
    const before = await chat.state.toArray();
    const pre = new AbortController();
    pre.abort();
    await expect(chat.send('never fed', { signal: pre.signal }).result).rejects.toMatchObject({ name: 'AbortError' });
    expect(await chat.state.toArray()).toEqual(before);
    // the session is usable afterwards
    expect((await chat.send('again').result).tokens.length).toBeGreaterThan(0);
    chat.dispose();
  });

  it('reset() goes back to the start; saveState/loadState round-trip', async () => {
    const model = await load();
    const chat = await ChatSession.create(model, bytes, { temperature: 0, maxTokens: 10 });
    const first = await chat.send('one').result;
    const saved = await chat.saveState();
    const second = await chat.send('two').result;
    chat.reset();
    expect(chat.transcriptTokens).toEqual([]);
    expect((await chat.send('one').result).tokens).toEqual(first.tokens);
    chat.loadState(saved);
    expect((await chat.send('two').result).tokens).toEqual(second.tokens);
    expect(() => chat.send('  \n ')).toThrow(/empty/);
    expect(() => chat.loadState(new Uint8Array(7))).toThrow(/format/);
    chat.dispose();
  });
});

describe('perplexity helpers', () => {
  it('splitLastWord is Python rsplit(" ", 1) with the space kept on the word', () => {
    expect(splitLastWord('the cat sat')).toEqual(['the cat', ' sat']);
    expect(splitLastWord('a  b')).toEqual(['a ', ' b']);
    expect(() => splitLastWord('word')).toThrow(/no space/);
  });

  it('parseLambadaJsonl reads {"text"} lines, skips blank ones, names a bad line', () => {
    expect(parseLambadaJsonl('{"text": "a b"}\n\n{"text": "c d", "x": 1}\n')).toEqual([{ text: 'a b' }, { text: 'c d' }]);
    expect(() => parseLambadaJsonl('{"text": "a b"}\nnot json\n', 'f.jsonl')).toThrow(/f\.jsonl: line 2/);
    expect(() => parseLambadaJsonl('\n')).toThrow(/no documents/);
  });

  it.skipIf(v7 === undefined)('with an empty prefix the first token is context only', async () => {
    const model = await RwkvModel.load(v7!, { backend: 'ts' });
    const withDoc = await perplexity(model, bytes, 'abcdef');
    const noDoc = await perplexity(model, bytes, 'abcdef', { prefix: [] });
    expect(withDoc.tokens).toBe(6);
    expect(noDoc.tokens).toBe(5);
    expect(noDoc.bytes).toBe(5);
    await expect(perplexity(model, bytes, 'a', { prefix: [] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    // a progress callback sees every token fed
    const seen: number[] = [];
    await perplexity(model, bytes, 'abcdefghij', { chunkLen: 4, onProgress: (d) => seen.push(d) });
    expect(seen).toEqual([4, 8, 10]);
  });
});
