// The engine of `rwkv bench` (src/cli/bench.ts): random RWKV-7 models with the real shapes of the
// released ones, and decode / prefill timing, under any strategy, without a model file. No Node
// module here, so the browser benchmark (bench/browser/) runs the same code in a page.
//
// The weights are seeded random numbers generated straight into the model (each tensor is made
// when the loader asks for it, into the backend's memory where the backend can take it, so a
// float32 weight has no host copy), scaled like an initialised network so that activations stay
// O(1) through every layer. Not trained: the numbers are for speed and memory only.
//
//   decode   one forward() per token, state carried, next token = argmax (what generation does),
//            after an 8-token prompt; tok/s = decode / seconds. Median of --runs runs.
//   prefill  one forward() of --prefill random tokens from a fresh state (GPT mode, last-token
//            logits); tok/s = prefill / seconds. Median of --runs runs.
//   bytes read per token: every weight a decode step reads (all of them but the embedding
//            table, of which one row), in the storage the strategy chose.
//   peak RSS: process.resourceUsage().maxRSS, the whole process (includes the random generator).

import { createRng } from '../generate/rng.ts';
import { argmax } from '../generate/sampler.ts';
import { RwkvError } from '../errors.ts';
import { type Checkpoint, lazyTensor } from '../tensor/tensor.ts';
import { RwkvModel } from '../model/model.ts';
import { type OpenedStrategy, closeStrategy, describePlacement, openStrategy, parseStrategy } from '../strategy.ts';

/** An RWKV-7 shape: L layers, C = n_embd, V vocab, N head size, F = 4C, LoRA ranks. */
export interface BenchShape {
  readonly name: string;
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nVocab: number;
  readonly headSize: number;
  readonly nFfn: number;
  readonly ranks: { readonly w: number; readonly a: number; readonly v: number; readonly g: number };
}

/**
 * The released RWKV-7 World models' shapes (config.json of fla-hub/rwkv7-0.4B-world and
 * rwkv7-1.5B-world; 0.1B: C = 768 with the LoRA ranks of RWKV-LM RWKV-v7/train_temp/src/model.py
 * L547-563): vocab 65536, head size 64, FFN 4C.
 */
export const SHAPES: Readonly<Record<string, BenchShape>> = {
  '0.1B': { name: '0.1B', nLayer: 12, nEmbd: 768, nVocab: 65536, headSize: 64, nFfn: 3072, ranks: { w: 64, a: 64, v: 32, g: 128 } },
  '0.4B': { name: '0.4B', nLayer: 24, nEmbd: 1024, nVocab: 65536, headSize: 64, nFfn: 4096, ranks: { w: 64, a: 64, v: 32, g: 128 } },
  '1.5B': { name: '1.5B', nLayer: 24, nEmbd: 2048, nVocab: 65536, headSize: 64, nFfn: 8192, ranks: { w: 96, a: 96, v: 64, g: 256 } },
};

/**
 * RWKV-LM's suggested LoRA rank (RWKV-v7 train_temp model.py): max(32, round(k·x / 32)·32).
 * With x = √C for w, a (k 1.8) and v (k 1.3) and x = C^0.8 for g (k 0.6) it gives the released
 * 0.1B and 1.5B ranks.
 */
function suggestedRank(k: number, x: number): number {
  return Math.max(32, Math.round((k * x) / 32) * 32);
}

/**
 * "0.1B" | "0.4B" | "1.5B" | "L,C,V" (head size 64, or C when C < 64). A bad shape is an
 * RwkvError INVALID_ARGUMENT (argument 'shape'); `rwkv bench` reports it as a usage error.
 */
export function parseShape(s: string): BenchShape {
  const preset = SHAPES[s];
  if (preset !== undefined) return preset;
  const m = /^(\d+),(\d+),(\d+)$/.exec(s.replace(/\s+/g, ''));
  if (m === null) {
    throw new RwkvError('INVALID_ARGUMENT', 'not a bench shape', {
      argument: 'shape',
      expected: `${Object.keys(SHAPES).join(', ')} or L,C,V (e.g. 2,128,1000)`,
      actual: JSON.stringify(s),
    });
  }
  const [L, C, V] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const N = Math.min(64, C);
  if (L < 1 || C < 1 || V < 2 || C % N !== 0) {
    throw new RwkvError('INVALID_ARGUMENT', 'a shape L,C,V needs L ≥ 1, V ≥ 2 and C a multiple of 64 (or C < 64)', {
      argument: 'shape',
      actual: JSON.stringify(s),
    });
  }
  const r = Math.sqrt(C);
  return {
    name: `${L},${C},${V}`,
    nLayer: L,
    nEmbd: C,
    nVocab: V,
    headSize: N,
    nFfn: 4 * C,
    ranks: { w: suggestedRank(1.8, r), a: suggestedRank(1.8, r), v: suggestedRank(1.3, r), g: suggestedRank(0.6, C ** 0.8) },
  };
}

const TWO_M32 = 2 ** -32;

/** FNV-1a of a key, for a per-tensor seed (so every tensor is generated alone, any number of times). */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * A random RWKV-7 checkpoint of `shape` (original checkpoint keys and shapes). Tensors are lazy:
 * each is generated from (seed, key) when read, so the checkpoint itself holds no data.
 * Scales: Linear [out, in] and LoRA [in, out] uniform with std gain/√in; vectors in the ranges
 * trained models show (token-shift mixes in [0, 1], layer-norm weights near 1, …).
 */
export function randomRwkv7Checkpoint(shape: BenchShape, seed = 1): Checkpoint {
  const { nLayer: L, nEmbd: C, nVocab: V, headSize: N, nFfn: F, ranks } = shape;
  const H = C / N;
  const ck: Checkpoint = new Map();
  const put = (key: string, dims: number[], lo: number, hi: number) => {
    const n = dims.reduce((a, b) => a * b, 1);
    const fill = (d: Float32Array) => {
      const rng = createRng((hash(key) ^ seed) >>> 0);
      const span = hi - lo;
      // 32 random bits per value are plenty for weights (and half the work of nextFloat's 53)
      for (let i = 0; i < n; i++) d[i] = lo + span * (rng.nextUint32() * TWO_M32);
    };
    const decode = () => {
      const d = new Float32Array(n);
      fill(d);
      return d;
    };
    // readInto: a backend that can (wasm) gets the values generated straight into its memory
    ck.set(key, lazyTensor(dims, 'F32', decode, undefined, fill));
  };
  /** uniform with std gain/√inp: half-width √3·gain/√inp */
  const scaled = (key: string, dims: number[], inp: number, gain = 1) => {
    const a = (gain * Math.sqrt(3)) / Math.sqrt(inp);
    put(key, dims, -a, a);
  };
  const vec = (key: string, lo: number, hi: number, n = C) => put(key, [1, 1, n], lo, hi);
  const ln = (prefix: string) => {
    put(`${prefix}.weight`, [C], 0.7, 1.3);
    put(`${prefix}.bias`, [C], -0.2, 0.2);
  };
  put('emb.weight', [V, C], -1, 1);
  ln('blocks.0.ln0');
  for (let i = 0; i < L; i++) {
    const p = `blocks.${i}.`;
    ln(`${p}ln1`);
    ln(`${p}ln2`);
    for (const m of ['r', 'w', 'k', 'v', 'a', 'g']) vec(`${p}att.x_${m}`, 0, 1);
    vec(`${p}att.w0`, -2, 1);
    scaled(`${p}att.w1`, [C, ranks.w], C);
    scaled(`${p}att.w2`, [ranks.w, C], ranks.w);
    vec(`${p}att.a0`, -1, 1);
    scaled(`${p}att.a1`, [C, ranks.a], C);
    scaled(`${p}att.a2`, [ranks.a, C], ranks.a);
    vec(`${p}att.v0`, -1, 1);
    scaled(`${p}att.v1`, [C, ranks.v], C);
    scaled(`${p}att.v2`, [ranks.v, C], ranks.v);
    scaled(`${p}att.g1`, [C, ranks.g], C);
    scaled(`${p}att.g2`, [ranks.g, C], ranks.g);
    vec(`${p}att.k_k`, 0.5, 1.5);
    vec(`${p}att.k_a`, 0, 1);
    put(`${p}att.r_k`, [H, N], -1, 1);
    for (const m of ['key', 'value', 'receptance', 'output']) scaled(`${p}att.${m}.weight`, [C, C], C);
    ln(`${p}att.ln_x`);
    vec(`${p}ffn.x_k`, 0, 1);
    scaled(`${p}ffn.key.weight`, [F, C], C);
    scaled(`${p}ffn.value.weight`, [C, F], F);
  }
  ln('ln_out');
  scaled('head.weight', [V, C], C, 2);
  return ck;
}

export interface BenchResult {
  shape: BenchShape;
  params: number;
  strategy: string;
  placement: string[];
  threads: number | null;
  loadSeconds: number;
  weightBytes: Record<string, number>;
  weightBytesPerToken: number;
  decode: { tokens: number; tokPerSec: number; runs: number[] };
  prefill: { tokens: number; tokPerSec: number; runs: number[] } | null;
  peakRssBytes: number | null;
  runtime: string;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function checkFinite(logits: Float32Array, what: string): void {
  for (let i = 0; i < logits.length; i++) {
    if (!Number.isFinite(logits[i]!)) {
      throw new RwkvError('INVALID_ARGUMENT', `${what}: logit ${i} is ${logits[i]}; the random weights overflowed`);
    }
  }
}

export function peakRss(): number | null {
  const p = (globalThis as { process?: { resourceUsage?: () => { maxRSS: number } } }).process;
  try {
    const r = p?.resourceUsage?.();
    return r !== undefined && r.maxRSS > 0 ? r.maxRSS * 1024 : null; // maxRSS is in KiB
  } catch {
    return null;
  }
}

export function runtimeName(): string {
  const g = globalThis as { Deno?: { version: { deno: string } }; Bun?: { version: string }; process?: { version: string } };
  if (g.Deno) return `deno ${g.Deno.version.deno}`;
  if (g.Bun) return `bun ${g.Bun.version}`;
  return `node ${g.process?.version ?? '?'}`;
}

export interface BenchOptions {
  shape: BenchShape;
  strategy: string;
  prefill: number;
  decode: number;
  threads?: number;
  runs: number;
  seed: number;
  /** progress lines (text mode) */
  log?: (s: string) => void;
}

/** A loaded bench model and what it reads per token. */
export interface BenchModel {
  readonly model: RwkvModel;
  readonly opened: OpenedStrategy;
  readonly params: number;
  readonly loadSeconds: number;
  readonly weightBytesPerToken: number;
  /** Free the model and release its backends (wasm workers). */
  close(): Promise<void>;
}

/** Generate the random weights of `shape` straight into a model run by `strategy`. */
export async function loadBenchModel(shape: BenchShape, strategy: string, seed: number, threads?: number): Promise<BenchModel> {
  const ckpt = randomRwkv7Checkpoint(shape, seed);
  let params = 0;
  for (const t of ckpt.values()) params += t.shape.reduce((a, b) => a * b, 1);
  const t0 = performance.now();
  const opened = await openStrategy(parseStrategy(strategy), shape.nLayer, threads !== undefined ? { threads } : {});
  const model = await RwkvModel.create(ckpt, { strategy: opened });
  const loadSeconds = (performance.now() - t0) / 1000;
  const b = model.weightBytes;
  // a decode step reads every weight but the embedding table (float32), of which one row
  const weightBytesPerToken = b.f32 + b.bf16 + b.f16 + b.i8 - 4 * shape.nEmbd * (shape.nVocab - 1);
  const close = async () => {
    await model.dispose();
    await closeStrategy(opened);
  };
  return { model, opened, params, loadSeconds, weightBytesPerToken, close };
}

/** Seeded random token ids in [lo, V). */
export function benchTokens(n: number, V: number, seed: number, lo = 0): number[] {
  const rng = createRng(seed >>> 0);
  return Array.from({ length: n }, () => lo + Math.floor(rng.nextFloat() * (V - lo)));
}

/**
 * Decode tok/s: feed `prompt`, then `n` single-token calls, each on the argmax of the last
 * logits (only the n calls are timed).
 */
export async function timeDecode(model: RwkvModel, prompt: readonly number[], n: number): Promise<number> {
  const { logits, state } = await model.forward(prompt);
  try {
    let last = logits as Float32Array;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) last = (await model.forward([argmax(last)], state)).logits as Float32Array;
    const dt = (performance.now() - t0) / 1000;
    checkFinite(last, 'decode');
    return n / dt;
  } finally {
    state.dispose();
  }
}

/** Prefill tok/s: one GPT-mode call on `tokens` from a fresh state. */
export async function timePrefill(model: RwkvModel, tokens: readonly number[]): Promise<number> {
  const t0 = performance.now();
  const r = await model.forward(tokens);
  const dt = (performance.now() - t0) / 1000;
  r.state.dispose();
  checkFinite(r.logits as Float32Array, 'prefill');
  return tokens.length / dt;
}

/** Build the model and time it (the logic of `rwkv bench`). */
export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const { shape } = o;
  const { model, opened, params, loadSeconds, weightBytesPerToken, close } = await loadBenchModel(shape, o.strategy, o.seed, o.threads);
  try {
    const prompt = benchTokens(8, shape.nVocab, o.seed ^ 0x5eed);
    const prefillTokens = benchTokens(o.prefill, shape.nVocab, o.seed ^ 0xf111);
    // warm-up (JIT, backend scratch): a short prompt and two decode steps
    await timeDecode(model, prompt, 2);
    const decodeRuns: number[] = [];
    const prefillRuns: number[] = [];
    for (let run = 0; run < o.runs; run++) {
      // decode and prefill alternate, so both see the same machine conditions
      const d = await timeDecode(model, prompt, o.decode);
      decodeRuns.push(d);
      o.log?.(`  run ${run + 1}/${o.runs}: decode ${d.toFixed(2)} tok/s`);
      if (o.prefill > 0) {
        const p = await timePrefill(model, prefillTokens);
        prefillRuns.push(p);
        o.log?.(`  run ${run + 1}/${o.runs}: prefill ${p.toFixed(2)} tok/s`);
      }
    }
    return {
      shape,
      params,
      strategy: opened.strategy.text,
      placement: describePlacement(opened),
      threads: o.threads ?? null,
      loadSeconds,
      weightBytes: { ...model.weightBytes },
      weightBytesPerToken,
      decode: { tokens: o.decode, tokPerSec: median(decodeRuns), runs: decodeRuns },
      prefill: o.prefill > 0 ? { tokens: o.prefill, tokPerSec: median(prefillRuns), runs: prefillRuns } : null,
      peakRssBytes: peakRss(),
      runtime: runtimeName(),
    };
  } finally {
    await close();
  }
}
