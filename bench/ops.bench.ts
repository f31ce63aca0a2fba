// The non-matmul WASM SIMD kernels (assembly/kernels/norm.ts, elementwise.ts, wkv.ts) against
// their TS twins (src/backends/ts/kernels.ts): time per call at C = 768 (H = 12 heads of N = 64,
// the RWKV 0.1B width) for one token (T = 1, decode) and a chunk (T = 64, prefill), 1 thread.
//
//   npx tsx bench/ops.bench.ts
//   node_modules/.bin/deno run -A bench/ops.bench.ts      (also runs the relaxed-SIMD build)
//   node_modules/.bin/bun bench/ops.bench.ts              (also runs the relaxed-SIMD build)
//
// Before timing, every WASM build's kernel is run once from the same inputs and state as the TS
// twin and must agree within TOL (relative above |x| = 1; outputs and states). The WASM kernels are
// driven directly on a shared memory (test/helpers/wasm-memory.ts), the way the WASM backend calls
// them: no copies in or out in the timed loop.
//
// Environment (all optional):
//   BENCH_TIME_MS    time budget per task, ms    (default 200)
//   BENCH_WARMUP_MS  warm-up per task, ms        (default 30)
//   BENCH_T          token counts                (default 1,64)
//   BENCH_KERNELS    subset, e.g. wkv7,layerNorm (default all)

import { Bench } from 'tinybench';
import * as K from '../src/backends/ts/kernels.ts';
import { DECAY_SCALE } from '../src/constants.ts';
import { opKernels, type OpKernels } from '../src/backends/wasm/abi-ops.ts';
import { instantiateKernels, wasmVariantSupported, type WasmVariant } from '../src/backends/wasm/module.ts';
import { WasmArena } from '../test/helpers/wasm-memory.ts';
import { envList, envNumber, environment, expectClose, fmt, markdownTable, printHeader, progress, rng, sink, timingOf } from './common.ts';
import { wkv7AB } from '../test/helpers/wkv7-operands.ts';

const TIME_MS = envNumber('BENCH_TIME_MS', 200);
const WARMUP_MS = envNumber('BENCH_WARMUP_MS', 30);
const TOKENS = envList('BENCH_T', ['1', '64']).map(Number);
const ONLY = envList('BENCH_KERNELS', []);
const C = 768;
const N = 64;
const H = C / N;
/** Agreement with the twin required before timing (the property tests bound it at 1e-5 too). */
const TOL = 1e-5;
/** Calls shorter than this are batched (the task runs the kernel `reps` times per sample). */
const MIN_SAMPLE_MS = 0.05;

const rand = rng(11);
const uniform = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());

const VARIANTS = (['portable', 'relaxed'] as WasmVariant[]).filter((v) => wasmVariantSupported(v));
const builds = VARIANTS.map((variant) => {
  const arena = new WasmArena(64);
  return { variant, arena, ops: opKernels(instantiateKernels(arena.memory, variant)) };
});

/** One implementation of a case: a call, plus how to read back what it wrote. */
interface Impl {
  name: string;
  run(): void;
  /** [label, values] of every output and state, after a run. */
  results(): [string, Float32Array][];
}

interface Case {
  kernel: string;
  T: number;
  impls: Impl[];
}

/**
 * A case: `inputs` are copied into each implementation's own buffers (the TS twin's Float32Arrays,
 * each WASM build's arena), so every implementation starts from the same values and state.
 * `outputs` names the buffers compared after one call (outputs and in/out state).
 */
function makeCase(
  kernel: string,
  T: number,
  inputs: Record<string, Float32Array>,
  outputs: Record<string, number>,
  ts: (b: Record<string, Float32Array>) => void,
  wasm: (ops: OpKernels, p: Record<string, number>) => void,
): Case {
  const tsBufs: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(inputs)) tsBufs[k] = v.slice();
  for (const [k, n] of Object.entries(outputs)) tsBufs[k] ??= new Float32Array(n);
  const impls: Impl[] = [
    {
      name: 'ts',
      run: () => ts(tsBufs),
      results: () => Object.keys(outputs).map((k) => [k, tsBufs[k]!.slice()]),
    },
  ];
  for (const { variant, arena, ops } of builds) {
    const ptrs: Record<string, number> = {};
    for (const [k, v] of Object.entries(inputs)) ptrs[k] = arena.put(v, k);
    for (const [k, n] of Object.entries(outputs)) ptrs[k] ??= arena.alloc(n, k);
    impls.push({
      name: `wasm ${variant}`,
      run: () => wasm(ops, ptrs),
      results: () => Object.entries(outputs).map(([k, n]) => [k, arena.get(ptrs[k]!, n)]),
    });
  }
  return { kernel, T, impls };
}

function cases(T: number): Case[] {
  const n = T * C;
  const list: Case[] = [];
  for (const [name, G] of [
    ['layerNorm (G = C)', C],
    ['groupNorm (G = 64)', N],
  ] as const) {
    list.push(
      makeCase(
        name,
        T,
        { x: uniform(n, -3, 3), w: uniform(C, 0.5, 1.5), b: uniform(C, -0.5, 0.5) },
        { out: n },
        (b) => K.layerNorm(b.out!, b.x!, b.w!, b.b!, T, C, G, 1e-5),
        (ops, p) => ops.layerNorm(p.out!, p.x!, p.w!, p.b!, T, C, G, 1e-5),
      ),
    );
  }
  list.push(
    makeCase(
      'lerp (b, t: [C])',
      T,
      { a: uniform(n, -1, 1), b: uniform(C, -1, 1), t: uniform(C, 0, 1) },
      { out: n },
      (b) => K.lerp(b.out!, b.a!, b.b!, b.t!, n, C, C),
      (ops, p) => ops.lerp(p.out!, p.a!, p.b!, p.t!, n, C, C),
    ),
  );
  list.push(
    makeCase(
      'sigmoid',
      T,
      { x: uniform(n, -6, 6) },
      { out: n },
      (b) => K.unary('sigmoid', b.out!, b.x!, n),
      (ops, p) => ops.unarySigmoid(p.out!, p.x!, n),
    ),
  );
  list.push(
    makeCase(
      'wkv4',
      T,
      {
        w: Float32Array.from(uniform(C, -2, 1), (d) => -Math.exp(d)),
        u: uniform(C, -1, 1),
        k: uniform(n, -1, 1),
        v: uniform(n, -1, 1),
        aa: uniform(C, -1, 1),
        bb: uniform(C, 0.5, 1.5),
        pp: uniform(C, -1, 1),
      },
      { out: n, aa: C, bb: C, pp: C },
      (b) => K.wkv4(b.out!, b.aa!, b.bb!, b.pp!, b.w!, b.u!, b.k!, b.v!, T, C),
      (ops, p) => ops.wkv4(p.out!, p.aa!, p.bb!, p.pp!, p.w!, p.u!, p.k!, p.v!, T, C, 0, C),
    ),
  );
  for (const perToken of [false, true]) {
    list.push(
      makeCase(
        perToken ? 'wkv5 (v6: w [T,C])' : 'wkv5 (v5: w [C])',
        T,
        {
          r: uniform(n, -1, 1),
          k: uniform(n, -1, 1),
          v: uniform(n, -1, 1),
          w: uniform(perToken ? n : C, 0.3, 0.99),
          u: uniform(C, -1, 1),
          S: uniform(H * N * N, -1, 1),
        },
        { out: n, S: H * N * N },
        (b) => K.wkv5(b.out!, b.S!, b.r!, b.k!, b.v!, b.w!, b.u!, T, H, N, perToken),
        (ops, p) => ops.wkv5(p.out!, p.S!, p.r!, p.k!, p.v!, p.w!, p.u!, T, H, N, perToken ? 1 : 0, 0, H),
      ),
    );
  }
  {
    const { a, b } = wkv7AB(uniform(n, -1, 1), uniform(n, 0, 1), N);
    list.push(
      makeCase(
        'wkv7',
        T,
        {
          r: uniform(n, -1, 1),
          k: uniform(n, -1, 1),
          v: uniform(n, -1, 1),
          w: Float32Array.from(uniform(n, -4, 4), (x) => Math.exp(-DECAY_SCALE / (1 + Math.exp(-x)))),
          a,
          b,
          S: uniform(H * N * N, -1, 1),
        },
        { out: n, S: H * N * N },
        (b) => K.wkv7(b.out!, b.S!, b.r!, b.w!, b.k!, b.v!, b.a!, b.b!, T, H, N),
        (ops, p) => ops.wkv7(p.out!, p.S!, p.r!, p.w!, p.k!, p.v!, p.a!, p.b!, T, H, N, 0, H),
      ),
    );
  }
  return list.filter((c) => ONLY.length === 0 || ONLY.some((o) => c.kernel.startsWith(o)));
}

// ---------- run ----------

const env = environment();
const started = performance.now();
const all = TOKENS.flatMap((T) => {
  if (!Number.isInteger(T) || T <= 0) throw new Error(`BENCH_T: ${T} is not a positive integer`);
  return cases(T);
});

progress(`validating ${all.length} cases × ${1 + builds.length} implementations`);
for (const c of all) {
  // one call each from identical inputs and state, then every WASM build against the twin
  for (const impl of c.impls) impl.run();
  const want = c.impls[0]!.results();
  for (const impl of c.impls.slice(1)) {
    impl.results().forEach(([label, got], i) => expectClose(`${c.kernel} T=${c.T} ${impl.name} ${label}`, got, want[i]![1], TOL));
  }
}

const reps = new Map<Impl, number>();
for (const c of all) {
  for (const impl of c.impls) {
    const t0 = performance.now();
    let calls = 0;
    do {
      impl.run();
      calls++;
    } while (performance.now() - t0 < 1 && calls < 1000);
    reps.set(impl, Math.max(1, Math.ceil(MIN_SAMPLE_MS / ((performance.now() - t0) / calls))));
  }
}

const bench = new Bench({ time: TIME_MS, warmupTime: WARMUP_MS, warmupIterations: 2, iterations: 5, throws: true });
const taskName = (c: Case, impl: Impl) => `${c.kernel} T=${c.T} ${impl.name}`;
for (const c of all) {
  for (const impl of c.impls) {
    const r = reps.get(impl)!;
    // the kernels write memory the results are read from later, so no call can be optimised away
    bench.add(taskName(c, impl), () => {
      for (let j = 0; j < r; j++) impl.run();
      sink.value += r;
    });
  }
}
bench.addEventListener('cycle', (e) => {
  if (e.task !== undefined) progress(e.task.name);
});
await bench.run();

const impls = ['ts', ...builds.map((b) => `wasm ${b.variant}`)];
printHeader('WASM op kernels vs TS twins (bench/ops.bench.ts)', env, [
  `C = ${C}, H = ${H}, N = ${N}; 1 thread; WASM builds: ${builds.map((b) => b.variant).join(', ')}`,
  `validated against the TS twin (outputs and states) within ${TOL} (relative above |x| = 1) before timing`,
  `per task ≥ 5 samples and ≥ ${TIME_MS} ms after ${WARMUP_MS} ms warm-up; short calls batched to ≥ ${MIN_SAMPLE_MS} ms per sample; µs/call from the median sample`,
]);
console.log(
  markdownTable(
    ['kernel', '>T', ...impls.map((i) => `>${i} µs`), ...impls.slice(1).map((i) => `>${i.replace('wasm ', '')} × ts`)],
    all.map((c) => {
      const us = c.impls.map((impl) => (timingOf(bench.getTask(taskName(c, impl))!).medianMs / reps.get(impl)!) * 1000);
      return [c.kernel, String(c.T), ...us.map((u) => fmt(u)), ...us.slice(1).map((u) => `${(us[0]! / u).toFixed(1)}×`)];
    }),
  ),
);
console.log(`\n(total ${((performance.now() - started) / 1000).toFixed(1)} s)`);
