// The RWKV World tokenizer (src/tokenizer/world.ts): encode and decode throughput in MB/s of UTF-8
// text, on a few MB of seeded mixed text (English prose, Chinese prose, source code) and on each
// kind alone. The issue asks for ≥ 5 MB/s of encoding on this machine.
//
//   npm run bench:tokenizer          (= npx tsx bench/tokenizer.bench.ts)
//   node_modules/.bin/deno run -A bench/tokenizer.bench.ts
//   node_modules/.bin/bun bench/tokenizer.bench.ts
//
// Tasks, per text:
//   encode        text → ids (TextEncoder + trie), MB/s of UTF-8 input
//   encodeBytes   UTF-8 bytes → ids (the trie alone)
//   decodeBytes   ids → bytes, MB/s of UTF-8 output
//   decode        ids → string (decodeBytes + TextDecoder)
// Every text is checked once (decode(encode(text)) === text) before it is timed.
//
// Environment (all optional):
//   BENCH_TIME_MS    time budget per task, ms   (default 1000)
//   BENCH_WARMUP_MS  warm-up per task, ms       (default 200)
//   BENCH_MB         size of each text, MB      (default 2)
//   RWKV_FIXTURES    fixtures folder holding rwkv_vocab_v20230424.txt (see test/helpers/fixtures.ts)

import { readFileSync } from 'node:fs';
import { Bench } from 'tinybench';
import { WorldTokenizer } from '../src/tokenizer/world.ts';
import { fixturePath } from '../test/helpers/fixtures.ts';
import { envNumber, environment, fmt, markdownTable, printHeader, progress, rng, sink, timingOf } from './common.ts';

const TIME_MS = envNumber('BENCH_TIME_MS', 1000);
const WARMUP_MS = envNumber('BENCH_WARMUP_MS', 200);
const TEXT_MB = envNumber('BENCH_MB', 2);

const ENGLISH = `It was a bright cold day in April, and the clocks were striking thirteen. The language model reads
one token at a time and keeps a fixed-size state instead of a growing cache, so memory stays flat no matter
how long the conversation runs. Researchers measured perplexity on held-out text, then compared the results
with transformer baselines of the same size; the recurrent network matched them while using less compute.`;
const CHINESE = `今天天气很好，我们一起去公园散步吧。循环神经网络每次只读取一个词元，并保持固定大小的状态，
因此无论对话有多长，内存占用都保持不变。研究人员在测试集上评估了困惑度，并与同等规模的模型进行了比较。
人工智能的发展日新月异，开源社区贡献了大量的代码、数据和模型，让更多的人能够参与其中。`;
const CODE = `export function softmax(logits: Float32Array): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  const out = new Float32Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
`;

/** About `mb` MB of UTF-8: seeded random runs of words (or characters) drawn from the sources. */
function makeText(sources: readonly string[], mb: number, seed: number): string {
  const rand = rng(seed);
  const pools = sources.map((s) => s.split(/(?<=[\s，。、；])/u));
  const target = mb * 1e6;
  const parts: string[] = [];
  let bytes = 0;
  const enc = new TextEncoder();
  while (bytes < target) {
    const pool = pools[Math.floor(rand() * pools.length)]!;
    const start = Math.floor(rand() * pool.length);
    const run = pool.slice(start, start + 1 + Math.floor(rand() * 12)).join('');
    parts.push(run);
    bytes += enc.encode(run).length;
  }
  return parts.join('');
}

const vocabFile = fixturePath('rwkv_vocab_v20230424.txt');
if (vocabFile === undefined) {
  console.warn('nothing to run: rwkv_vocab_v20230424.txt is missing (set RWKV_FIXTURES)');
} else {
  const t0 = performance.now();
  const vocabText = readFileSync(vocabFile, 'utf8');
  const t1 = performance.now();
  const tok = WorldTokenizer.fromFileText(vocabText, vocabFile);
  const t2 = performance.now();

  const texts: [string, string][] = [
    ['mixed', makeText([ENGLISH, CHINESE, CODE], TEXT_MB, 1)],
    ['english', makeText([ENGLISH], TEXT_MB, 2)],
    ['chinese', makeText([CHINESE], TEXT_MB, 3)],
    ['code', makeText([CODE], TEXT_MB, 4)],
  ];

  printHeader('World tokenizer', environment(), [
    `vocabulary: ${vocabFile}`,
    `load: read ${fmt(t1 - t0)} ms, parse + trie ${fmt(t2 - t1)} ms`,
    `texts: ${TEXT_MB} MB each (seeded), time per task ${TIME_MS} ms (+ ${WARMUP_MS} ms warm-up)`,
  ]);

  const rows: string[][] = [];
  for (const [name, text] of texts) {
    const bytes = new TextEncoder().encode(text);
    const ids = tok.encode(text);
    if (tok.decode(ids) !== text) throw new Error(`validation failed: ${name}: decode(encode(text)) !== text`);
    const mb = bytes.length / 1e6;
    const bench = new Bench({ time: TIME_MS, warmupTime: WARMUP_MS, iterations: 3, warmupIterations: 1 });
    bench
      .add('encode', () => {
        sink.value += tok.encode(text).length;
      })
      .add('encodeBytes', () => {
        sink.value += tok.encodeBytes(bytes).length;
      })
      .add('decodeBytes', () => {
        sink.value += tok.decodeBytes(ids).length;
      })
      .add('decode', () => {
        sink.value += tok.decode(ids).length;
      });
    await bench.run();
    const speed = (task: string): string => {
      const t = timingOf(bench.getTask(task)!);
      return fmt(mb / (t.medianMs / 1000));
    };
    rows.push([
      name,
      fmt(mb),
      String(ids.length),
      fmt(bytes.length / ids.length),
      speed('encode'),
      speed('encodeBytes'),
      speed('decodeBytes'),
      speed('decode'),
    ]);
    progress(`${name} done`);
  }
  console.log(
    markdownTable(
      ['text', '>MB', '>tokens', '>bytes/token', '>encode MB/s', '>encodeBytes MB/s', '>decodeBytes MB/s', '>decode MB/s'],
      rows,
    ),
  );
  console.log('\nMB/s = MB of UTF-8 text per second (median call).');
}
