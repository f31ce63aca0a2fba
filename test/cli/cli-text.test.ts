// The text commands of the CLI, driven in-process through main(argv, out, err, io) with stdin and
// stdout replaced: generate (greedy = the official greedy tokens, PROMPT from stdin with control
// characters, streaming, stop text, seeds), tokenize / detokenize, perplexity and LAMBADA (checked
// against a direct computation in this file), and a scripted chat whose saved state equals the
// state of feeding the whole transcript at once.

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli as run } from '../helpers/cli.ts';
import { decodeStateFile } from '../../src/state/state-interop.ts';
import { RwkvModel } from '../../src/model/model.ts';
import { fixturePath, readOracle } from '../helpers/fixtures.ts';
import { describeWithFixtures } from '../helpers/skip.ts';
import {
  F64_DIGITS,
  PERPLEXITY_DIGITS,
  PERPLEXITY_LOSS_DIGITS,
  STATE_ORACLE_ATOL,
  STATE_ORACLE_RTOL,
  expectClose,
} from '../helpers/tolerance.ts';

const utf8 = (s: string) => Array.from(new TextEncoder().encode(s));

const v7 = fixturePath('tiny-rwkv/tiny-rwkv-7v0-834K-FP32.bin');
const v7oracle = readOracle('oracle/tiny-rwkv-7v0-834K.json');
const tmp = mkdtempSync(join(tmpdir(), 'rwkv-cli-text-'));

let modelPromise: Promise<RwkvModel> | undefined;
const model = () => (modelPromise ??= RwkvModel.load(v7!, { backend: 'ts' }));

/** log-softmax in float64, written out here (independent of src/generate/perplexity.ts). */
function logSoftmaxAt(row: ArrayLike<number>, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]!);
  let z = 0;
  for (let i = 0; i < row.length; i++) z += Math.exp(row[i]! - max);
  return row[target]! - max - Math.log(z);
}

describeWithFixtures(v7 !== undefined && v7oracle !== undefined, 'rwkv generate (text)', () => {
  const sentence = v7oracle!.prompts.find((p) => p.name === 'sentence')!;
  const greedy = sentence.results['fp32']!.greedy_tokens;

  it('--temperature 0 --json reproduces the official greedy tokens from a text PROMPT', async () => {
    const r = await run(['generate', '--model', v7!, '--temperature', '0', '--tokens', '32', '--json', sentence.text]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { tokens: number[]; text: string };
    expect(j.tokens).toEqual(greedy);
    expect(j.text).toBe(Buffer.from(greedy).toString('utf8'));
    // the same with --prompt-tokens, -n as the count, and a small --chunk-len
    const ids = await run([
      'generate',
      '--model',
      v7!,
      '--temperature',
      '0',
      '-n',
      '32',
      '--chunk-len',
      '4',
      '--json',
      '--prompt-tokens',
      sentence.tokens.join(','),
    ]);
    expect(JSON.parse(ids.out).tokens).toEqual(greedy);
  });

  it('streams the text to stdout (no --json)', async () => {
    const r = await run(['generate', '--model', v7!, '--temperature', '0', '--tokens', '32', sentence.text]);
    expect(r.code).toBe(0);
    expect(r.out).toBe('');
    expect(r.text).toBe(Buffer.from(greedy).toString('utf8'));
  });

  it('PROMPT - reads stdin, control characters and all', async () => {
    const prompt = 'tab\there\r\nNUL\x00 bell\x07 esc\x1b[0m é\n';
    const viaStdin = await run(['generate', '--model', v7!, '--temperature', '0', '--tokens', '12', '--json', '-'], prompt);
    expect(viaStdin.code).toBe(0);
    const viaIds = await run([
      'generate',
      '--model',
      v7!,
      '--temperature',
      '0',
      '--tokens',
      '12',
      '--json',
      '--prompt-tokens',
      utf8(prompt).join(','),
    ]);
    expect(JSON.parse(viaStdin.out)).toEqual(JSON.parse(viaIds.out));
    // and the prompt really was used: a different prompt gives other logits, so compare with the library
    const m = await model();
    const s = m.createState();
    const { logits } = await m.forward(utf8(prompt), s);
    let best = 0;
    for (let i = 1; i < 256; i++) if ((logits as Float32Array)[i]! > (logits as Float32Array)[best]!) best = i;
    expect(JSON.parse(viaStdin.out).tokens[0]).toBe(best);
  });

  it('--stop-text ends the text before the stop string; --stop ends at a token id', async () => {
    const r = await run([
      'generate',
      '--model',
      v7!,
      '--temperature',
      '0',
      '--tokens',
      '32',
      '--stop-text',
      'e th',
      '--json',
      sentence.text,
    ]);
    const j = JSON.parse(r.out) as { tokens: number[]; text: string };
    expect(j.text).toBe(' th');
    expect(j.tokens).toEqual(greedy.slice(0, 7)); // ' the th': the tokens that completed the stop string
    expect(j.tokens.length).toBe(7);
    const t = await run(['generate', '--model', v7!, '--temperature', '0', '--tokens', '32', '--stop', '101', '--json', sentence.text]);
    expect(JSON.parse(t.out)).toEqual({ tokens: greedy.slice(0, 3), text: ' th' });
  });

  it('--seed gives the same sampled text twice; --state-out then --state-in continues the text', async () => {
    const args = ['generate', '--model', v7!, '--tokens', '16', '--seed', '11', '--temperature', '0.8', '--top-k', '20', '--json', 'Hello'];
    const a = await run(args);
    const b = await run(args);
    expect(a.code).toBe(0);
    expect(a.out).toBe(b.out);
    const stateFile = join(tmp, 'gen.state');
    const first = await run([
      'generate',
      '--model',
      v7!,
      '--temperature',
      '0',
      '--tokens',
      '8',
      '--state-out',
      stateFile,
      '--json',
      sentence.text,
    ]);
    expect(JSON.parse(first.out).tokens).toEqual(greedy.slice(0, 8));
    // the saved state holds prompt + the 8 tokens: feeding the 9th greedy token continues the run
    const next = await run([
      'generate',
      '--model',
      v7!,
      '--temperature',
      '0',
      '--tokens',
      '8',
      '--state-in',
      stateFile,
      '--json',
      '--prompt-tokens',
      String(greedy[8]),
    ]);
    expect(JSON.parse(next.out).tokens).toEqual(greedy.slice(9, 17));
  });

  it('--tokens is the count only: a list of ids there (the removed older form) points at --prompt-tokens', async () => {
    const r = await run(['generate', '--model', v7!, '--tokens', sentence.tokens.join(','), '-n', '5']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--prompt-tokens LIST/);
    expect(r.out).toBe('');
  });

  it('bad arguments: one line, exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['generate', '--model', v7!], /PROMPT/],
      [['generate', '--model', v7!, '--temperature', 'hot', 'x'], /--temperature/],
      [['generate', '--model', v7!, '--top-k', '1.5', 'x'], /--top-k/],
      [['generate', '--model', v7!, '--ban', 'a,b', 'x'], /--ban/],
      [['generate', '--model', v7!, '--tokens', '4', '-n', '5', 'x'], /one/],
      [['generate', '--model', v7!, 'one', 'two'], /one PROMPT/],
      [['generate', '--model', v7!, '--seed', '-3', 'x'], /--seed/],
    ];
    for (const [args, pattern] of cases) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(pattern);
      expect(r.err.split('\n').length).toBe(1);
    }
    // negative numbers, with or without =: the range in CLI words, not parseArgs' "ambiguous"
    for (const args of [['--temperature=-1'], ['--temperature', '-1']]) {
      const bad = await run(['generate', '--model', v7!, ...args, 'x']);
      expect(bad.code).toBe(2);
      expect(bad.err).toContain('--temperature must be a number ≥ 0 (0 = greedy), got -1');
      expect(bad.err).not.toMatch(/ambiguous/);
    }
  });
});

describe('rwkv tokenize / detokenize', () => {
  it('bytes tokenizer: text → ids → text, from arguments and stdin', async () => {
    const t = await run(['tokenize', '--tokenizer', 'bytes', 'héllo\n']);
    expect(t.code).toBe(0);
    expect(JSON.parse(t.out)).toEqual(utf8('héllo\n'));
    const s = await run(['tokenize', '--tokenizer', 'bytes', '-'], 'a\x00b');
    expect(JSON.parse(s.out)).toEqual([97, 0, 98]);
    const d1 = await run(['detokenize', '--tokenizer', 'bytes', '104,195,169']);
    expect(d1.text).toBe('hé');
    const d2 = await run(['detokenize', '--tokenizer', 'bytes', '[104, 195, 169]']);
    expect(d2.text).toBe('hé');
    const d3 = await run(['detokenize', '--tokenizer', 'bytes', '-'], '[0, 10]\n');
    expect(d3.text).toBe('\x00\n');
    const j = await run(['detokenize', '--tokenizer', 'bytes', '--json', '72,105']);
    expect(JSON.parse(j.out)).toEqual({ text: 'Hi' });
  });

  it.skipIf(v7 === undefined)('--model picks the tokenizer from the vocab size (256 → bytes)', async () => {
    const t = await run(['tokenize', '--model', v7!, 'ok']);
    expect(JSON.parse(t.out)).toEqual([111, 107]);
  });

  const vocab = fixturePath('rwkv_vocab_v20230424.txt');
  const cases = fixturePath('tokenizer-world-public.json');
  it.skipIf(vocab === undefined || cases === undefined)('World tokenizer from --vocab: the public cases', async () => {
    const data = JSON.parse(readFileSync(cases!, 'utf8')) as { cases: { text: string; tokens: number[] }[] };
    for (const c of data.cases.slice(0, 3)) {
      const t = await run(['tokenize', '--vocab', vocab!, '--', c.text]);
      expect(JSON.parse(t.out)).toEqual(c.tokens);
      const d = await run(['detokenize', '--tokenizer', vocab!, c.tokens.join(',')]);
      expect(d.text).toBe(c.text);
    }
  });

  it('errors: no tokenizer, bad ids', async () => {
    expect((await run(['tokenize', 'x'])).code).toBe(2);
    const r = await run(['detokenize', '--tokenizer', 'bytes', '1,x']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/IDS/);
    const big = await run(['detokenize', '--tokenizer', 'bytes', '300']);
    expect(big.code).toBe(1);
    expect(big.err).toMatch(/300/);
  });
});

describe.skipIf(v7 === undefined)('rwkv perplexity', () => {
  it('--text: loss, perplexity and bits per byte (token 0 first, every text byte predicted)', async () => {
    const text = 'The small model reads bytes one by one. It likes them.';
    const file = join(tmp, 'text.txt');
    writeFileSync(file, text);
    const r = await run(['perplexity', '--model', v7!, '--text', file, '--chunk-len', '7', '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { tokens: number; bytes: number; loss: number; perplexity: number; bits_per_byte: number };
    // direct: one GPT-mode call on [0, ...bytes] (the CLI fed chunks of 7), log-softmax here
    const m = await model();
    const seq = [0, ...utf8(text)];
    const rows = (await m.forward(seq.slice(0, -1), m.createState(), { allLogits: true })).logits as Float32Array[];
    let nll = 0;
    for (let t = 1; t < seq.length; t++) nll -= logSoftmaxAt(rows[t - 1]!, seq[t]!);
    const n = seq.length - 1;
    expect(j.tokens).toBe(n);
    expect(j.bytes).toBe(n);
    expect(j.loss).toBeCloseTo(nll / n, PERPLEXITY_LOSS_DIGITS);
    expect(j.perplexity).toBeCloseTo(Math.exp(nll / n), PERPLEXITY_DIGITS);
    expect(j.bits_per_byte).toBeCloseTo(nll / n / Math.LN2, PERPLEXITY_LOSS_DIGITS);
    const plain = await run(['perplexity', '--model', v7!, '--text', file]);
    expect(plain.out).toMatch(/perplexity [\d.]+, [\d.]+ bits\/byte/);
  });

  it('--lambada: RWKV-LM protocol on a 3-document jsonl', async () => {
    const docs = ['The small model reads bytes one by one', 'the cat sat on the mat', 'we read the book'];
    const file = join(tmp, 'lambada.jsonl');
    writeFileSync(file, `${docs.map((text) => JSON.stringify({ text })).join('\n')}\n`);
    const r = await run(['perplexity', '--model', v7!, '--lambada', file, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { documents: number; perplexity: number; accuracy: number; correct: number };
    // direct: src = [0] + context, dst = ' ' + last word, all logits of src + dst in one call
    const m = await model();
    let sum = 0;
    let correct = 0;
    for (const d of docs) {
      const cut = d.lastIndexOf(' ');
      const src = [0, ...utf8(d.slice(0, cut))];
      const dst = utf8(d.slice(cut));
      const rows = (await m.forward([...src, ...dst], m.createState(), { allLogits: true })).logits as Float32Array[];
      let ok = true;
      for (let i = 0; i < dst.length; i++) {
        const row = rows[src.length - 1 + i]!;
        sum += logSoftmaxAt(row, dst[i]!);
        let best = 0;
        for (let k = 1; k < row.length; k++) if (row[k]! > row[best]!) best = k;
        if (best !== dst[i]) ok = false;
      }
      if (ok) correct++;
    }
    expect(j.documents).toBe(3);
    expect(j.correct).toBe(correct);
    expect(j.accuracy).toBeCloseTo(correct / 3, F64_DIGITS);
    expect(Math.log(j.perplexity)).toBeCloseTo(-sum / 3, PERPLEXITY_LOSS_DIGITS);
  });

  it('bad input: no file, a line without text, a text without a space', async () => {
    expect((await run(['perplexity', '--model', v7!])).code).toBe(2);
    const bad = join(tmp, 'bad.jsonl');
    writeFileSync(bad, '{"text": "fine words"}\n{"txt": 1}\n');
    const r = await run(['perplexity', '--model', v7!, '--lambada', bad]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/line 2/);
    writeFileSync(bad, '{"text": "oneword"}\n');
    expect((await run(['perplexity', '--model', v7!, '--lambada', bad])).err).toMatch(/no space/);
  });
});

describe.skipIf(v7 === undefined)('rwkv chat (stdin piped)', () => {
  it('two turns, /save: the saved state equals feeding the whole transcript at once', async () => {
    const stateFile = join(tmp, 'chat.state');
    const script = `Hello there\r\n\n  how  are you?  \n/save ${stateFile}\n/exit\nnever sent\n`;
    // sampled (seeded) so that the second reply depends on the first turn's state
    const r = await run(['chat', '--model', v7!, '--seed', '5', '--tokens', '24', '--json'], script);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const turns = r.out.split('\n').map((l) => JSON.parse(l) as { user: string; reply: string; tokens: number[]; stop: string });
    expect(turns.map((t) => t.user)).toEqual(['Hello there', 'how  are you?']); // trimmed; the last line comes after /exit
    expect(existsSync(stateFile)).toBe(true);
    // the transcript in the RWKV chat format; a reply that did not end in "\n\n" is closed with it
    const transcript: number[] = [];
    for (const t of turns) {
      transcript.push(...utf8(`User: ${t.user}\n\nAssistant:`), ...t.tokens);
      if (t.stop !== 'stopString') transcript.push(10, 10);
    }
    const m = await model();
    const whole = m.createState();
    await m.forward(transcript, whole);
    const saved = decodeStateFile(readFileSync(stateFile), m.config, 'rwkv-js', stateFile);
    expectClose('chat state vs whole transcript', saved, await whole.toArray(), STATE_ORACLE_ATOL, STATE_ORACLE_RTOL);
  });

  it('messages are normalised like the chat demo; /reset starts over; /load restores a saved state', async () => {
    const saved = join(tmp, 'chat-reset.state');
    const script = ['a  b', `/save ${saved}`, 'second', '/reset', 'a  b', `/load ${saved}`, 'second', '/nonsense', ''].join('\n');
    const r = await run(['chat', '--model', v7!, '--temperature', '0', '--tokens', '12', '--json'], script);
    expect(r.code).toBe(0);
    const turns = r.out.split('\n').map((l) => JSON.parse(l) as { reply: string; tokens: number[] });
    expect(turns.length).toBe(4);
    expect(turns[2]!.tokens).toEqual(turns[0]!.tokens); // after /reset: the first turn again
    expect(turns[3]!.tokens).toEqual(turns[1]!.tokens); // after /load: the second turn again
    expect(r.err).toMatch(/unknown command \/nonsense/);
  });

  it('without --json prints "Assistant:" and the reply; a message that normalises to nothing is skipped', async () => {
    const r = await run(['chat', '--model', v7!, '--temperature', '0', '--tokens', '8'], '   \nhi\n');
    expect(r.code).toBe(0);
    expect(r.text).toBe('Assistant: the the\n\n');
  });
});
