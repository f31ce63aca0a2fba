// Decode and prefill tokens/s of an RWKV-7 model of the real 0.1B shape (12 layers, C 768, vocab
// 65536, head 64, FFN 3072, LoRA w 64 / a 64 / v 32 / g 128; random seeded weights, no download)
// on the WASM backend (fp32, bf16, f16, int8 weights; 1 and all threads) and on the TS backend, in
// one run, so the ratios are comparable on a noisy machine.
//
//   npx tsx bench/wasm-decode.bench.ts
//   node_modules/.bin/deno run -A bench/wasm-decode.bench.ts     (relaxed SIMD)
//   node_modules/.bin/bun bench/wasm-decode.bench.ts
//
// decode: one forward([token]) per call, state carried, next token = argmax (greedy generation);
//         tok/s from the median of DECODE calls after 2 warm-up calls.
// prefill: one forward(prompt of PREFILL tokens), fresh state; median of 3 calls (1 on ts).
// "weights read / token" counts every matrix the decode step multiplies by (the embedding row is
// a lookup): the GB/s column is that ÷ time per token.
// Before timing, each configuration's logits for the first decode step are checked against the
// TS backend's fp32 logits: fp32 within 1e-4·max(1, |logit|), compact storage reports its max
// difference (not a failure: bf16 / f16 / int8 are lossy).
//
// Environment (all optional):
//   BENCH_DECODE     decode calls timed per configuration   (default 16)
//   BENCH_PREFILL    prefill prompt length, tokens           (default 128; 0 = skip)
//   BENCH_STORAGE    wasm weight storages                    (default f32,bf16,f16,i8)
//   BENCH_THREADS    wasm thread counts                      (default 1,<available cores>)
//   BENCH_TS         1 = also time the TS backend            (default 1)
//   BENCH_LAYERS     layers (12 for 0.1B)                    (default 12)

import { availableParallelism } from 'node:os';
import type { WeightStorage } from '../src/backends/backend.ts';
import { TsBackend } from '../src/backends/ts/ts-backend.ts';
import { createSharedMemory, kernelModule } from '../src/backends/wasm/module.ts';
import { ThreadPool } from '../src/backends/wasm/pool.ts';
import { WasmBackend } from '../src/backends/wasm/wasm-backend.ts';
import type { Checkpoint } from '../src/tensor/tensor.ts';
import { RwkvModel } from '../src/model/model.ts';
import { randomCheckpoint } from '../test/helpers/random-model.ts';
import { envList, envNumber, environment, fmt, markdownTable, printHeader, progress, rng } from './common.ts';

const DECODE = Math.max(1, Math.round(envNumber('BENCH_DECODE', 16)));
const PREFILL = Math.round(envNumber('BENCH_PREFILL', 128));
const STORAGES = envList('BENCH_STORAGE', ['f32', 'bf16', 'f16', 'i8']) as WeightStorage[];
const THREADS = envList('BENCH_THREADS', ['1', String(availableParallelism())]).map(Number);
const WITH_TS = envNumber('BENCH_TS', 1) !== 0;
const LAYERS = Math.round(envNumber('BENCH_LAYERS', 12));
const C = 768;
const V = 65536;
const F = 3072;
const TOL = 1e-4;

const env = environment();
progress(`building the random ${LAYERS}-layer C${C} V${V} RWKV-7 checkpoint`);
const ckpt: Checkpoint = randomCheckpoint({
  version: '7',
  nLayer: LAYERS,
  nHead: C / 64,
  headSize: 64,
  nFfn: F,
  nVocab: V,
  ranks: { maa: 32, decay: 64, w: 64, a: 64, v: 32, g: 128, s: 8 },
  timeState: false,
  seed: 2024,
});

/** Elements of every matrix one decode step multiplies by (all 2-D tensors but emb). */
let matrixElems = 0;
for (const [key, t] of ckpt) if (t.shape.length === 2 && !key.endsWith('emb.weight')) matrixElems += t.shape[0]! * t.shape[1]!;
const BYTES_PER: Record<WeightStorage, number> = { f32: 4, bf16: 2, f16: 2, i8: 1 };

const rand = rng(5);
const prompt = Array.from({ length: Math.max(PREFILL, 1) }, () => Math.floor(rand() * V));

function argmax(x: Float32Array): number {
  let b = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[b]!) b = i;
  return b;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

interface Row {
  backend: string;
  storage: string;
  threads: number;
  decodeTps: number;
  prefillTps: number | undefined;
  maxDiff: number;
}

/** Reference logits: TS backend fp32, first token of the prompt from a fresh state. */
let reference: Float32Array | undefined;

async function measure(
  model: RwkvModel,
  label: string,
  decodeCalls: number,
  prefillCalls: number,
): Promise<[number, number | undefined, Float32Array]> {
  const first = (await model.forward([prompt[0]!])).logits as Float32Array;
  // decode: greedy from the first token's state
  const state = model.createState();
  let logits = (await model.forward([prompt[0]!], state)).logits as Float32Array;
  const times: number[] = [];
  for (let i = 0; i < decodeCalls + 2; i++) {
    const tok = argmax(logits);
    const t0 = performance.now();
    logits = (await model.forward([tok], state)).logits as Float32Array;
    if (i >= 2) times.push(performance.now() - t0);
  }
  progress(`${label}: decode ${fmt(1000 / median(times))} tok/s`);
  let prefill: number | undefined;
  if (PREFILL > 0 && prefillCalls > 0) {
    const pt: number[] = [];
    for (let i = 0; i < prefillCalls; i++) {
      const st = model.createState();
      const t0 = performance.now();
      await model.forward(prompt.slice(0, PREFILL), st);
      pt.push(performance.now() - t0);
      st.dispose?.();
    }
    prefill = (PREFILL * 1000) / median(pt);
    progress(`${label}: prefill ${fmt(prefill)} tok/s`);
  }
  return [1000 / median(times), prefill, first];
}

const rows: Row[] = [];
if (WITH_TS) {
  progress('ts fp32: loading');
  const model = RwkvModel.fromCheckpoint(ckpt, { backend: new TsBackend(), weights: 'f32' });
  const [d, p, first] = await measure(model, 'ts fp32', Math.min(DECODE, 4), PREFILL > 0 ? 1 : 0);
  reference = first;
  rows.push({ backend: 'ts', storage: 'f32', threads: 1, decodeTps: d, prefillTps: p, maxDiff: 0 });
  model.dispose();
}
let variant = '';
for (const threads of THREADS) {
  const backend = await WasmBackend.create({ threads });
  variant = backend.caps.description;
  for (const storage of STORAGES) {
    progress(`wasm ${storage} ×${threads}: loading`);
    const m = loadWithStorage(backend, storage);
    const [d, p, first] = await measure(m, `wasm ${storage} ×${threads}`, DECODE, 3);
    let maxDiff = NaN;
    if (reference !== undefined) {
      maxDiff = 0;
      for (let i = 0; i < V; i++) maxDiff = Math.max(maxDiff, Math.abs(first[i]! - reference[i]!) / Math.max(1, Math.abs(reference[i]!)));
      if (storage === 'f32' && !(maxDiff <= TOL))
        throw new Error(`validation failed: wasm f32 ×${threads} logits differ from ts by ${maxDiff}`);
    }
    rows.push({ backend: 'wasm', storage, threads, decodeTps: d, prefillTps: p, maxDiff });
    m.dispose();
  }
  await backend.dispose();
}

/**
 * A model whose matrices are uploaded in `storage`: a backend wrapper that rewrites upload's
 * storage argument for 2-D tensors other than emb (what a strategy "wasm bf16" / "wasm fp32i8"
 * asks for).
 */
function loadWithStorage(backend: WasmBackend, storage: WeightStorage): RwkvModel {
  const upload: WasmBackend['upload'] = (data, shape, label, s) =>
    backend.upload(data, shape, label, shape.length === 2 && !label.endsWith('emb.weight') ? storage : s);
  const wrapped = new Proxy(backend, {
    get(target, key) {
      if (key === 'upload') return upload;
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return RwkvModel.fromCheckpoint(ckpt, { backend: wrapped, weights: 'f32' });
}

/**
 * Synchronisation cost of one job: a 4-row f32 product per thread (a few ns of work) dispatched
 * to all threads, median over 2000 jobs; and the machine's copy bandwidth (200 MB memcpy) as the
 * yardstick for the GB/s column.
 */
async function syncRoundTrip(threads: number): Promise<number> {
  const memory = createSharedMemory(2);
  const module = kernelModule('portable');
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const pool = await ThreadPool.create(module, memory, 1024, exports, ['matmulF32'], threads);
  const O = 4 * threads;
  const args = [16384, 32768, 49152, 1, 4, O, 0, 0];
  const t: number[] = [];
  for (let i = 0; i < 2200; i++) {
    const t0 = performance.now();
    pool.run(0, args, O, threads);
    if (i >= 200) t.push(performance.now() - t0);
  }
  await pool.close();
  return median(t) * 1000;
}
const syncUs = THREADS.filter((n) => n > 1).map((n) => [n, 0] as [number, number]);
for (const s of syncUs) s[1] = await syncRoundTrip(s[0]);
const copy = (() => {
  const n = 50e6;
  const a = new Float32Array(n);
  const b = new Float32Array(n).fill(1);
  const t: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    a.set(b);
    t.push(performance.now() - t0);
  }
  return (8 * n) / median(t) / 1e6;
})();

const ts = rows.find((r) => r.backend === 'ts');
printHeader('RWKV-7 0.1B-shaped decode / prefill (bench/wasm-decode.bench.ts)', env, [
  `model: random RWKV-7, ${LAYERS} layers, C ${C}, vocab ${V}, head 64, FFN ${F}, LoRA w 64 / a 64 / v 32 / g 128`,
  `matrix weights read per decode token: ${(matrixElems / 1e6).toFixed(1)} M values (${fmt((matrixElems * 4) / 1e6)} MB as f32)`,
  `wasm build: ${variant}`,
  `decode: median of ${DECODE} greedy steps (ts: ${Math.min(DECODE, 4)}); prefill: ${PREFILL} tokens, median of 3 calls (ts: 1)`,
  'max |Δ| logits vs ts fp32 on the first token, relative above |x| = 1 (fp32 must be ≤ 1e-4; compact storage is lossy)',
  `memcpy of 200 MB (Float32Array.set) in this run: ${fmt(copy)} GB/s read + write`,
  ...syncUs.map(([n, us]) => `thread dispatch round trip (${n} threads, near-empty job, median of 2000): ${fmt(us)} µs`),
]);
console.log(
  markdownTable(
    ['backend', 'weights', '>threads', '>decode tok/s', '>GB/s', '>× ts', '>prefill tok/s', '>max |Δ| vs ts fp32'],
    rows.map((r) => [
      r.backend,
      r.storage,
      String(r.threads),
      fmt(r.decodeTps),
      fmt((r.decodeTps * matrixElems * BYTES_PER[r.storage as WeightStorage]) / 1e9),
      ts ? fmt(r.decodeTps / ts.decodeTps) : '—',
      r.prefillTps === undefined ? '—' : fmt(r.prefillTps),
      Number.isNaN(r.maxDiff) ? '—' : r.maxDiff.toExponential(1),
    ]),
  ),
);
