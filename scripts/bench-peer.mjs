#!/usr/bin/env node
// `npm run bench:peer`: our engine against native llama.cpp on the same random RWKV-7 model, the
// same machine, in one run.
//
//   npm run bench:peer -- [--out FILE.json] [--shape 0.1B] [--decode 64] [--prefill 512] [--runs 3]
//                         [--precisions fp32,16,int8] [--ours16 bf16|fp16] [--threads N] [--keep]
//
//   1. installs node-llama-cpp@3.21.1 (prebuilt llama.cpp CPU binaries, from the npm registry) into
//      a temporary folder, never a dependency of ours (LLAMA_CPP_CHECK_DIR: reuse an install);
//   2. generates the random RWKV-7 model of `rwkv bench --shape` (src/bench/bench.ts, seeded) and
//      writes it as GGUF with our own writer (src/convert/gguf-write.ts) with the RWKV World
//      vocabulary (llama.cpp needs the tokenizer metadata): F32, F16 and Q8_0;
//   3. per precision, loads llama.cpp (contexts with 1 and 2 threads) and our engine on the same
//      weights, checks both pick the same first greedy token (fp32), and alternates the runs:
//      llama.cpp 1 thread, llama.cpp 2 threads, ours — decode, then prefill — `--runs` times;
//   4. prints medians and the ratios (ours / llama.cpp's best thread count) per precision:
//        fp32 ↔ F32    "wasm fp32"
//        16   ↔ F16    "wasm bf16" (or --ours16 fp16)
//        int8 ↔ Q8_0   "wasm fp32i8"
//      and writes them as JSON to --out.
//
// decode: after an 8-token prompt, `--decode` greedy steps (only those timed); prefill: one
// evaluation of `--prefill` tokens with the next-token logits of the last one. Our engine runs
// on the wasm backend when this build has it, else on ts (then with at most 16 decode and 32
// prefill tokens: the plain TS backend is ~100× slower, and the table says so).
// Not part of `npm test`: it downloads ~100 MB and takes minutes.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NODE_LLAMA_CPP_VERSION, installNodeLlamaCpp } from './node-llama-cpp.mjs';

const VERSION = NODE_LLAMA_CPP_VERSION;
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = resolve(root, process.env.RWKV_FIXTURES ?? '../shared/fixtures');

// Our sources are TypeScript: run under tsx (a dev dependency), as scripts/llama-cpp-check.mjs does.
if (process.env.__RWKV_BENCH_PEER_CHILD !== '1') {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, __RWKV_BENCH_PEER_CHILD: '1' },
  });
  process.exit(r.status ?? 1);
}

const { values: args } = parseArgs({
  options: {
    out: { type: 'string' },
    shape: { type: 'string', default: '0.1B' },
    decode: { type: 'string', default: '64' },
    prefill: { type: 'string', default: '512' },
    runs: { type: 'string', default: '3' },
    precisions: { type: 'string', default: 'fp32,16,int8' },
    ours16: { type: 'string', default: 'bf16' },
    threads: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help) {
  console.log(
    readFileSync(fileURLToPath(import.meta.url), 'utf8')
      .split('\n')
      .slice(1, 30)
      .join('\n'),
  );
  process.exit(0);
}
const int = (name, min) => {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got ${args[name]}`);
  return n;
};
const DECODE = int('decode', 1);
const PREFILL = int('prefill', 1);
const RUNS = int('runs', 1);
const OURS_THREADS = args.threads !== undefined ? int('threads', 1) : undefined;
if (args.ours16 !== 'bf16' && args.ours16 !== 'fp16') throw new Error('--ours16 must be bf16 or fp16');
const LLAMA_THREADS = [1, 2];
const SEED = 1;
/** Regular World-vocabulary tokens (no control tokens, no holes). */
const TOKEN_LO = 256;

const PRECISIONS = {
  fp32: { gguf: 'F32', writer: {}, options: { dtype: 'F32' }, ours: 'fp32' },
  16: { gguf: 'F16', writer: {}, options: { dtype: 'F16' }, ours: args.ours16 },
  int8: { gguf: 'Q8_0', writer: { quantize: 'Q8_0' }, options: {}, ours: 'fp32i8' },
};

const log = (...a) => console.log(...a);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** llama.cpp decode tok/s: prompt, then `n` greedy steps (timed); also the first greedy token. */
async function llamaDecode(ctx, prompt, n) {
  const seq = ctx.getSequence();
  try {
    await seq.evaluateWithoutGeneratingNewTokens(prompt.slice(0, -1));
    const gen = seq.evaluate([prompt.at(-1)], { temperature: 0, yieldEogToken: true });
    const first = (await gen.next()).value;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const r = await gen.next();
      if (r.done) throw new Error('llama.cpp stopped generating');
    }
    const dt = (performance.now() - t0) / 1000;
    await gen.return();
    return { tokPerSec: n / dt, first };
  } finally {
    seq.dispose();
  }
}

/** llama.cpp prefill tok/s: the tokens in one evaluation, next-token logits of the last one. */
async function llamaPrefill(ctx, tokens) {
  const seq = ctx.getSequence();
  try {
    const t0 = performance.now();
    await seq.controlledEvaluate([...tokens.slice(0, -1), [tokens.at(-1), { generateNext: { token: true } }]]);
    return tokens.length / ((performance.now() - t0) / 1000);
  } finally {
    seq.dispose();
  }
}

const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

async function main() {
  const bench = await import(pathToFileURL(join(root, 'src/bench/bench.ts')).href);
  const { createGgufWriter, parseRwkvVocab } = await import(pathToFileURL(join(root, 'src/convert/gguf-write.ts')).href);
  const { writeFileAtomic } = await import(pathToFileURL(join(root, 'src/io/write.ts')).href);
  const { openDevice, describePlacement } = await import(pathToFileURL(join(root, 'src/strategy.ts')).href);
  const { formatBytes } = await import(pathToFileURL(join(root, 'src/util/progress.ts')).href);

  const shape = bench.parseShape(args.shape);
  if (shape.nVocab !== 65536) throw new Error('bench:peer needs a 65536-token shape (the World vocabulary is written into the GGUF)');
  const vocabPath = join(fixtures, 'rwkv_vocab_v20230424.txt');
  if (!existsSync(vocabPath)) throw new Error(`${vocabPath} not found (set RWKV_FIXTURES): llama.cpp needs the tokenizer metadata`);
  const vocab = parseRwkvVocab(readFileSync(vocabPath, 'utf8'), vocabPath);

  // our device: wasm when this build has it
  let device = 'wasm';
  try {
    await (await openDevice('wasm', OURS_THREADS !== undefined ? { threads: OURS_THREADS } : {})).dispose?.();
  } catch (e) {
    if (e?.code !== 'BACKEND_UNAVAILABLE') throw e;
    device = 'ts';
    log(`NOTE: no wasm backend here (${e.message}); our engine runs on the plain TS backend with fewer tokens`);
  }
  const oursDecode = device === 'ts' ? Math.min(DECODE, 16) : DECODE;
  const oursPrefill = device === 'ts' ? Math.min(PREFILL, 32) : PREFILL;

  const own = process.env.LLAMA_CPP_CHECK_DIR;
  const dir = own ? resolve(own) : mkdtempSync(join(tmpdir(), 'rwkv-bench-peer-'));
  mkdirSync(dir, { recursive: true });
  const result = {
    date: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model ?? '?', cores: cpus().length, memory: formatBytes(totalmem()) },
    runtime: `node ${process.version}`,
    llamaCpp: `node-llama-cpp ${VERSION}`,
    shape: shape.name,
    seed: SEED,
    decodeTokens: DECODE,
    prefillTokens: PREFILL,
    oursDecodeTokens: oursDecode,
    oursPrefillTokens: oursPrefill,
    runs: RUNS,
    rows: [],
  };
  try {
    installNodeLlamaCpp(dir, log);
    const { getLlama } = await import(pathToFileURL(join(dir, 'node_modules', 'node-llama-cpp', 'dist', 'index.js')).href);
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
    result.llamaCpp += ` (${llama.buildType} build, CPU)`;
    log(
      `llama.cpp: ${result.llamaCpp}; machine: ${result.machine.cpu} × ${result.machine.cores}, ${result.machine.memory}; ${result.runtime}`,
    );
    const ckpt = bench.randomRwkv7Checkpoint(shape, SEED);
    const prompt = bench.benchTokens(8, shape.nVocab, SEED ^ 0x5eed, TOKEN_LO);
    const prefillTokens = bench.benchTokens(PREFILL, shape.nVocab, SEED ^ 0xf111, TOKEN_LO);

    for (const key of args.precisions.split(',')) {
      const p = PRECISIONS[key];
      if (p === undefined) throw new Error(`--precisions: unknown "${key}" (fp32, 16, int8)`);
      const strategy = `${device} ${p.ours}`;
      const file = join(dir, `bench-peer-${shape.name}-${p.gguf}.gguf`);
      log(`\n== ${key}: llama.cpp ${p.gguf} vs ours "${strategy}"`);
      let t0 = performance.now();
      writeFileAtomic(file, (sink) =>
        createGgufWriter({ ...p.writer, vocab, name: `bench-peer-${shape.name}` }).write(ckpt, sink, p.options),
      );
      log(`wrote ${file} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const lmodel = await llama.loadModel({ modelPath: file });
      const contexts = new Map();
      for (const t of LLAMA_THREADS) {
        contexts.set(
          t,
          await lmodel.createContext({
            contextSize: PREFILL + DECODE + 64,
            batchSize: Math.max(512, PREFILL),
            sequences: 1,
            threads: { ideal: t, min: t },
          }),
        );
      }
      t0 = performance.now();
      const ours = await bench.loadBenchModel(shape, strategy, SEED, OURS_THREADS);
      log(
        `ours loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${describePlacement(ours.opened).join('; ')}, reads ${formatBytes(ours.weightBytesPerToken)} per token`,
      );

      // validation + warm-up: both engines pick the same first greedy token (exact weights: fp32)
      const ourFirst = (() => {
        return ours.model.forward(prompt).then((r) => {
          r.state.dispose();
          let best = 0;
          const l = r.logits;
          for (let i = 1; i < l.length; i++) if (l[i] > l[best]) best = i;
          return best;
        });
      })();
      const theirs = await llamaDecode(contexts.get(1), prompt, 2);
      const mine = await ourFirst;
      const agree = theirs.first === mine;
      log(
        `first greedy token: llama.cpp ${theirs.first}, ours ${mine}${agree ? ' (same)' : key === 'fp32' ? ' — DIFFERENT' : ' (differs; quantisation schemes differ)'}`,
      );
      await bench.timeDecode(ours.model, prompt, 2);
      for (const t of LLAMA_THREADS) await llamaPrefill(contexts.get(t), prefillTokens.slice(0, 16));

      const runs = {
        llama: Object.fromEntries(LLAMA_THREADS.map((t) => [t, { decode: [], prefill: [] }])),
        ours: { decode: [], prefill: [] },
      };
      for (let r = 0; r < RUNS; r++) {
        for (const t of LLAMA_THREADS) runs.llama[t].decode.push((await llamaDecode(contexts.get(t), prompt, DECODE)).tokPerSec);
        runs.ours.decode.push(await bench.timeDecode(ours.model, prompt, oursDecode));
        for (const t of LLAMA_THREADS) runs.llama[t].prefill.push(await llamaPrefill(contexts.get(t), prefillTokens));
        runs.ours.prefill.push(await bench.timePrefill(ours.model, prefillTokens.slice(0, oursPrefill)));
        log(
          `run ${r + 1}/${RUNS}: decode ${LLAMA_THREADS.map((t) => `llama ${t}t ${fmt(runs.llama[t].decode.at(-1))}`).join(', ')}, ours ${fmt(runs.ours.decode.at(-1))}; ` +
            `prefill ${LLAMA_THREADS.map((t) => `llama ${t}t ${fmt(runs.llama[t].prefill.at(-1))}`).join(', ')}, ours ${fmt(runs.ours.prefill.at(-1))} tok/s`,
        );
      }
      const llamaMed = Object.fromEntries(
        LLAMA_THREADS.map((t) => [t, { decode: median(runs.llama[t].decode), prefill: median(runs.llama[t].prefill) }]),
      );
      const bestDecode = Math.max(...LLAMA_THREADS.map((t) => llamaMed[t].decode));
      const bestPrefill = Math.max(...LLAMA_THREADS.map((t) => llamaMed[t].prefill));
      const oursMed = { decode: median(runs.ours.decode), prefill: median(runs.ours.prefill) };
      result.rows.push({
        precision: key,
        gguf: p.gguf,
        strategy,
        firstTokenAgrees: agree,
        oursWeightBytesPerToken: ours.weightBytesPerToken,
        llama: llamaMed,
        ours: oursMed,
        ratio: {
          decode: oursMed.decode / bestDecode,
          prefill: oursMed.prefill / bestPrefill,
          prefillVs2Threads: oursMed.prefill / llamaMed[2].prefill,
        },
        runs,
      });
      await ours.close();
      for (const c of contexts.values()) await c.dispose();
      await lmodel.dispose();
      if (!args.keep) rmSync(file, { force: true });
    }

    // ---- the table ----
    const head = [
      'precision',
      'llama.cpp',
      'ours',
      ...LLAMA_THREADS.map((t) => `decode llama ${t}t`),
      'decode ours',
      'ratio',
      ...LLAMA_THREADS.map((t) => `prefill llama ${t}t`),
      'prefill ours',
      'ratio',
    ];
    const rows = result.rows.map((r) => [
      r.precision,
      r.gguf,
      r.strategy,
      ...LLAMA_THREADS.map((t) => fmt(r.llama[t].decode)),
      fmt(r.ours.decode),
      `${r.ratio.decode.toFixed(2)}×`,
      ...LLAMA_THREADS.map((t) => fmt(r.llama[t].prefill)),
      fmt(r.ours.prefill),
      `${r.ratio.prefill.toFixed(2)}×`,
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
    log(
      `\nRWKV-7 ${shape.name} random weights, tok/s (median of ${RUNS}); decode ${DECODE} tokens after an 8-token prompt, prefill ${PREFILL} tokens` +
        (device === 'ts' ? ` (ours: ${oursDecode} / ${oursPrefill} on the ts backend)` : '') +
        `; ratio = ours / llama.cpp's best thread count`,
    );
    log(`${result.machine.cpu} × ${result.machine.cores}, ${result.runtime}, ${result.llamaCpp}`);
    log(line(head));
    log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of rows) log(line(r));
    if (args.out) {
      writeFileSync(resolve(args.out), `${JSON.stringify(result, null, 2)}\n`);
      log(`\nwrote ${resolve(args.out)}`);
    }
  } finally {
    if (!own && !args.keep) rmSync(dir, { recursive: true, force: true });
    else log(`kept ${dir}`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
