// The conformance checks shared by every backend (in fast-check's contract style), free of
// any test framework so scripts/cuda-check.ts can run them on a GPU machine without vitest;
// ./suite.ts wraps them in vitest tests. Given the backend under test,
//   ops    every Backend op on seeded random inputs (odd sizes, broadcasts, aliasing, every weight
//          storage, the WKV state carried over two calls) against an op oracle: the TS backend for
//          device backends, the f64 SpecBackend (./spec-backend.ts) for the TS backend itself;
//   models every fixture model (../shared/fixtures) and a random model of every version through
//          RwkvModel.load / fromCheckpoint on that backend, against the TS backend's logits and
//          greedy tokens ('ts'), or against the official implementation's numbers ('oracle').

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Backend,
  type BinaryOp,
  OPTIONAL_OPS,
  type OptionalOp,
  type Tensor,
  type UnaryOp,
  type WeightStorage,
  implementsOp,
} from '../../src/backends/backend.ts';
import { TsBackend } from '../../src/backends/ts/ts-backend.ts';
import { GN_EPS, L2_EPS, LN_EPS, V4_PP_INIT } from '../../src/constants.ts';
import { RwkvError } from '../../src/errors.ts';
import { bf16ToFloat, floatToHalf, halfToFloat } from '../../src/tensor/float.ts';
import { VERSIONS } from '../../src/model/config.ts';
import { RwkvModel } from '../../src/model/model.ts';
import { FIXTURES_DIR, type OracleCase, fixturePath, oracleCases } from '../helpers/fixtures.ts';
import { randomCheckpoint, rng } from '../helpers/random-model.ts';
import { compareClose } from '../helpers/tolerance.ts';
import { greedyTokens as greedyContinuation } from '../helpers/greedy.ts';
import { wkv7AB } from '../helpers/wkv7-operands.ts';

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface ConformanceOptions {
  /** Shown in test names and the printed report. */
  name: string;
  /** The backend under test (one instance for the whole file). */
  create: () => Promise<Backend>;
  /** Release it after the file (e.g. CudaBackend.dispose). */
  dispose?: (b: Backend) => void | Promise<void>;
  /** The op oracle (default: the TS backend). */
  opOracle?: () => Backend;
  /** Per-element budget for op outputs: |a − b| <= atol + rtol·|ref|. */
  opTolerance: Tolerance;
  models: {
    /** 'ts': the same model on the TS backend; 'oracle': the official numbers in the fixtures. */
    against: 'ts' | 'oracle';
    /** LoadOptions.weights to run each model with, and the logits budget for each. */
    weights: readonly { weights: 'f32' | 'compact'; logits: Tolerance; exactGreedy: boolean }[];
    /** Greedy tokens compared per prompt (after the prompt). */
    greedyTokens: number;
    /** Also random models of every version (only with against: 'ts'). */
    randomModels: boolean;
    /** Which fixture models to run, by label (default: all). */
    fixtures?: (label: string) => boolean;
  };
}

// ---------------------------------------------------------------------------------------------
// inputs
// ---------------------------------------------------------------------------------------------

type Enc = 'f16' | 'bf16';

interface Input {
  shape: number[];
  data: Float32Array;
  /** Upload as 16-bit bits (uploadCompact) or with an upload storage request. */
  compact?: Enc;
  storage?: WeightStorage;
}

/** Round to a value exactly representable in `enc`, so every backend holds the same weights. */
function exactIn(enc: Enc, x: number): number {
  if (enc === 'f16') return halfToFloat(floatToHalf(x));
  const u = new Uint32Array(new Float32Array([x]).buffer)[0]!;
  return bf16ToFloat(u >>> 16);
}

function bitsOf(enc: Enc, data: Float32Array): Uint16Array {
  if (enc === 'f16') return Uint16Array.from(data, (x) => floatToHalf(x));
  const u = new Uint32Array(data.buffer, data.byteOffset, data.length);
  return Uint16Array.from(u, (b) => b >>> 16);
}

class Gen {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = rng(seed);
  }
  /** Uniform in [lo, hi), rounded to float32. */
  arr(n: number, lo = -1, hi = 1): Float32Array {
    return Float32Array.from({ length: n }, () => lo + (hi - lo) * this.next());
  }
  input(shape: number[], lo = -1, hi = 1, enc?: Enc): Input {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = this.arr(n, lo, hi);
    if (enc) for (let i = 0; i < n; i++) data[i] = exactIn(enc, data[i]!);
    return { shape, data };
  }
}

function put(b: Backend, name: string, inp: Input): Tensor {
  const copy = Float32Array.from(inp.data); // upload may adopt the array
  if (inp.compact) {
    if (!b.uploadCompact) throw new Error(`${b.caps.name} has no uploadCompact`);
    return b.uploadCompact(bitsOf(inp.compact, copy), inp.shape, name, inp.compact);
  }
  return b.upload(copy, inp.shape, name, inp.storage);
}

export interface OpCase {
  name: string;
  inputs: Record<string, Input>;
  /** Output tensors created as zeros. */
  outputs: Record<string, number[]>;
  /** Tensors compared after the run (outputs and in/out state). */
  compare: string[];
  /** The optional op it exercises (skipped, and reported, on a backend without it). */
  op?: OptionalOp;
  run(b: Backend, t: Record<string, Tensor>): void;
}

async function runCase(b: Backend, c: OpCase): Promise<Record<string, Float32Array>> {
  const t: Record<string, Tensor> = {};
  for (const [k, inp] of Object.entries(c.inputs)) t[k] = put(b, k, inp);
  for (const [k, shape] of Object.entries(c.outputs)) t[k] = b.zeros(shape, k);
  c.run(b, t);
  const out: Record<string, Float32Array> = {};
  for (const k of c.compare) out[k] = await b.download(t[k]!);
  for (const x of Object.values(t)) b.free(x);
  return out;
}

// ---------------------------------------------------------------------------------------------
// the op cases
// ---------------------------------------------------------------------------------------------

const UNARY_OPS: readonly UnaryOp[] = ['sigmoid', 'tanh', 'silu', 'relu2', 'neg', 'expNegExp', 'rwkv7Decay'];
const BINARY_OPS: readonly BinaryOp[] = ['add', 'sub', 'mul'];

export function opCases(): OpCase[] {
  const g = new Gen(20260101);
  const cases: OpCase[] = [];

  // matmul: T = 1 and few rows (matrix-vector), many rows (tiled); K, O odd and around tile edges;
  // every storage, by uploadCompact and by an upload storage request
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 5, 7],
    [1, 64, 65],
    [3, 67, 130],
    [9, 64, 70],
    [70, 33, 129],
    [130, 128, 64],
  ];
  const storages: { label: string; enc?: Enc; via?: 'compact' | 'upload' }[] = [
    { label: 'f32' },
    { label: 'f16 compact', enc: 'f16', via: 'compact' },
    { label: 'bf16 compact', enc: 'bf16', via: 'compact' },
    { label: 'f16 upload', enc: 'f16', via: 'upload' },
    { label: 'bf16 upload', enc: 'bf16', via: 'upload' },
  ];
  for (const [T, K, O] of shapes) {
    for (const s of storages) {
      const W = g.input([O, K], -1, 1, s.enc);
      if (s.enc && s.via === 'compact') W.compact = s.enc;
      if (s.enc && s.via === 'upload') W.storage = s.enc;
      cases.push({
        name: `matmul T=${T} K=${K} O=${O} W ${s.label}`,
        inputs: { x: g.input([T, K]), W },
        outputs: { out: [T, O] },
        compare: ['out'],
        run: (b, t) => b.matmul(t['out']!, t['x']!, t['W']!),
      });
    }
  }

  // memory: compact weights read back and copied as float32
  for (const enc of ['f16', 'bf16'] as const) {
    cases.push({
      name: `upload storage ${enc} → download, copy`,
      inputs: { W: { ...g.input([5, 7], -3, 3, enc), storage: enc }, Wc: { ...g.input([3, 9], -3, 3, enc), compact: enc } },
      outputs: { dst: [3, 9] },
      compare: ['W', 'Wc', 'dst'],
      run: (b, t) => b.copy(t['dst']!, t['Wc']!),
    });
  }
  cases.push({
    name: 'write, copy, lastRow',
    inputs: { x: g.input([4, 6]), y: g.input([4, 6]) },
    outputs: { c: [4, 6], l: [6] },
    compare: ['x', 'c', 'l'],
    run: (b, t) => {
      b.write(
        t['x']!,
        Float32Array.from({ length: 24 }, (_, i) => i * 0.25 - 3),
      );
      b.copy(t['c']!, t['y']!);
      b.lastRow(t['l']!, t['x']!);
    },
  });

  cases.push({
    name: 'embedding',
    inputs: { table: g.input([11, 13]) },
    outputs: { out: [5, 13] },
    compare: ['out'],
    run: (b, t) => b.embedding(t['out']!, t['table']!, new Int32Array([3, 0, 10, 3, 7])),
  });

  // norms: LayerNorm (G = C), GroupNorm (G = N), one channel per group, a wide row (many warps)
  for (const [T, C, G, eps] of [
    [3, 12, 12, LN_EPS],
    [3, 12, 4, GN_EPS],
    [2, 5, 1, GN_EPS],
    [2, 1030, 1030, LN_EPS],
    [1, 640, 64, GN_EPS],
  ] as const) {
    cases.push({
      name: `layerNorm T=${T} C=${C} G=${G}`,
      inputs: { x: g.input([T, C], -2, 3), w: g.input([C]), bias: g.input([C]) },
      outputs: { out: [T, C] },
      compare: ['out'],
      run: (b, t) => b.layerNorm(t['out']!, t['x']!, t['w']!, t['bias']!, G, eps),
    });
  }
  cases.push({
    name: 'layerNorm in place',
    inputs: { x: g.input([2, 40], -2, 3), w: g.input([40]), bias: g.input([40]) },
    outputs: {},
    compare: ['x'],
    run: (b, t) => b.layerNorm(t['x']!, t['x']!, t['w']!, t['bias']!, 40, LN_EPS),
  });
  for (const [T, C, G] of [
    [2, 12, 4],
    [1, 300, 300],
    [3, 5, 5],
  ] as const) {
    const x = g.input([T, C]);
    x.data.fill(0, 0, G); // an all-zero group: the eps branch
    cases.push({
      name: `l2NormalizeGroups T=${T} C=${C} G=${G}`,
      inputs: { x },
      outputs: { out: [T, C] },
      compare: ['out'],
      run: (b, t) => b.l2NormalizeGroups(t['out']!, t['x']!, G, L2_EPS),
    });
  }

  for (const T of [1, 4]) {
    cases.push({
      name: `shift T=${T}`,
      inputs: { x: g.input([T, 7]), prev: g.input([7]) },
      outputs: { out: [T, 7] },
      compare: ['out'],
      run: (b, t) => b.shift(t['out']!, t['x']!, t['prev']!),
    });
  }
  cases.push({
    name: 'shift in place (out = x)',
    inputs: { x: g.input([5, 9]), prev: g.input([9]) },
    outputs: {},
    compare: ['x'],
    run: (b, t) => b.shift(t['x']!, t['x']!, t['prev']!),
  });

  for (const op of UNARY_OPS) {
    cases.push({
      name: `unary ${op}`,
      inputs: { x: g.input([3, 37], -6, 4) },
      outputs: { out: [3, 37] },
      compare: ['out'],
      run: (b, t) => b.unary(op, t['out']!, t['x']!),
    });
  }
  for (const op of BINARY_OPS) {
    for (const bShape of [[3, 13], [13]]) {
      cases.push({
        name: `binary ${op} b ${JSON.stringify(bShape)}`,
        inputs: { a: g.input([3, 13]), b: g.input(bShape) },
        outputs: { out: [3, 13] },
        compare: ['out'],
        run: (b, t) => b.binary(op, t['out']!, t['a']!, t['b']!),
      });
    }
  }
  cases.push({
    name: 'binary add in place (residual)',
    inputs: { x: g.input([2, 11]), y: g.input([2, 11]) },
    outputs: {},
    compare: ['x'],
    run: (b, t) => b.binary('add', t['x']!, t['x']!, t['y']!),
  });
  for (const bRow of [false, true]) {
    for (const tRow of [false, true]) {
      cases.push({
        name: `lerp b ${bRow ? '[C]' : '[T, C]'} t ${tRow ? '[C]' : '[T, C]'}`,
        inputs: { a: g.input([4, 9]), b: g.input(bRow ? [9] : [4, 9]), t: g.input(tRow ? [9] : [4, 9], 0, 1) },
        outputs: { out: [4, 9] },
        compare: ['out'],
        run: (b, t) => b.lerp(t['out']!, t['a']!, t['b']!, t['t']!),
      });
    }
  }
  for (const [T, H, G] of [
    [2, 3, 4],
    [1, 2, 65],
    [3, 5, 1],
  ] as const) {
    cases.push({
      name: `groupSum T=${T} H=${H} G=${G}`,
      inputs: { x: g.input([T, H * G]) },
      outputs: { out: [T, H] },
      compare: ['out'],
      run: (b, t) => b.groupSum(t['out']!, t['x']!, G),
    });
    cases.push({
      name: `groupScale T=${T} H=${H} G=${G}`,
      inputs: { x: g.input([T, H * G]), s: g.input([T, H]) },
      outputs: { out: [T, H * G] },
      compare: ['out'],
      run: (b, t) => b.groupScale(t['out']!, t['x']!, t['s']!, G),
    });
  }
  for (const [T, I, J] of [
    [3, 4, 5],
    [1, 7, 300],
    [2, 1, 1],
  ] as const) {
    cases.push({
      name: `rowVecMat T=${T} I=${I} J=${J}`,
      inputs: { x: g.input([T, I]), M: g.input([T, I * J]) },
      outputs: { out: [T, J] },
      compare: ['out'],
      op: 'rowVecMat',
      run: (b, t) => b.rowVecMat!(t['out']!, t['x']!, t['M']!),
    });
  }

  // WKV: two calls (T1 then T2 tokens) so the state is carried; output of both and final state
  const two = (
    op: OptionalOp,
    name: string,
    inputs: Record<string, Input>,
    perCall: (T: number, call: number) => Record<string, Input>,
    outC: number,
    T1: number,
    T2: number,
    state: string[],
    run: (b: Backend, t: Record<string, Tensor>, call: number) => void,
  ): OpCase => {
    const calls = [perCall(T1, 0), perCall(T2, 1)];
    const all: Record<string, Input> = { ...inputs };
    calls.forEach((c, i) => {
      for (const [k, v] of Object.entries(c)) all[`${k}${i}`] = v;
    });
    return {
      name,
      op,
      inputs: all,
      outputs: { out0: [T1, outC], out1: [T2, outC] },
      compare: ['out0', 'out1', ...state],
      run: (b, t) => {
        run(b, t, 0);
        run(b, t, 1);
      },
    };
  };
  for (const [T1, T2, C, ppInit] of [
    [1, 6, 9, false],
    [5, 1, 33, true],
  ] as const) {
    const pp = g.input([C], -1, 1);
    if (ppInit) pp.data.fill(V4_PP_INIT);
    cases.push(
      two(
        'wkv4',
        `wkv4 T=${T1},${T2} C=${C}${ppInit ? ' pp=-1e30' : ''}`,
        { aa: g.input([C], 0, 1), bb: g.input([C], 0.5, 1.5), pp, w: g.input([C], -3, -0.01), u: g.input([C]) },
        (T) => ({ k: g.input([T, C], -2, 2), v: g.input([T, C]) }),
        C,
        T1,
        T2,
        ['aa', 'bb', 'pp'],
        (b, t, i) => b.wkv4!(t[`out${i}`]!, t['aa']!, t['bb']!, t['pp']!, t['w']!, t['u']!, t[`k${i}`]!, t[`v${i}`]!),
      ),
    );
  }
  // head sizes: tiny, the usual 64 (state in shared memory), 120 (too big for it: global memory)
  for (const [H, N, T1, T2] of [
    [2, 4, 1, 5],
    [3, 3, 4, 1],
    [2, 64, 1, 3],
    [1, 120, 2, 1],
  ] as const) {
    const C = H * N;
    for (const perToken of [false, true]) {
      const wC = g.input([C], 0.05, 0.999);
      cases.push(
        two(
          'wkv5',
          `wkv5 H=${H} N=${N} T=${T1},${T2} w ${perToken ? '[T, C] (v6)' : '[C] (v5)'}`,
          { S: g.input([H, N, N]), u: g.input([C]), ...(perToken ? {} : { w: wC }) },
          (T) => ({ r: g.input([T, C]), k: g.input([T, C]), v: g.input([T, C]), ...(perToken ? { w: g.input([T, C], 0.05, 0.999) } : {}) }),
          C,
          T1,
          T2,
          ['S'],
          (b, t, i) => b.wkv5!(t[`out${i}`]!, t['S']!, t[`r${i}`]!, t[`k${i}`]!, t[`v${i}`]!, t[perToken ? `w${i}` : 'w']!, t['u']!, H),
        ),
      );
    }
  }
  for (const [H, N, T1, T2] of [
    [2, 4, 1, 5],
    [3, 5, 3, 1],
    [2, 64, 1, 3],
    [1, 128, 2, 1],
  ] as const) {
    const C = H * N;
    cases.push(
      two(
        'wkv7',
        `wkv7 H=${H} N=${N} T=${T1},${T2}`,
        { S: g.input([H, N, N], -0.5, 0.5) },
        (T) => {
          // a = −κ̂, b = κ̂·iclr with κ̂ of unit norm per head, as the model passes them
          const { a, b } = wkv7AB(g.input([T, C]).data, g.arr(T * C, 0, 1), N);
          return {
            r: g.input([T, C]),
            w: g.input([T, C], 0.3, 0.999),
            k: g.input([T, C]),
            v: g.input([T, C]),
            a: { shape: [T, C], data: a },
            b: { shape: [T, C], data: b },
          };
        },
        C,
        T1,
        T2,
        ['S'],
        (b, t, i) => b.wkv7!(t[`out${i}`]!, t['S']!, t[`r${i}`]!, t[`w${i}`]!, t[`k${i}`]!, t[`v${i}`]!, t[`a${i}`]!, t[`b${i}`]!, H),
      ),
    );
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------

/** A model input: a fixture file, or a random checkpoint of a version. */
export interface ModelSource {
  label: string;
  load(backend: Backend, weights: 'f32' | 'compact'): Promise<RwkvModel>;
  prompts: { name: string; tokens: number[]; oracle?: { seq_logits: number[]; greedy_tokens: number[] } | undefined }[];
}

function fixtureSources(): ModelSource[] {
  const out: ModelSource[] = [];
  for (const c of oracleCases() as OracleCase[]) {
    for (const s of c.sets) {
      // one file per weight set: the .safetensors (16-bit, so 'compact' keeps it as stored)
      // (a partial fixtures folder, e.g. the subset scripts/cuda-check.sh carries, skips the rest)
      const present = (f: string) => existsSync(join(FIXTURES_DIR, f));
      const file =
        s.files.find((f) => f.endsWith('.safetensors') && present(f)) ?? s.files.find((f) => /\.(pth|bin)$/.test(f) && present(f));
      const extra = s.timeStateFiles.filter((f) => f.endsWith('.safetensors'));
      if (file === undefined || !extra.every(present)) continue;
      out.push({
        label: `${c.model} ${s.set} ${file.split('/').pop()}`,
        load: async (backend, weights) => {
          const path = fixturePath(file);
          const extras = extra.map((e) => fixturePath(e));
          if (path === undefined || extras.includes(undefined)) throw new Error(`fixture missing: ${file}`);
          return RwkvModel.load(path, { backend, weights, extraFiles: extras as string[] });
        },
        prompts: c.oracle.prompts.map((p) => ({ name: p.name, tokens: p.tokens, oracle: p.results[s.set] })),
      });
    }
  }
  return out;
}

function randomSources(): ModelSource[] {
  return VERSIONS.map((version, i) => {
    const spec = {
      version,
      nLayer: 2,
      nHead: version === '4' ? 1 : 2,
      headSize: version === '4' ? 12 : 8,
      nFfn: 37,
      nVocab: 29,
      ranks: { maa: 3, decay: 4, w: 5, a: 3, v: 2, g: 4, s: 2 },
      timeState: version === '6',
      seed: 1000 + i,
    };
    const tokens = Array.from({ length: 11 }, (_, t) => (t * 7 + i) % spec.nVocab);
    return {
      label: `random RWKV-${version} L2 H${spec.nHead}×${spec.headSize}`,
      load: (backend, weights) => Promise.resolve(RwkvModel.fromCheckpoint(randomCheckpoint(spec), { backend, weights })),
      prompts: [{ name: 'tokens', tokens }],
    };
  });
}

interface ModelRun {
  seq: Float32Array[]; // every position's logits, GPT mode
  rnn: Float32Array[]; // every position's logits, one token per call
  greedy: number[];
}

async function runModel(model: RwkvModel, tokens: number[], greedyTokens: number): Promise<ModelRun> {
  const st = model.createState();
  const seq = (await model.forward(tokens, st, { allLogits: true })).logits as Float32Array[];
  const rnnState = model.createState();
  const rnn: Float32Array[] = [];
  for (const t of tokens) rnn.push((await model.forward([t], rnnState)).logits as Float32Array);
  const greedy = await greedyContinuation(model, seq.at(-1)!, st, greedyTokens);
  return { seq, rnn, greedy };
}

function maxDiff(a: readonly Float32Array[], b: readonly ArrayLike<number>[], tol: Tolerance, label: string): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const r = compareClose(`${label}[${i}]`, a[i]!, b[i]!, tol.atol, tol.rtol);
    if (!r.ok) throw new Error(r.message);
    worst = Math.max(worst, r.maxAbs);
  }
  return worst;
}

// ---------------------------------------------------------------------------------------------
// the checks (each returns failures as messages; the callers decide how to report them)
// ---------------------------------------------------------------------------------------------

export interface OpReport {
  cases: number;
  /** The optional ops the subject does not implement (their cases were not run). */
  notImplemented: OptionalOp[];
  failures: string[];
  worst: { d: number; name: string };
}

/** Every op case on `subject` and `oracle`, compared within `tol`. */
export async function checkOps(subject: Backend, oracle: Backend, tol: Tolerance): Promise<OpReport> {
  const notImplemented = OPTIONAL_OPS.filter((op) => !implementsOp(subject, op));
  const cases = opCases().filter((c) => c.op === undefined || !notImplemented.includes(c.op));
  const failures: string[] = [];
  let worst = { d: 0, name: '' };
  for (const c of cases) {
    const want = await runCase(oracle, c);
    let got: Record<string, Float32Array>;
    try {
      got = await runCase(subject, c);
    } catch (e) {
      failures.push(`${c.name}: threw ${(e as Error).message}`);
      continue;
    }
    for (const k of c.compare) {
      const r = compareClose(`${c.name} ${k}`, got[k]!, want[k]!, tol.atol, tol.rtol);
      if (!r.ok) failures.push(r.message);
      if (r.maxAbs > worst.d) worst = { d: r.maxAbs, name: `${c.name} ${k}` };
    }
  }
  return { cases: cases.length, notImplemented, failures, worst };
}

/** Bad input gets typed errors: a token id out of range, shape mismatches, a freed tensor. */
export function checkErrors(subject: Backend): string[] {
  const failures: string[] = [];
  const expectThrow = (what: string, f: () => void, code?: string) => {
    try {
      f();
      failures.push(`${what}: did not throw`);
    } catch (e) {
      if (!(e instanceof RwkvError)) failures.push(`${what}: threw ${String(e)}, not an RwkvError`);
      else if (code !== undefined && e.code !== code) failures.push(`${what}: code ${e.code}, expected ${code}`);
    }
  };
  const table = subject.upload(new Float32Array(6), [3, 2], 'table');
  const out = subject.zeros([1, 2], 'out');
  expectThrow('embedding with token 3 of 3', () => subject.embedding(out, table, new Int32Array([3])), 'INVALID_TOKEN');
  const x = subject.zeros([2, 4], 'x');
  expectThrow('matmul x [2, 4] · W [3, 2]ᵀ', () => subject.matmul(out, x, table), 'SHAPE_MISMATCH');
  // every backend checks the same contract (src/backends/shape.ts): an operand of the wrong size
  // is refused before a kernel could read or write past it
  const c4 = subject.zeros([4], 'c4');
  const c3 = subject.zeros([3], 'c3');
  const tc = subject.zeros([2, 4], 'tc');
  const S = subject.zeros([2, 2, 2], 'S'); // H 2, N 2
  expectThrow('layerNorm into out [1, 2] of x [2, 4]', () => subject.layerNorm(out, x, c4, c4, 4, 1e-5), 'SHAPE_MISMATCH');
  expectThrow('shift with prev [3] for C 4', () => subject.shift(tc, x, c3), 'SHAPE_MISMATCH');
  if (implementsOp(subject, 'wkv4'))
    expectThrow('wkv4 into out [1, 2] of k [2, 4]', () => subject.wkv4!(out, c4, c4, c4, c4, c4, x, tc), 'SHAPE_MISMATCH');
  if (implementsOp(subject, 'wkv5')) {
    expectThrow('wkv5 with u [3] for C 4', () => subject.wkv5!(tc, S, tc, x, tc, c4, c3, 2), 'SHAPE_MISMATCH');
    expectThrow('wkv5 into out [1, 2] of k [2, 4]', () => subject.wkv5!(out, S, tc, x, tc, c4, c4, 2), 'SHAPE_MISMATCH');
  }
  if (implementsOp(subject, 'wkv7'))
    expectThrow('wkv7 with r [1, 2] for k [2, 4]', () => subject.wkv7!(tc, S, out, tc, x, tc, tc, tc, 2), 'SHAPE_MISMATCH');
  for (const t of [c4, c3, tc, S]) subject.free(t);
  subject.free(x);
  expectThrow('an op on a freed tensor', () => subject.unary('neg', out, x));
  subject.free(table);
  subject.free(out);
  return failures;
}

/** The fixture models (those present) and, with `randomModels` and against 'ts', a random model per version. */
export function modelSources(m: ConformanceOptions['models']): ModelSource[] {
  return [
    ...fixtureSources().filter((s) => m.fixtures?.(s.label) ?? true),
    ...(m.randomModels && m.against === 'ts' ? randomSources() : []),
  ];
}

export interface ModelReport {
  notes: string[];
  failures: string[];
  /** Largest logits difference seen (vs TS or the official numbers). */
  maxAbs: number;
  /** Why the model was not run: it needs an optional op the subject does not implement. */
  skipped?: string;
}

/** One model with one weights policy on `subject`, against the TS backend or the official numbers. */
export async function checkModel(
  subject: Backend,
  src: ModelSource,
  w: ConformanceOptions['models']['weights'][number],
  m: ConformanceOptions['models'],
  ts: Backend = new TsBackend(),
): Promise<ModelReport> {
  let model: RwkvModel;
  try {
    model = await src.load(subject, w.weights);
  } catch (e) {
    // a backend without some optional op (e.g. a v7-only one) cannot run the versions that need
    // it: the model refuses with OP_UNSUPPORTED naming the op, and that is the expected outcome
    if (e instanceof RwkvError && e.code === 'OP_UNSUPPORTED' && OPTIONAL_OPS.some((op) => !implementsOp(subject, op)))
      return { notes: [], failures: [], maxAbs: 0, skipped: e.message };
    throw e;
  }
  const ref = m.against === 'ts' ? await src.load(ts, w.weights) : undefined;
  const notes: string[] = [];
  const failures: string[] = [];
  let maxAbs = 0;
  const diff = (a: readonly Float32Array[], b: readonly ArrayLike<number>[], label: string): number => {
    try {
      return maxDiff(a, b, w.logits, label);
    } catch (e) {
      failures.push((e as Error).message);
      let d = 0;
      for (let i = 0; i < a.length; i++) d = Math.max(d, compareClose(label, a[i]!, b[i]!, Infinity).maxAbs);
      return d;
    }
  };
  try {
    for (const p of src.prompts) {
      const label = `${src.label}/${w.weights}/${p.name}`;
      const got = await runModel(model, p.tokens, m.greedyTokens);
      if (ref !== undefined) {
        const want = await runModel(ref, p.tokens, m.greedyTokens);
        const d = Math.max(diff(got.seq, want.seq, `${label} seq`), diff(got.rnn, want.rnn, `${label} rnn`));
        maxAbs = Math.max(maxAbs, d);
        const same = got.greedy.every((t, i) => t === want.greedy[i]);
        notes.push(`${p.name} max |Δlogits| ${d.toExponential(2)}, greedy ${same ? 'same' : 'DIFFERENT'}`);
        if (w.exactGreedy && !same) failures.push(`${label} greedy tokens ${got.greedy.join(',')} != ${want.greedy.join(',')}`);
      } else {
        const o = p.oracle;
        if (o === undefined) {
          failures.push(`${label}: no oracle numbers for this weight set`);
          continue;
        }
        const d = diff([got.seq.at(-1)!, got.rnn.at(-1)!], [o.seq_logits, o.seq_logits], `${label} vs official`);
        maxAbs = Math.max(maxAbs, d);
        const n = Math.min(m.greedyTokens, o.greedy_tokens.length);
        const same = got.greedy.slice(0, n).every((t, i) => t === o.greedy_tokens[i]);
        notes.push(`${p.name} max |Δlogits| vs official ${d.toExponential(2)}, greedy ${same ? 'same' : 'DIFFERENT'}`);
        if (w.exactGreedy && !same)
          failures.push(`${label} greedy tokens ${got.greedy.slice(0, n).join(',')} != ${o.greedy_tokens.slice(0, n).join(',')}`);
      }
    }
  } finally {
    await model.dispose();
    await ref?.dispose();
  }
  return { notes, failures, maxAbs };
}
