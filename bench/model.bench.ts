// Model throughput: prefill (GPT mode) and decode (RNN mode) tokens/s for every RWKV version, on
// the real tiny fixture models and on a larger random model (built in memory, no download).
//
//   npm run bench                          (= npx tsx bench/model.bench.ts)
//   node_modules/.bin/deno run -A bench/model.bench.ts
//   node_modules/.bin/bun bench/model.bench.ts
//
// Every tokens/s number is reported as a ratio to a baseline measured in the same run, on the
// same model, right before it:
//
//   prefill  one forward() call of the whole prompt (GPT mode), fresh state
//            baseline: the same prompt fed one token per call (RNN mode), fresh state
//            ratio > 1: GPT mode processes a prompt faster than token-by-token
//   decode   one forward() call per token, state carried, greedy next token (what generation does)
//            baseline: "matmul floor" — the very matmul calls one decode step makes (recorded from
//            the model, same weight tensors, same backend), and nothing else
//            ratio ≤ 1: the share of the matmul-only speed decode reaches (1 = no other overhead)
//
// Each task is validated once before it is timed (GPT-mode logits = RNN-mode logits; a decode step
// from the GPT-mode state = the same step from the RNN-mode state; the floor's matmuls = a plain
// dot product) and every result is consumed.
//
// Environment (all optional):
//   BENCH_TIME_MS     time budget per task and round, ms       (default 250)
//   BENCH_MIN_ITERS   minimum timed calls per task and round   (default 1)
//   BENCH_ROUNDS      rounds; each runs the four tasks once, in (default 2)
//                     order, so a baseline and its task alternate (A B A B) on a noisy machine
//   BENCH_WARMUP_MS   warm-up of the cheap tasks, ms           (default 100; the validation call
//                     is the warm-up of prefill and its baseline)
//   BENCH_PROMPT      prompt length for prefill, tokens        (default 64)
//   BENCH_SIZES       which models: tiny,large                 (default both)
//   BENCH_VERSIONS    which versions: 4,5.2,6,7                (default all four)
//   RWKV_FIXTURES     fixtures folder (see test/helpers/fixtures.ts)

import { Bench } from 'tinybench';
import type { Tensor } from '../src/backends/backend.ts';
import { TsBackend } from '../src/backends/ts/ts-backend.ts';
import { RwkvModel } from '../src/model/model.ts';
import type { RwkvVersion } from '../src/model/config.ts';
import type { RwkvState } from '../src/model/state.ts';
import { fixturePath } from '../test/helpers/fixtures.ts';
import { type RandomModelSpec, randomCheckpoint } from '../test/helpers/random-model.ts';
import {
  type Timing,
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

const TIME_MS = envNumber('BENCH_TIME_MS', 250);
const ROUNDS = Math.max(1, Math.round(envNumber('BENCH_ROUNDS', 2)));
const MIN_ITERS = Math.max(1, Math.round(envNumber('BENCH_MIN_ITERS', 1)));
const WARMUP_MS = envNumber('BENCH_WARMUP_MS', 100);
const PROMPT = Math.max(2, Math.round(envNumber('BENCH_PROMPT', 64)));
const SIZES = envList('BENCH_SIZES', ['tiny', 'large']);
const VERSIONS = envList('BENCH_VERSIONS', ['4', '5.2', '6', '7']);
/** GPT ≡ RNN tolerance on logits: |Δ| ≤ TOL·max(1, |logit|). */
const TOL = 1e-4;

// ---------- models ----------

const TINY: Record<string, string> = {
  '4': 'tiny-rwkv/tiny-rwkv-4v0-660K-FP32.bin',
  '5.2': 'tiny-rwkv/tiny-rwkv-5v2-730K-FP32.bin',
  '6': 'tiny-rwkv/tiny-rwkv-6v0-1m-FP32.bin',
  '7': 'tiny-rwkv/tiny-rwkv-7v0-834K-FP32.bin',
};

/** The larger random model: C = 512, L = 4, 8 heads × 64 (v4: one 512-wide "head"), vocab 1024. */
function largeSpec(version: RwkvVersion): RandomModelSpec {
  const C = 512;
  return {
    version,
    nLayer: 4,
    nHead: version === '4' ? 1 : 8,
    headSize: version === '4' ? C : 64,
    nFfn: version === '7' ? 4 * C : (7 * C) / 2, // v7 uses 4C, v4–v6 3.5C
    nVocab: 1024,
    ranks: { maa: 32, decay: 64, w: 64, a: 64, v: 32, g: 128, s: 8 },
    timeState: false,
    seed: 1234,
  };
}

/** The TS backend, able to record the matmul calls the model makes (for the matmul floor). */
class RecordingTsBackend extends TsBackend {
  recorded: { out: Tensor; x: Tensor; W: Tensor }[] | null = null;
  override matmul(out: Tensor, x: Tensor, W: Tensor): void {
    if (this.recorded !== null) this.recorded.push({ out, x, W });
    super.matmul(out, x, W);
  }
}

interface Case {
  name: string;
  version: string;
  open(backend: RecordingTsBackend): Promise<RwkvModel>;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const size of SIZES) {
    for (const v of VERSIONS) {
      if (size === 'tiny') {
        const rel = TINY[v];
        if (rel === undefined) throw new Error(`BENCH_VERSIONS: no tiny fixture for version ${v}`);
        const file = fixturePath(rel);
        if (file === undefined) continue; // fixturePath printed a loud SKIPPING line
        const name = rel.replace(/^.*tiny-rwkv-/, 'tiny ').replace(/-FP32\.bin$/, '');
        out.push({ name, version: v, open: (backend) => RwkvModel.load(file, { backend }) });
      } else if (size === 'large') {
        if (!['4', '5.2', '6', '7'].includes(v)) throw new Error(`BENCH_VERSIONS: unknown version ${v}`);
        out.push({
          name: `random v${v}`,
          version: v,
          open: async (backend) => RwkvModel.fromCheckpoint(randomCheckpoint(largeSpec(v as RwkvVersion)), { backend }),
        });
      } else {
        throw new Error(`BENCH_SIZES: unknown size "${size}" (tiny, large)`);
      }
    }
  }
  return out;
}

// ---------- helpers ----------

function lastLogits(l: Float32Array | Float32Array[]): Float32Array {
  return l instanceof Float32Array ? l : l[l.length - 1]!;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

async function warmUp(fn: () => Promise<unknown>): Promise<void> {
  const end = performance.now() + WARMUP_MS;
  do await fn();
  while (performance.now() < end);
}

interface Row {
  model: string;
  task: string;
  tokPerCall: number;
  /** Median over rounds of each round's tok/s (from that round's median call). */
  tokPerS: number;
  /** Timed calls, all rounds. */
  calls: number;
  /** tok/s ÷ the baseline's tok/s of the same round: median and range over rounds. */
  ratio: { median: number; min: number; max: number; of: string } | undefined;
  gflops: number | undefined;
}

interface ModelRow {
  model: string;
  version: string;
  L: number;
  C: number;
  heads: string;
  F: number;
  V: number;
  params: number;
  mflopPerTok: number;
  maxDiff: number;
}

// ---------- one model ----------

async function benchModel(c: Case, rows: Row[], models: ModelRow[]): Promise<void> {
  const backend = new RecordingTsBackend();
  const model = await c.open(backend);
  const cfg = model.config;
  const rand = rng(42);
  const prompt = Array.from({ length: PROMPT }, () => Math.floor(rand() * cfg.nVocab));
  progress(`${c.name}: validating`);

  // -- the four task functions --
  const prefill = async () => lastLogits((await model.forward(prompt)).logits);
  const rnnPrompt = async () => {
    const s = model.createState();
    let logits: Float32Array | undefined;
    for (const tok of prompt) logits = lastLogits((await model.forward([tok], s)).logits);
    return { logits: logits!, state: s };
  };
  let decodeState: RwkvState;
  let next = 0;
  const decode = async () => {
    const logits = lastLogits((await model.forward([next], decodeState)).logits);
    next = argmax(logits);
    return logits;
  };

  // -- validation (doubles as the warm-up of prefill and its baseline) --
  const gpt = await model.forward(prompt); // what prefill() runs, keeping the state it returns
  const rnn = await rnnPrompt(); // RNN mode
  const d1 = expectClose(`${c.name}: GPT-mode vs RNN-mode logits after ${PROMPT} tokens`, lastLogits(gpt.logits), rnn.logits, TOL);
  next = argmax(rnn.logits);
  decodeState = gpt.state; // decode continues from the GPT-mode prefill
  const fromRnn = lastLogits((await model.forward([next], rnn.state)).logits);
  const fromGpt = await decode(); // also advances `next`
  const d3 = expectClose(`${c.name}: decode step from GPT-mode vs RNN-mode state`, fromGpt, fromRnn, TOL);
  const d4 = expectClose(`${c.name}: state after decode (GPT vs RNN prefill)`, await decodeState.toArray(), await rnn.state.toArray(), TOL);
  rnn.state.dispose();

  // -- the matmul floor: the matmul calls of one decode step, replayed --
  backend.recorded = [];
  const scratch = decodeState.clone();
  await model.forward([next], scratch);
  scratch.dispose();
  const calls = backend.recorded;
  backend.recorded = null;
  // fresh out/x tensors (the recorded ones were freed with the forward call's frame)
  const floorCalls = calls.map(({ W }, i) => {
    const [O, K] = [W.shape[0]!, W.shape[1]!];
    const x = new Float32Array(K);
    for (let k = 0; k < K; k++) x[k] = rand() * 2 - 1;
    return { W, x: backend.upload(x, [1, K], `floor.x${i}`), out: backend.zeros([1, O], `floor.out${i}`), xHost: x };
  });
  const flopsPerToken = floorCalls.reduce((a, f) => a + 2 * f.W.shape[0]! * f.W.shape[1]!, 0);
  const floor = async () => {
    for (const f of floorCalls) backend.matmul(f.out, f.x, f.W);
    return backend.download(floorCalls[floorCalls.length - 1]!.out);
  };
  await floor();
  for (const f of [floorCalls[0]!, floorCalls[floorCalls.length - 1]!]) {
    const W = await backend.download(f.W);
    const [O, K] = [f.W.shape[0]!, f.W.shape[1]!];
    const ref = new Float64Array(O);
    for (let o = 0; o < O; o++) for (let k = 0; k < K; k++) ref[o]! += W[o * K + k]! * f.xHost[k]!;
    expectClose(`${c.name}: matmul floor ${f.W.label}`, await backend.download(f.out), ref, TOL);
  }

  await warmUp(decode);
  await warmUp(floor);

  // -- timing: ROUNDS rounds of the four tasks, so each baseline runs next to its task (A B A B) --
  const bench = new Bench({ time: TIME_MS, iterations: MIN_ITERS, warmup: false, throws: true });
  const consume = (l: Float32Array) => {
    sink.value += l[0]!;
  };
  bench
    .add('rnn-prompt', async () => consume((await rnnPrompt()).logits))
    .add('prefill', async () => consume(await prefill()))
    .add('matmul-floor', async () => consume(await floor()))
    .add('decode', async () => consume(await decode()));
  const perRound: Record<string, Timing[]> = { 'rnn-prompt': [], prefill: [], 'matmul-floor': [], decode: [] };
  for (let round = 0; round < ROUNDS; round++) {
    bench.reset();
    await bench.run();
    for (const task of bench.tasks) perRound[task.name]!.push(timingOf(task));
    progress(`${c.name}: round ${round + 1}/${ROUNDS}: ${bench.tasks.map((t) => `${t.name} ${fmt(timingOf(t).medianMs)} ms`).join(', ')}`);
  }
  // tok/s per round from the median call; reported: the median over rounds; ratios per round
  const tps = (name: string, tokens: number) => perRound[name]!.map((t) => (tokens * 1000) / t.medianMs);
  const rnnTps = tps('rnn-prompt', PROMPT);
  const preTps = tps('prefill', PROMPT);
  const floorTps = tps('matmul-floor', 1);
  const decTps = tps('decode', 1);
  const ratios = (a: number[], b: number[]) => a.map((x, i) => x / b[i]!);
  const gf = (tokPerS: number) => (flopsPerToken * tokPerS) / 1e9;
  const row = (
    task: string,
    name: string,
    tokPerCall: number,
    t: number[],
    ratio: [number[], string] | undefined,
    flops: boolean,
  ): Row => ({
    model: c.name,
    task,
    tokPerCall,
    tokPerS: median(t),
    calls: perRound[name]!.reduce((a, x) => a + x.samples, 0),
    ratio:
      ratio === undefined ? undefined : { median: median(ratio[0]), min: Math.min(...ratio[0]), max: Math.max(...ratio[0]), of: ratio[1] },
    gflops: flops ? gf(median(t)) : undefined,
  });
  rows.push(
    row('prompt, RNN mode (baseline)', 'rnn-prompt', PROMPT, rnnTps, undefined, false),
    row('prefill, GPT mode', 'prefill', PROMPT, preTps, [ratios(preTps, rnnTps), 'RNN'], false),
    row('matmul floor (baseline)', 'matmul-floor', 1, floorTps, undefined, true),
    row('decode, RNN mode', 'decode', 1, decTps, [ratios(decTps, floorTps), 'floor'], true),
  );
  models.push({
    model: c.name,
    version: cfg.version,
    L: cfg.nLayer,
    C: cfg.nEmbd,
    heads: cfg.version === '4' ? '—' : `${cfg.nHead}×${cfg.headSize}`,
    F: cfg.nFfn,
    V: cfg.nVocab,
    params: cfg.nParams,
    mflopPerTok: flopsPerToken / 1e6,
    maxDiff: Math.max(d1, d3, d4),
  });
  for (const f of floorCalls) {
    backend.free(f.x);
    backend.free(f.out);
  }
  decodeState.dispose();
  model.dispose();
}

// ---------- main ----------

const env = environment();
const started = performance.now();
const rows: Row[] = [];
const models: ModelRow[] = [];
const probe = new TsBackend();
const todo = cases();
if (todo.length === 0) console.warn('nothing to run: no model matched BENCH_SIZES / BENCH_VERSIONS, or the fixtures are missing');
for (const c of todo) await benchModel(c, rows, models);
if (!Number.isFinite(sink.value)) console.warn(`warning: a benchmark result was not finite (${sink.value})`);

printHeader('Model throughput (bench/model.bench.ts)', env, [
  `backend: ${probe.caps.name} (${probe.caps.description}), ${probe.caps.threads} thread`,
  `prompt: ${PROMPT} seeded random tokens; ${ROUNDS} rounds, per task and round ≥ ${MIN_ITERS} calls and ≥ ${TIME_MS} ms`,
  'tok/s: from the median call of each round, then the median over rounds',
  'prefill ratio = GPT-mode tok/s ÷ tok/s of the same prompt fed one token per call (RNN mode), same round',
  'decode ratio = decode tok/s ÷ "matmul floor" tok/s (only the matmul calls of one decode step, same weights), same round',
  'ratio range: lowest–highest over the rounds (the noise you should read into the ratio)',
  `GFLOP/s counts matmul FLOPs only (2·K·O per matmul per token); validated GPT ≡ RNN within ${TOL} (relative above |x| = 1)`,
]);
console.log(
  markdownTable(
    ['model', '>ver', '>L', '>C', '>H×N', '>F', '>V', '>params', '>matmul MFLOP/tok', '>max GPT−RNN diff'],
    models.map((m) => [
      m.model,
      m.version,
      String(m.L),
      String(m.C),
      m.heads,
      String(m.F),
      String(m.V),
      m.params.toLocaleString('en-US'),
      fmt(m.mflopPerTok),
      m.maxDiff.toExponential(1),
    ]),
  ),
);
console.log('');
console.log(
  markdownTable(
    ['model', 'task', '>tok/call', '>calls', '>tok/s', '>ms/token', '>ratio', '>ratio range', '>GFLOP/s'],
    rows.map((r) => [
      r.model,
      r.task,
      String(r.tokPerCall),
      String(r.calls),
      fmt(r.tokPerS),
      fmt(1000 / r.tokPerS),
      r.ratio === undefined ? 'baseline' : `${r.ratio.median.toFixed(2)}× ${r.ratio.of}`,
      r.ratio === undefined ? '' : `${r.ratio.min.toFixed(2)}–${r.ratio.max.toFixed(2)}`,
      r.gflops === undefined ? '' : fmt(r.gflops),
    ]),
  ),
);
console.log(`\n(total ${((performance.now() - started) / 1000).toFixed(1)} s)`);
