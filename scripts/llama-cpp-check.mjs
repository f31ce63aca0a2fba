#!/usr/bin/env node
// `npm run llama-cpp:check`: do the GGUF files our writer makes run in llama.cpp itself, and
// does llama.cpp compute the same next-token probabilities as we do?
//
//   1. installs node-llama-cpp@3.21.1 (llama.cpp release v0.4.0 builds, prebuilt CPU binaries from
//      the npm registry) into a temporary folder — or uses LLAMA_CPP_CHECK_DIR if it already
//      holds an install (`npm install --prefix <dir> node-llama-cpp@3.21.1`);
//   2. converts the tiny RWKV-6 / RWKV-7 fixtures and the synthetic RWKV-6 / RWKV-7 models
//      (two heads; v7 with a value-residual rank different from the ICLR rank) with
//      `createGgufWriter` (F32, F16, BF16, Q8_0 variants);
//   3. for each file and prompt, evaluates the prompt in llama.cpp (CPU) and in our model loaded
//      from the same GGUF file (TS backend), and compares the full next-token distributions.
//
// Tolerances (max |p_llama.cpp − p_ours| over all 256 tokens; measured worst in brackets,
// node-llama-cpp 3.21.1 prebuilt CPU build, x86-64):
//   F32 files   1e-5 [7.9e-7]: both compute in float32 from identical weights; only the
//               summation order differs.
//   F16 files   2e-3 [1.2e-4]: llama.cpp's CPU matmul rounds the activations to F16 for F16
//               weights; we multiply the same weights in float32.
//   BF16 files  5e-3 [1.3e-3]: the same with BF16 activations (8 mantissa bits).
//   Q8_0 files  2e-2 [9.8e-3]: llama.cpp also quantizes the activations to Q8_0 blocks in its
//               matmuls; we dequantize the weights and multiply in float32.
//   Q4_0, Q4_1, Q5_0, Q5_1 files  2e-2 [8.5e-3]: the same (activations in Q8_0 / Q8_1 blocks).
// A World-vocabulary model (65536 tokens, rwkv_vocab_v20230424.txt) is also written: llama.cpp
// must tokenize the public tokenizer cases to the official ids, and agree within the F32 bound.
// The top token must agree whenever our top-2 probability margin exceeds twice the tolerance.
//
// Not part of `npm test` (it downloads ~100 MB and needs the shared fixtures). Exit 1 on any
// failure. Env: RWKV_FIXTURES (default ../shared/fixtures), LLAMA_CPP_CHECK_DIR, KEEP=1 keeps the
// temporary folder.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NODE_LLAMA_CPP_VERSION, installNodeLlamaCpp } from './node-llama-cpp.mjs';

const VERSION = NODE_LLAMA_CPP_VERSION;
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = resolve(root, process.env.RWKV_FIXTURES ?? '../shared/fixtures');

// Our sources are TypeScript: run the check itself under tsx (a dev dependency).
if (process.env.__RWKV_LLAMA_CHECK_CHILD !== '1') {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, __RWKV_LLAMA_CHECK_CHILD: '1' },
  });
  process.exit(r.status ?? 1);
}

const TOLERANCE = { F32: 1e-5, BF16: 5e-3, F16: 2e-3, Q8_0: 2e-2, Q4: 2e-2 };

const MODELS = [
  { name: 'tiny-rwkv-6v0-1m', file: 'tiny-rwkv/tiny-rwkv-6v0-1m-FP32.bin' },
  { name: 'tiny-rwkv-7v0-834K', file: 'tiny-rwkv/tiny-rwkv-7v0-834K-FP32.bin' },
  { name: 'synthetic-rwkv6-L2-C128-H2', file: 'synthetic/models/synthetic-rwkv6-L2-C128-H2-BF16.safetensors' },
  { name: 'synthetic-rwkv7-L3-C128-H2', file: 'synthetic/models/synthetic-rwkv7-L3-C128-H2-BF16.safetensors' },
];
const VARIANTS = [
  { tag: 'f32', tol: 'F32', options: { dtype: 'F32' }, writer: {} },
  { tag: 'bf16', tol: 'BF16', options: { dtype: 'BF16' }, writer: {}, only: /synthetic/ },
  { tag: 'f16', tol: 'F16', options: { dtype: 'F16' }, writer: {} },
  { tag: 'q8_0', tol: 'Q8_0', options: {}, writer: { quantize: 'Q8_0' } },
  { tag: 'q4_0', tol: 'Q4', options: {}, writer: { quantize: 'Q4_0' } },
  { tag: 'q4_1', tol: 'Q4', options: {}, writer: { quantize: 'Q4_1' } },
  { tag: 'q5_0', tol: 'Q4', options: {}, writer: { quantize: 'Q5_0' } },
  { tag: 'q5_1', tol: 'Q4', options: {}, writer: { quantize: 'Q5_1' } },
];
const PROMPTS = ['"in', 'The small model reads bytes one by one.', 'Hello, world!\n\nQ: 2+2=?'];

function log(...a) {
  console.log(...a);
}

function softmax(logits) {
  let m = -Infinity;
  for (const x of logits) m = Math.max(m, x);
  const e = Float64Array.from(logits, (x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

function top2(p) {
  let a = 0;
  let b = -1;
  for (let i = 1; i < p.length; i++) {
    if (p[i] > p[a]) {
      b = a;
      a = i;
    } else if (b < 0 || p[i] > p[b]) b = i;
  }
  return [a, b];
}

async function main() {
  if (!existsSync(fixtures)) {
    console.error(`fixtures not found: ${fixtures} (set RWKV_FIXTURES)`);
    process.exit(1);
  }
  const own = process.env.LLAMA_CPP_CHECK_DIR;
  const dir = own ? resolve(own) : mkdtempSync(join(tmpdir(), 'rwkv-llama-cpp-'));
  mkdirSync(dir, { recursive: true });
  let failures = 0;
  try {
    installNodeLlamaCpp(dir, log);
    const { getLlama } = await import(pathToFileURL(join(dir, 'node_modules', 'node-llama-cpp', 'dist', 'index.js')).href);
    const { loadCheckpoint } = await import(pathToFileURL(join(root, 'src/io/load.ts')).href);
    const { createGgufWriter } = await import(pathToFileURL(join(root, 'src/convert/gguf-write.ts')).href);
    const { writeFileAtomic } = await import(pathToFileURL(join(root, 'src/io/write.ts')).href);
    const { RwkvModel } = await import(pathToFileURL(join(root, 'src/index.ts')).href);

    const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
    log(`llama.cpp: node-llama-cpp ${VERSION}, ${llama.buildType} build, CPU`);
    const rows = [];
    for (const m of MODELS) {
      const src = join(fixtures, m.file);
      if (!existsSync(src)) {
        log(`MISSING  ${src}`);
        failures++;
        continue;
      }
      const { checkpoint } = await loadCheckpoint(src);
      for (const v of VARIANTS) {
        if (v.only && !v.only.test(m.name)) continue;
        const out = join(dir, `${m.name}-${v.tag}.gguf`);
        const writer = createGgufWriter({ ...v.writer, name: m.name });
        writeFileAtomic(out, (sink) => writer.write(checkpoint, sink, v.options));
        const tol = TOLERANCE[v.tol];
        let model;
        try {
          model = await llama.loadModel({ modelPath: out });
        } catch (e) {
          log(`FAIL  ${m.name} ${v.tag}: llama.cpp cannot load it: ${e?.message ?? e}`);
          failures++;
          continue;
        }
        const ours = await RwkvModel.load(out, { backend: 'ts' });
        const context = await model.createContext({ contextSize: 512, batchSize: 512, sequences: 1 });
        for (const text of PROMPTS) {
          const tokens = [...new TextEncoder().encode(text)];
          const sequence = context.getSequence();
          const res = await sequence.controlledEvaluate([
            ...tokens.slice(0, -1),
            [tokens.at(-1), { generateNext: { probabilities: true } }],
          ]);
          sequence.dispose();
          const probs = res.at(-1)?.next?.probabilities;
          if (!probs) throw new Error('node-llama-cpp returned no probabilities');
          const state = ours.createState();
          const p = softmax((await ours.forward(tokens, state)).logits);
          let maxDiff = 0;
          for (let i = 0; i < p.length; i++) maxDiff = Math.max(maxDiff, Math.abs((probs.get(i) ?? 0) - p[i]));
          const [a, b] = top2(p);
          const theirsTop = probs.keys().next().value;
          const topOk = theirsTop === a || p[a] - p[b] <= 2 * tol;
          const ok = maxDiff <= tol && topOk;
          if (!ok) failures++;
          rows.push({ model: m.name, file: v.tag, prompt: JSON.stringify(text).slice(0, 24), maxDiff, tol, top: `${theirsTop}/${a}`, ok });
          log(
            `${ok ? 'ok  ' : 'FAIL'}  ${m.name.padEnd(28)} ${v.tag.padEnd(5)} ${JSON.stringify(text).slice(0, 26).padEnd(28)} max |Δp| ${maxDiff.toExponential(2)} (tol ${tol})  top ${theirsTop} vs ${a}`,
          );
        }
        await context.dispose();
        await model.dispose();
        await ours.dispose?.();
      }
    }
    // The RWKV World vocabulary: a random RWKV-7 model with 65536 tokens, written with the
    // vocabulary from rwkv_vocab_v20230424.txt. llama.cpp must tokenize the public tokenizer
    // cases (the official tokenizer's ids, fixtures/tokenizer-world-public.json) to the same ids,
    // and compute the same probabilities as we do.
    const vocabPath = join(fixtures, 'rwkv_vocab_v20230424.txt');
    const casesPath = join(fixtures, 'tokenizer-world-public.json');
    if (existsSync(vocabPath) && existsSync(casesPath)) {
      const { parseRwkvVocab } = await import(pathToFileURL(join(root, 'src/convert/gguf-write.ts')).href);
      const { randomCheckpoint } = await import(pathToFileURL(join(root, 'test/helpers/random-model.ts')).href);
      const vocab = parseRwkvVocab(readFileSync(vocabPath, 'utf8'), vocabPath);
      const ck = randomCheckpoint({
        version: '7',
        nLayer: 2,
        nHead: 2,
        headSize: 32,
        nFfn: 128,
        nVocab: 65536,
        ranks: { maa: 1, decay: 1, w: 32, a: 32, v: 32, g: 32, s: 1 },
        timeState: false,
        seed: 7,
      });
      const out = join(dir, 'world-vocab-rwkv7.gguf');
      writeFileAtomic(out, (sink) => createGgufWriter({ vocab, name: 'world-vocab-check' }).write(ck, sink, {}));
      const model = await llama.loadModel({ modelPath: out });
      const { cases } = JSON.parse(readFileSync(casesPath, 'utf8'));
      for (const c of cases) {
        const ids = [...model.tokenize(c.text)];
        const ok = JSON.stringify(ids) === JSON.stringify(c.tokens);
        if (!ok) failures++;
        rows.push({ model: 'world-vocab', file: 'tokenize', maxDiff: 0, ok });
        log(
          `${ok ? 'ok  ' : 'FAIL'}  world vocabulary: llama.cpp tokenizes ${JSON.stringify(c.text).slice(0, 30).padEnd(32)} ${ok ? 'to the official ids' : `to ${ids} (official ${c.tokens})`}`,
        );
      }
      const ours = RwkvModel.fromCheckpoint(ck, { backend: 'ts' });
      const context = await model.createContext({ contextSize: 512, batchSize: 512, sequences: 1 });
      for (const c of cases.slice(0, 3)) {
        const tokens = c.tokens;
        const sequence = context.getSequence();
        const res = await sequence.controlledEvaluate([...tokens.slice(0, -1), [tokens.at(-1), { generateNext: { probabilities: true } }]]);
        sequence.dispose();
        const probs = res.at(-1).next.probabilities;
        const p = softmax((await ours.forward(tokens, ours.createState())).logits);
        let maxDiff = 0;
        for (let i = 0; i < p.length; i++) maxDiff = Math.max(maxDiff, Math.abs((probs.get(i) ?? 0) - p[i]));
        const ok = maxDiff <= TOLERANCE.F32;
        if (!ok) failures++;
        rows.push({ model: 'world-vocab', file: 'f32', maxDiff, ok });
        log(
          `${ok ? 'ok  ' : 'FAIL'}  world-vocab random rwkv7 f32 ${JSON.stringify(c.text).slice(0, 26).padEnd(28)} max |Δp| ${maxDiff.toExponential(2)} (tol ${TOLERANCE.F32})`,
        );
      }
      await context.dispose();
      await model.dispose();
    } else {
      log(`MISSING  ${vocabPath} or ${casesPath}`);
      failures++;
    }

    const worst = {};
    for (const r of rows) if (r.file !== 'tokenize') worst[r.file] = Math.max(worst[r.file] ?? 0, r.maxDiff);
    log(
      `\nworst max |Δp| per file type: ${Object.entries(worst)
        .map(([k, w]) => `${k} ${w.toExponential(2)}`)
        .join(', ')}`,
    );
    log(`${rows.length - failures} passed, ${failures} failed`);
  } finally {
    if (!own && process.env.KEEP !== '1') rmSync(dir, { recursive: true, force: true });
    else log(`kept ${dir}`);
  }
  process.exit(failures === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
