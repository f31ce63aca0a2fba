// TS backend kernels (src/backends/ts/kernels.ts): time per call and GFLOP/s at the widths of real
// models, C ∈ {768, 1024, 2048}, for one token (T = 1, decode) and a chunk (T = 16, prefill).
//
//   npx tsx bench/kernels.bench.ts
//   node_modules/.bin/deno run -A bench/kernels.bench.ts
//   node_modules/.bin/bun bench/kernels.bench.ts
//
// Each kernel is validated once against a straightforward implementation written here (plain
// loops in f64, the textbook formula: WKV-4 without the max trick, WKV-5/7 with an explicit state
// matrix) before it is timed, and every result is consumed.
//
// GFLOP/s uses these per-call counts (exp / division / sqrt count as one FLOP each):
//   matmul [T,C]·[C,C]ᵀ  2·T·C²        layerNorm, groupNorm   8·T·C    sigmoid  3·T·C   lerp  3·T·C
//   wkv4                 23·T·C        wkv5 (v5 and v6 decay) 7·T·C·N  wkv7     9·T·C·N  (N = 64)
//
// "× dot" = the kernel's GFLOP/s ÷ that of a plain in-cache dot product (two 1024-float
// Float32Arrays, f64 accumulator) measured in the same run, right before and right after the
// kernel's (C, T) group: the share of this runtime's scalar multiply-add rate the kernel reaches,
// which travels between machines (and through a noisy one) better than raw GFLOP/s.
//
// Second table: the WASM matrix kernels (assembly/kernels/matmul/ through WasmBackend.matmul,
// thread dispatch included) against the TS ones at the RWKV-7 0.1B shapes (O×K = 768×768,
// 3072×768 and the 65536×768 head), W stored as f32, bf16, f16 and int8, 1 and all threads, each
// validated against its TS twin (same storage) before timing. GB/s = weight bytes ÷ time (what
// decode is bound by), GFLOP/s = 2·T·O·K ÷ time (what prefill is bound by). The TS kernels run
// only where a call stays under 64 M multiply-adds (T = 1, and T > 1 at 768×768); above that the
// wasm result is validated on its first 512 rows.
//
// Environment (all optional):
//   BENCH_TIME_MS    time budget per task, ms   (default 200)
//   BENCH_WARMUP_MS  warm-up per task, ms       (default 30)
//   BENCH_C          widths                     (default 768,1024,2048)
//   BENCH_T          token counts               (default 1,16; the style guide's full set adds 128)
//   BENCH_KERNELS    subset, e.g. matmul,wkv7   (default all)
//   BENCH_WASM       0 = skip the WASM matmul table            (default 1)
//   BENCH_MM_T       token counts of that table                (default 1,64)
//   BENCH_MM_THREADS wasm thread counts                        (default 1,<available cores>)

import { availableParallelism } from 'node:os';
import { Bench } from 'tinybench';
import type { WeightStorage } from '../src/backends/backend.ts';
import { quantizeI8 } from '../src/backends/quant-i8.ts';
import * as K from '../src/backends/ts/kernels.ts';
import { WasmBackend } from '../src/backends/wasm/wasm-backend.ts';
import { floatToHalf } from '../src/tensor/float.ts';
import { DECAY_SCALE } from '../src/constants.ts';
import {
  dotLoop,
  envList,
  envNumber,
  environment,
  expectClose,
  fmt,
  markdownTable,
  printHeader,
  progress,
  rng,
  sink,
  timingOf,
} from './common.ts';
import { wkv7AB } from '../test/helpers/wkv7-operands.ts';

const TIME_MS = envNumber('BENCH_TIME_MS', 200);
const WARMUP_MS = envNumber('BENCH_WARMUP_MS', 30);
const WIDTHS = envList('BENCH_C', ['768', '1024', '2048']).map(Number);
const TOKENS = envList('BENCH_T', ['1', '16']).map(Number);
const ONLY = envList('BENCH_KERNELS', []);
const N = 64; // head size of every real v5/v6/v7 model
const TOL = 1e-4;
/** Calls shorter than this are batched (the task runs the kernel `reps` times per sample). */
const MIN_SAMPLE_MS = 0.05;

const rand = rng(7);
const uniform = (n: number, lo: number, hi: number) => {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rand();
  return a;
};

// ---------- straightforward implementations (the validation references) ----------

function refMatmul(x: Float32Array, W: Float32Array, T: number, Kd: number, O: number): Float64Array {
  const out = new Float64Array(T * O);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < O; o++) {
      let s = 0;
      for (let k = 0; k < Kd; k++) s += x[t * Kd + k]! * W[o * Kd + k]!;
      out[t * O + o] = s;
    }
  }
  return out;
}

function refLayerNorm(x: Float32Array, w: Float32Array, b: Float32Array, T: number, C: number, G: number): Float64Array {
  const out = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    for (let g0 = 0; g0 < C; g0 += G) {
      const xs = Array.from(x.subarray(t * C + g0, t * C + g0 + G));
      const mean = xs.reduce((a, v) => a + v, 0) / G;
      const variance = xs.reduce((a, v) => a + (v - mean) ** 2, 0) / G;
      xs.forEach((v, i) => {
        out[t * C + g0 + i] = ((v - mean) / Math.sqrt(variance + 1e-5)) * w[g0 + i]! + b[g0 + i]!;
      });
    }
  }
  return out;
}

/** WKV-4 in plain exponentials: a, b = numerator, denominator (no max trick). */
function refWkv4(
  a0: Float32Array,
  b0: Float32Array,
  p0: Float32Array,
  w: Float32Array,
  u: Float32Array,
  k: Float32Array,
  v: Float32Array,
  T: number,
  C: number,
) {
  const out = new Float64Array(T * C);
  const a = Array.from(a0, (x, c) => x * Math.exp(p0[c]!));
  const b = Array.from(b0, (x, c) => x * Math.exp(p0[c]!));
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < C; c++) {
      const kt = k[t * C + c]!;
      const vt = v[t * C + c]!;
      const eu = Math.exp(u[c]! + kt);
      out[t * C + c] = (a[c]! + eu * vt) / (b[c]! + eu);
      a[c] = Math.exp(w[c]!) * a[c]! + Math.exp(kt) * vt;
      b[c] = Math.exp(w[c]!) * b[c]! + Math.exp(kt);
    }
  }
  return { out, a, b };
}

/** WKV-5/6: y = rᵀ(diag(u)·k·vᵀ + S); S ← k·vᵀ + diag(w)·S, per head. */
function refWkv5(
  S0: Float32Array,
  r: Float32Array,
  k: Float32Array,
  v: Float32Array,
  w: Float32Array,
  u: Float32Array,
  T: number,
  H: number,
  wPerToken: boolean,
) {
  const C = H * N;
  const S = Float64Array.from(S0);
  const out = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) {
      const at = (i: number) => t * C + h * N + i;
      const Sh = (i: number, j: number) => h * N * N + i * N + j;
      for (let j = 0; j < N; j++) {
        let y = 0;
        for (let i = 0; i < N; i++) y += r[at(i)]! * (u[h * N + i]! * k[at(i)]! * v[at(j)]! + S[Sh(i, j)]!);
        out[at(j)] = y;
      }
      for (let i = 0; i < N; i++) {
        const wi = wPerToken ? w[at(i)]! : w[h * N + i]!;
        for (let j = 0; j < N; j++) S[Sh(i, j)] = k[at(i)]! * v[at(j)]! + wi * S[Sh(i, j)]!;
      }
    }
  }
  return { out, S };
}

/** WKV-7: S ← S·diag(w) + (S·a)·bᵀ + v·kᵀ; y = S·r, per head. */
function refWkv7(
  S0: Float32Array,
  r: Float32Array,
  w: Float32Array,
  k: Float32Array,
  v: Float32Array,
  a: Float32Array,
  b: Float32Array,
  T: number,
  H: number,
) {
  const C = H * N;
  const S = Float64Array.from(S0);
  const out = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) {
      const at = (i: number) => t * C + h * N + i;
      const Sh = (i: number, j: number) => h * N * N + i * N + j;
      const sa = new Float64Array(N);
      for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) sa[i]! += S[Sh(i, j)]! * a[at(j)]!;
      for (let i = 0; i < N; i++) {
        for (let j = 0; j < N; j++) S[Sh(i, j)] = S[Sh(i, j)]! * w[at(j)]! + sa[i]! * b[at(j)]! + v[at(i)]! * k[at(j)]!;
      }
      for (let i = 0; i < N; i++) {
        let y = 0;
        for (let j = 0; j < N; j++) y += S[Sh(i, j)]! * r[at(j)]!;
        out[at(i)] = y;
      }
    }
  }
  return { out, S };
}

// ---------- cases ----------

interface Case {
  kernel: string;
  C: number;
  T: number;
  /** FLOPs of one call. */
  flops: number;
  /** One kernel call; returns a value to consume. */
  run(): number;
  /** Validate one call (on copies of the inputs) against the reference; throws on mismatch. */
  validate(): void;
}

function cases(C: number, T: number): Case[] {
  const H = C / N;
  const n = T * C;
  const label = `C=${C} T=${T}`;
  const list: Case[] = [];

  {
    const x = uniform(n, -1, 1);
    const W = uniform(C * C, -1 / Math.sqrt(C), 1 / Math.sqrt(C));
    const out = new Float32Array(T * C);
    list.push({
      kernel: 'matmul [T,C]·[C,C]ᵀ',
      C,
      T,
      flops: 2 * T * C * C,
      run: () => (K.matmul(out, x, W, T, C, C), out[0]!),
      validate: () => {
        K.matmul(out, x, W, T, C, C);
        expectClose(`matmul ${label}`, out, refMatmul(x, W, T, C, C), TOL);
      },
    });
  }
  for (const [name, G] of [
    ['layerNorm (G = C)', C],
    ['groupNorm (G = 64)', N],
  ] as const) {
    const x = uniform(n, -3, 3);
    const w = uniform(C, 0.5, 1.5);
    const b = uniform(C, -0.5, 0.5);
    const out = new Float32Array(n);
    list.push({
      kernel: name,
      C,
      T,
      flops: 8 * n,
      run: () => (K.layerNorm(out, x, w, b, T, C, G, 1e-5), out[0]!),
      validate: () => {
        K.layerNorm(out, x, w, b, T, C, G, 1e-5);
        expectClose(`${name} ${label}`, out, refLayerNorm(x, w, b, T, C, G), TOL);
      },
    });
  }
  {
    const x = uniform(n, -6, 6);
    const out = new Float32Array(n);
    list.push({
      kernel: 'sigmoid',
      C,
      T,
      flops: 3 * n,
      run: () => (K.unary('sigmoid', out, x, n), out[0]!),
      validate: () => {
        K.unary('sigmoid', out, x, n);
        expectClose(
          `sigmoid ${label}`,
          out,
          Array.from(x, (v) => 1 / (1 + Math.exp(-v))),
          TOL,
        );
      },
    });
  }
  {
    const a = uniform(n, -1, 1);
    const b = uniform(C, -1, 1);
    const t = uniform(C, 0, 1);
    const out = new Float32Array(n);
    list.push({
      kernel: 'lerp (b, t: [C])',
      C,
      T,
      flops: 3 * n,
      run: () => (K.lerp(out, a, b, t, n, C, C), out[0]!),
      validate: () => {
        K.lerp(out, a, b, t, n, C, C);
        expectClose(
          `lerp ${label}`,
          out,
          Array.from(a, (v, i) => v + (b[i % C]! - v) * t[i % C]!),
          TOL,
        );
      },
    });
  }
  {
    const w = Float32Array.from(uniform(C, -2, 1), (d) => -Math.exp(d)); // w = −exp(time_decay)
    const u = uniform(C, -1, 1);
    const k = uniform(n, -1, 1);
    const v = uniform(n, -1, 1);
    const aa = uniform(C, -1, 1);
    const bb = uniform(C, 0.5, 1.5);
    const pp = uniform(C, -1, 1);
    const out = new Float32Array(n);
    list.push({
      kernel: 'wkv4',
      C,
      T,
      flops: 23 * n,
      run: () => (K.wkv4(out, aa, bb, pp, w, u, k, v, T, C), out[0]!),
      validate: () => {
        const [a2, b2, p2] = [aa.slice(), bb.slice(), pp.slice()];
        const ref = refWkv4(aa, bb, pp, w, u, k, v, T, C);
        K.wkv4(out, a2, b2, p2, w, u, k, v, T, C);
        expectClose(`wkv4 out ${label}`, out, ref.out, TOL);
        expectClose(
          `wkv4 numerator ${label}`,
          Array.from(a2, (x, c) => x * Math.exp(p2[c]!)),
          ref.a,
          TOL,
        );
        expectClose(
          `wkv4 denominator ${label}`,
          Array.from(b2, (x, c) => x * Math.exp(p2[c]!)),
          ref.b,
          TOL,
        );
      },
    });
  }
  for (const perToken of [false, true]) {
    const r = uniform(n, -1, 1);
    const k = uniform(n, -1, 1);
    const v = uniform(n, -1, 1);
    const w = uniform(perToken ? n : C, 0.3, 0.99);
    const u = uniform(C, -1, 1);
    const S = uniform(H * N * N, -1, 1);
    const out = new Float32Array(n);
    const name = perToken ? 'wkv5 (v6: w [T,C])' : 'wkv5 (v5: w [C])';
    list.push({
      kernel: name,
      C,
      T,
      flops: 7 * n * N,
      run: () => (K.wkv5(out, S, r, k, v, w, u, T, H, N, perToken), out[0]!),
      validate: () => {
        const S2 = S.slice();
        const ref = refWkv5(S, r, k, v, w, u, T, H, perToken);
        K.wkv5(out, S2, r, k, v, w, u, T, H, N, perToken);
        expectClose(`${name} out ${label}`, out, ref.out, TOL);
        expectClose(`${name} state ${label}`, S2, ref.S, TOL);
      },
    });
  }
  {
    // the model's inputs: a = −κ̂ (unit length per head), b = κ̂ ∘ iclr, w = exp(−e^−0.5·σ(·))
    const r = uniform(n, -1, 1);
    const k = uniform(n, -1, 1);
    const v = uniform(n, -1, 1);
    const w = Float32Array.from(uniform(n, -4, 4), (x) => Math.exp(-DECAY_SCALE / (1 + Math.exp(-x))));
    const { a, b } = wkv7AB(uniform(n, -1, 1), uniform(n, 0, 1), N);
    const S = uniform(H * N * N, -1, 1);
    const out = new Float32Array(n);
    list.push({
      kernel: 'wkv7',
      C,
      T,
      flops: 9 * n * N,
      run: () => (K.wkv7(out, S, r, w, k, v, a, b, T, H, N), out[0]!),
      validate: () => {
        const S2 = S.slice();
        const ref = refWkv7(S, r, w, k, v, a, b, T, H);
        K.wkv7(out, S2, r, w, k, v, a, b, T, H, N);
        expectClose(`wkv7 out ${label}`, out, ref.out, TOL);
        expectClose(`wkv7 state ${label}`, S2, ref.S, TOL);
      },
    });
  }
  return list.filter((c) => ONLY.length === 0 || ONLY.some((o) => c.kernel.startsWith(o)));
}

// ---------- the machine baseline: an in-cache dot product ----------

const DOT_N = 1024;
const DOT_REPS = 64;
const dx = uniform(DOT_N, -1, 1);
const dy = uniform(DOT_N, -1, 1);
const dot = () => dotLoop(dx, dy, DOT_N, DOT_REPS);
const DOT_FLOPS = 2 * DOT_N * DOT_REPS;

// ---------- main ----------

const env = environment();
const started = performance.now();
/** One group per (C, T); the dot baseline runs before the first group, between groups and after the last. */
const groups: Case[][] = [];
for (const C of WIDTHS) {
  if (!Number.isInteger(C) || C <= 0 || C % N !== 0) throw new Error(`BENCH_C: ${C} is not a positive multiple of ${N}`);
  for (const T of TOKENS) {
    if (!Number.isInteger(T) || T <= 0) throw new Error(`BENCH_T: ${T} is not a positive integer`);
    groups.push(cases(C, T));
  }
}
const all = groups.flat();

// validate every case once, then size its batch so that one sample lasts ≥ MIN_SAMPLE_MS
{
  let ref = 0;
  for (let i = 0; i < DOT_N; i++) ref += dx[i]! * dy[i]!;
  expectClose('dot baseline', [dot()], [ref * DOT_REPS], 1e-9);
}
const reps = new Map<Case, number>();
progress(`validating ${all.length} kernel cases`);
for (const c of all) {
  c.validate();
  const t0 = performance.now();
  let calls = 0;
  do {
    sink.value += c.run();
    calls++;
  } while (performance.now() - t0 < 1 && calls < 1000);
  const perCall = (performance.now() - t0) / calls;
  reps.set(c, Math.max(1, Math.ceil(MIN_SAMPLE_MS / perCall)));
}

const bench = new Bench({ time: TIME_MS, warmupTime: WARMUP_MS, warmupIterations: 2, iterations: 5, throws: true });
// The dot task is dotLoop itself, bound to its arguments (tinybench receives, so consumes, its
// result). Wrapped in a closure (`() => { sink.value += dot(); }`), Deno 2.9 (V8 15.0) inlined the
// double loop into the closure and ran it ~5× slower; the bound function runs at full speed on all
// three runtimes.
const dotTask = dotLoop.bind(null, dx, dy, DOT_N, DOT_REPS);
const addDot = (g: number) => bench.add(`dot ${g}`, dotTask);
const taskName = new Map<Case, string>();
groups.forEach((group, g) => {
  addDot(g);
  for (const c of group) {
    const r = reps.get(c)!;
    const name = `${c.kernel} C=${c.C} T=${c.T}`;
    taskName.set(c, name);
    bench.add(name, () => {
      for (let j = 0; j < r; j++) sink.value += c.run();
    });
  }
});
addDot(groups.length);
bench.addEventListener('cycle', (e) => {
  if (e.task !== undefined) progress(e.task.name);
});
await bench.run();
if (!Number.isFinite(sink.value)) console.warn(`warning: a kernel result was not finite (${sink.value}); state blew up?`);

const dotGflops = (g: number) => DOT_FLOPS / timingOf(bench.getTask(`dot ${g}`)!).medianMs / 1e6;
const dots = Array.from({ length: groups.length + 1 }, (_, g) => dotGflops(g));

printHeader('TS backend kernels (bench/kernels.bench.ts)', env, [
  'backend: ts kernels (src/backends/ts/kernels.ts), called directly on Float32Arrays, 1 thread',
  `per task ≥ 5 samples and ≥ ${TIME_MS} ms after ${WARMUP_MS} ms warm-up; short calls are batched to ≥ ${MIN_SAMPLE_MS} ms per sample; time per call from the median sample`,
  `validated against straightforward f64 implementations within ${TOL} (relative above |x| = 1); N = ${N} for the WKV kernels`,
  '"dot": GFLOP/s of the in-cache dot-product baseline, the mean of its runs just before and just after the row\'s (C, T) group; "× dot" = GFLOP/s ÷ dot',
  `dot baseline over the run: ${dots.map((d) => fmt(d)).join(', ')} GFLOP/s`,
]);
console.log(
  markdownTable(
    ['kernel', '>C', '>T', '>µs/call', '>±rme %', '>calls', '>GFLOP/s', '>dot', '>× dot'],
    groups.flatMap((group, g) =>
      group.map((c) => {
        const t = timingOf(bench.getTask(taskName.get(c)!)!);
        const perCallMs = t.medianMs / reps.get(c)!;
        const gflops = c.flops / perCallMs / 1e6;
        const base = (dots[g]! + dots[g + 1]!) / 2;
        return [
          c.kernel,
          String(c.C),
          String(c.T),
          fmt(perCallMs * 1000),
          t.rme.toFixed(1),
          String(t.samples * reps.get(c)!),
          fmt(gflops),
          fmt(base),
          (gflops / base).toFixed(2),
        ];
      }),
    ),
  ),
);
console.log(`\n(total ${((performance.now() - started) / 1000).toFixed(1)} s)`);

// ---------- WASM matmul vs TS matmul at the 0.1B shapes ----------

if (envNumber('BENCH_WASM', 1) !== 0) await wasmMatmul();

async function wasmMatmul(): Promise<void> {
  const shapes: [number, number][] = [
    [768, 768],
    [3072, 768],
    [65536, 768],
  ];
  const Ts = envList('BENCH_MM_T', ['1', '64']).map(Number);
  const threadCounts = envList('BENCH_MM_THREADS', ['1', String(availableParallelism())]).map(Number);
  const storages: WeightStorage[] = ['f32', 'bf16', 'f16', 'i8'];
  const BYTES: Record<WeightStorage, number> = { f32: 4, bf16: 2, f16: 2, i8: 1 };
  const TS_MAX_MACS = 64e6;
  const VALIDATE_ROWS = 512;
  const backends = await Promise.all(threadCounts.map((threads) => WasmBackend.create({ threads })));
  const bench = new Bench({ time: TIME_MS, warmupTime: WARMUP_MS, warmupIterations: 2, iterations: 5, throws: true });
  interface Row {
    name: string;
    impl: string;
    storage: WeightStorage;
    O: number;
    K: number;
    T: number;
    threads: number;
  }
  const rows: Row[] = [];
  for (const [O, Kd] of shapes) {
    const W = uniform(O * Kd, -1 / Math.sqrt(Kd), 1 / Math.sqrt(Kd));
    const bits16 = { bf16: K.encodeBf16(W), f16: Uint16Array.from(W, floatToHalf) };
    const q = quantizeI8(W, O, Kd);
    for (const T of Ts) {
      const x = uniform(T * Kd, -1, 1);
      for (const storage of storages) {
        // the TS twin: reference for validation (on the first VALIDATE_ROWS rows where the whole
        // product would take the scalar twin too long), and timed where affordable
        const affordable = T * O * Kd <= TS_MAX_MACS;
        const Ov = affordable ? O : Math.min(O, VALIDATE_ROWS);
        const ref = new Float32Array(T * O);
        const twin = () => {
          if (storage === 'f32') K.matmul(ref, x, W, T, Kd, O);
          else if (storage === 'i8') (T === 1 ? K.matmulI8x16 : K.matmulI8)(ref, x, q, T, Kd, O);
          else K.matmul16(ref, x, bits16[storage], T, Kd, O, storage);
          return ref[0]!;
        };
        let refRows: Float32Array;
        if (affordable) {
          twin();
          refRows = ref;
        } else {
          refRows = new Float32Array(T * Ov);
          const Wv = W.subarray(0, Ov * Kd);
          if (storage === 'f32') K.matmul(refRows, x, Wv, T, Kd, Ov);
          else if (storage === 'i8')
            (T === 1 ? K.matmulI8x16 : K.matmulI8)(refRows, x, { ...q, O: Ov, q: q.q.subarray(0, Ov * Kd) }, T, Kd, Ov);
          else K.matmul16(refRows, x, bits16[storage].subarray(0, Ov * Kd), T, Kd, Ov, storage);
        }
        if (affordable) {
          const name = `ts ${storage} ${O}×${Kd} T=${T}`;
          bench.add(name, () => {
            sink.value += twin();
          });
          rows.push({ name, impl: 'ts', storage, O, K: Kd, T, threads: 1 });
        }
        for (const b of backends) {
          const w = b.upload(W, [O, Kd], 'W', storage);
          const xt = b.upload(x, [T, Kd], 'x');
          const out = b.zeros([T, O], 'out');
          b.matmul(out, xt, w);
          const got = await b.download(out);
          const gotRows = Ov === O ? got : Float32Array.from({ length: T * Ov }, (_, i) => got[Math.floor(i / Ov) * O + (i % Ov)]!);
          expectClose(`wasm ${storage} ${O}×${Kd} T=${T} ×${b.caps.threads} vs ts twin`, gotRows, refRows, 1e-4);
          const name = `wasm ${storage} ${O}×${Kd} T=${T} ×${b.caps.threads}`;
          bench.add(name, () => b.matmul(out, xt, w));
          rows.push({ name, impl: `wasm (${(b as WasmBackend).caps.variant})`, storage, O, K: Kd, T, threads: b.caps.threads });
        }
      }
    }
  }
  bench.addEventListener('cycle', (e) => {
    if (e.task !== undefined) progress(e.task.name);
  });
  await bench.run();
  printHeader('WASM vs TS matmul at the RWKV-7 0.1B shapes (bench/kernels.bench.ts)', env, [
    `wasm: ${backends.map((b) => b.caps.description).join(' | ')}`,
    'out [T, O] = x [T, K] · W [O, K]ᵀ through Backend.matmul (thread dispatch included); validated against the TS twin of the same storage within 1e-4',
    'GB/s = weight bytes of W ÷ time per call; GFLOP/s = 2·T·O·K ÷ time per call',
  ]);
  console.log(
    markdownTable(
      ['impl', 'W', '>O×K', '>T', '>threads', '>µs/call', '>±rme %', '>GB/s', '>GFLOP/s'],
      rows.map((r) => {
        const t = timingOf(bench.getTask(r.name)!);
        const s = t.medianMs / 1000;
        return [
          r.impl,
          r.storage,
          `${r.O}×${r.K}`,
          String(r.T),
          String(r.threads),
          fmt(t.medianMs * 1000),
          t.rme.toFixed(1),
          fmt((r.O * r.K * BYTES[r.storage]) / s / 1e9),
          fmt((2 * r.T * r.O * r.K) / s / 1e9),
        ];
      }),
    ),
  );
  for (const b of backends) await b.dispose();
}
