// Each non-matmul WASM kernel (assembly/kernels/norm.ts, elementwise.ts, wkv.ts, typed by
// src/backends/wasm/abi-ops.ts) ≡ its scalar twin in src/backends/ts/kernels.ts on random inputs:
// odd sizes (below 4, not multiples of 4, so every scalar tail runs), T = 1 and T > 1, broadcast
// and full operands, in place where the ABI allows it, for each build this runtime can run
// (portable SIMD everywhere; relaxed SIMD where WebAssembly.validate accepts it: Deno, Bun,
// Node ≥ 22). The kernels are driven directly through a bump allocator whose guard bytes catch
// writes past a block's end.

import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import * as K from '../../src/backends/ts/kernels.ts';
import { BINARY_EXPORT, OP_KERNEL_NAMES, UNARY_EXPORT, matrixKernels, opKernels, type OpKernels } from '../../src/backends/wasm/abi-ops.ts';
import { instantiateKernels, wasmVariantSupported, type WasmVariant } from '../../src/backends/wasm/module.ts';
import { RwkvError } from '../../src/errors.ts';
import type { BinaryOp, UnaryOp } from '../../src/backends/backend.ts';
import { uniform } from '../helpers/random-model.ts';
import {
  EXACT,
  WASM_EXP_ATOL,
  WASM_EXP_RTOL,
  WASM_LERP_ATOL,
  WASM_NORM_ATOL,
  WASM_NORM_RTOL,
  WASM_SUM_ATOL,
  WASM_SUM_RTOL,
  WASM_WKV_ATOL,
  WASM_WKV_RTOL,
  expectClose,
} from '../helpers/tolerance.ts';
import { WasmArena } from '../helpers/wasm-memory.ts';
import { wkv7AB } from '../helpers/wkv7-operands.ts';
import { DECAY_SCALE } from '../../src/constants.ts';

// ---- tolerances: test/helpers/tolerance.ts (WASM_*: the kernels vs their TS twins) ----

// ---- random inputs ----

const rand = uniform;
type Rand = ReturnType<typeof rand>;
function f32(n: number, r: Rand, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, () => r(lo, hi));
}

/** T tokens, H heads of N channels (C = H·N): N covers 1–3 (all tail), 4, 8, 16 (no tail), odd, and 21 (a 16-wide block, a 4-wide one and a tail in wkv5). */
const dims = fc.record({
  T: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 9 })),
  H: fc.integer({ min: 1, max: 3 }),
  N: fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 13, 16, 21),
  seed: fc.integer(),
});
/** An element count for the flat element-wise ops: 0 … 41. */
const count = fc.record({ n: fc.integer({ min: 0, max: 41 }), seed: fc.integer() });

// ---- per-build fixtures ----

const VARIANTS: WasmVariant[] = ['portable', 'relaxed'];
const unsupported = VARIANTS.filter((v) => !wasmVariantSupported(v));
if (unsupported.length > 0) {
  console.warn(
    `\n*** SKIPPING the ${unsupported.join(', ')} WASM build(s) in wasm-ops.prop.test.ts: this runtime cannot run them (WebAssembly.validate is false) ***\n`,
  );
}

function setup(variant: WasmVariant, shared = true): { arena: WasmArena; ops: OpKernels } {
  const arena = new WasmArena(4, shared);
  return { arena, ops: opKernels(instantiateKernels(arena.memory, variant)) };
}

/** The RwkvError `f` throws (fails the test when it throws nothing or something else). */
function refusal(f: () => unknown): RwkvError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RwkvError);
    return e as RwkvError;
  }
  throw new Error('did not throw');
}

describe('opKernels, matrixKernels', () => {
  /** The real exports of the embedded portable build. */
  const real = () => instantiateKernels(new WasmArena(1).memory, 'portable');

  test('accept the embedded binary: every kernel there, each with the parameter count the ABI declares', () => {
    const exports = real();
    expect(() => opKernels(exports)).not.toThrow();
    expect(() => matrixKernels(exports)).not.toThrow();
    // a WebAssembly function's length is its parameter count (what the arity check reads)
    expect((exports['wkv7'] as (...a: number[]) => void).length).toBe(13);
  });

  test('name the missing exports of a stale binary with a typed error', () => {
    const err = refusal(() => opKernels({ layerNorm: () => undefined } as unknown as WebAssembly.Exports));
    expect(err.code).toBe('BACKEND_UNAVAILABLE');
    // the present export is not in the missing list; the last one is
    expect(err.message).toMatch(/lacks the op kernels l2NormalizeGroups, .*, wkv7 \(/);
    const { matmulI8Prep: _, ...noPrep } = real();
    const m = refusal(() => matrixKernels(noPrep));
    expect(m.code).toBe('BACKEND_UNAVAILABLE');
    expect(m.message).toMatch(/lacks the matrix kernels matmulI8Prep \(/);
  });

  test('name each export whose parameter count differs from the ABI with a typed error', () => {
    const exports = real();
    const fake = {
      ...exports,
      wkv7: (out: number, S: number) => void [out, S], // 2 parameters, the ABI has 13
      shift: (...a: number[]) => void a, // 0
    } as unknown as WebAssembly.Exports;
    const err = refusal(() => opKernels(fake));
    expect(err.code).toBe('BACKEND_UNAVAILABLE');
    expect(err.message).toMatch(/the WASM kernel exports shift, wkv7 take other parameters than the ABI/);
    expect(err.expected).toMatch(/shift 5, wkv7 13/);
    expect(err.actual).toMatch(/shift 0, wkv7 2/);
    const m = refusal(() => matrixKernels({ ...exports, matmulBf16: (out: number) => void out } as unknown as WebAssembly.Exports));
    expect(m.message).toMatch(/exports matmulBf16 take other parameters/);
    expect(m.actual).toMatch(/matmulBf16 1/);
  });
});

/** Each build on shared memory (threads) and on plain memory (browser pages without isolation). */
const BUILDS = VARIANTS.flatMap(
  (v) =>
    [
      [v, 'shared'],
      [v, 'plain'],
    ] as const,
).filter(([v, m]) => wasmVariantSupported(v, m === 'shared'));

describe.each(BUILDS)('%s WASM op kernels (%s memory) ≡ TS twins', (variant, memory) => {
  const { arena, ops } = setup(variant, memory === 'shared');

  /** After a kernel call: no block's guard bytes touched. */
  const guardsIntact = () => expect(arena.checkGuards()).toEqual([]);

  test('every OpKernels export exists', () => {
    for (const name of OP_KERNEL_NAMES) expect(typeof ops[name]).toBe('function');
  });

  test.prop([dims, fc.boolean(), fc.boolean(), fc.constantFrom(1e-5, 64e-5)])(
    'layerNorm (LayerNorm G = C and GroupNorm G = N; in place or not)',
    ({ T, H, N, seed }, group, inPlace, eps) => {
      const r = rand(seed);
      const C = H * N;
      const G = group ? N : C;
      // a per-row offset, so the mean matters
      const x = f32(T * C, r, -3, 3).map((v, i) => v + 4 * Math.sin(Math.floor(i / C) + seed));
      const w = f32(C, r);
      const b = f32(C, r);
      arena.reset();
      const px = arena.put(x, 'x');
      const pout = inPlace ? px : arena.alloc(T * C, 'out');
      ops.layerNorm(pout, px, arena.put(w, 'w'), arena.put(b, 'b'), T, C, G, eps);
      guardsIntact();
      const want = new Float32Array(T * C);
      K.layerNorm(want, x, w, b, T, C, G, eps);
      expectClose('layerNorm', arena.get(pout, T * C), want, WASM_NORM_ATOL, WASM_NORM_RTOL);
    },
  );

  test.prop([dims, fc.constantFrom(4, 100, 1000), fc.constantFrom(1e-3, 1e-2, 1)])(
    'layerNorm on groups clustered far from 0 (an f32 mean alone would be off by ½ ulp of the offset)',
    ({ T, H, N, seed }, offset, spread) => {
      const r = rand(seed);
      const C = H * N;
      const x = f32(T * C, r, -spread, spread).map((v) => offset + v);
      const w = f32(C, r);
      const b = f32(C, r);
      arena.reset();
      const pout = arena.alloc(T * C, 'out');
      ops.layerNorm(pout, arena.put(x, 'x'), arena.put(w, 'w'), arena.put(b, 'b'), T, C, N, 1e-5);
      guardsIntact();
      const want = new Float32Array(T * C);
      K.layerNorm(want, x, w, b, T, C, N, 1e-5);
      expectClose('layerNorm (clustered)', arena.get(pout, T * C), want, WASM_NORM_ATOL, WASM_NORM_RTOL);
    },
  );

  test.prop([dims, fc.boolean(), fc.boolean()])(
    'l2NormalizeGroups (incl. an all-zero group: the eps floor)',
    ({ T, H, N, seed }, zero, inPlace) => {
      const r = rand(seed);
      const n = T * H * N;
      const x = f32(n, r, -3, 3);
      if (zero) x.fill(0, 0, N);
      arena.reset();
      const px = arena.put(x, 'x');
      const pout = inPlace ? px : arena.alloc(n, 'out');
      ops.l2NormalizeGroups(pout, px, n, N, 1e-12);
      guardsIntact();
      const want = new Float32Array(n);
      K.l2NormalizeGroups(want, x, n, N, 1e-12);
      expectClose('l2NormalizeGroups', arena.get(pout, n), want, WASM_NORM_ATOL, WASM_NORM_RTOL);
    },
  );

  test.prop([dims, fc.boolean()])('shift (token shift; in place or not)', ({ T, H, N, seed }, inPlace) => {
    const r = rand(seed);
    const C = H * N;
    const x = f32(T * C, r);
    const prev = f32(C, r);
    arena.reset();
    const px = arena.put(x, 'x');
    const pout = inPlace ? px : arena.alloc(T * C, 'out');
    ops.shift(pout, px, arena.put(prev, 'prev'), T, C);
    guardsIntact();
    const want = new Float32Array(T * C);
    K.shift(want, x, prev, T, C);
    expectClose('shift', arena.get(pout, T * C), want, EXACT);
  });

  const unaryOps = Object.keys(UNARY_EXPORT) as UnaryOp[];
  const exactUnary: ReadonlySet<UnaryOp> = new Set(['neg', 'relu2']);
  test.prop([count, fc.constantFrom(...unaryOps), fc.boolean(), fc.constantFrom(1, 10, 40)])(
    'unary (every UnaryOp; x in ±1, ±10, ±40; in place or not)',
    ({ n, seed }, op, inPlace, range) => {
      const r = rand(seed);
      const x = f32(n, r, -range, range);
      arena.reset();
      const px = arena.put(x, 'x');
      const pout = inPlace ? px : arena.alloc(n, 'out');
      ops[UNARY_EXPORT[op]](pout, px, n);
      guardsIntact();
      const want = new Float32Array(n);
      K.unary(op, want, x, n);
      if (exactUnary.has(op)) expectClose(op, arena.get(pout, n), want, EXACT);
      else expectClose(op, arena.get(pout, n), want, WASM_EXP_ATOL, WASM_EXP_RTOL);
    },
  );

  test('unary on special values: ±0, ±Inf, NaN, huge and tiny inputs', () => {
    const x = Float32Array.from([0, -0, Infinity, -Infinity, NaN, 1e30, -1e30, 100, -100, 89, -89, 1e-30, -1e-30]);
    for (const op of unaryOps) {
      arena.reset();
      const px = arena.put(x, 'x');
      const pout = arena.alloc(x.length, 'out');
      ops[UNARY_EXPORT[op]](pout, px, x.length);
      guardsIntact();
      const want = new Float32Array(x.length);
      K.unary(op, want, x, x.length);
      expectClose(op, arena.get(pout, x.length), want, WASM_EXP_ATOL, WASM_EXP_RTOL);
    }
  });

  /** Relative error bound of the exp-based ops (≈ 7 ulp; measured worst: tanh 5.8e-7 near |x| = 1/4,
   * sigmoid 2.0e-7, silu 2.4e-7, rwkv7Decay 2.2e-7); exp(−exp(x)) amplifies by up to e^x ≤ e² here. */
  const UNARY_REL = 8e-7;
  const EXP_NEG_EXP_REL = 2e-6;
  test('relative accuracy of the exp-based ops over a sweep (tiny to large |x|, both signs)', () => {
    const mags = Array.from({ length: 500 }, (_, i) => 1e-6 * 10 ** ((i / 499) * Math.log10(80 / 1e-6)));
    const x = Float32Array.from([...mags, ...mags.map((m) => -m)]);
    for (const op of ['sigmoid', 'tanh', 'silu', 'rwkv7Decay', 'expNegExp'] as const) {
      const xs = op === 'expNegExp' ? x.filter((v) => v <= 2) : x;
      arena.reset();
      const px = arena.put(xs, 'x');
      const pout = arena.alloc(xs.length, 'out');
      ops[UNARY_EXPORT[op]](pout, px, xs.length);
      const want = new Float32Array(xs.length);
      K.unary(op, want, xs, xs.length);
      expectClose(`${op} (relative)`, arena.get(pout, xs.length), want, 0, op === 'expNegExp' ? EXP_NEG_EXP_REL : UNARY_REL);
    }
  });

  const binaryOps = Object.keys(BINARY_EXPORT) as BinaryOp[];
  test.prop([dims, fc.constantFrom(...binaryOps), fc.boolean(), fc.boolean()])(
    'binary (add, sub, mul; b [C] or [T, C]; in place or not)',
    ({ T, H, N, seed }, op, broadcast, inPlace) => {
      const r = rand(seed);
      const C = H * N;
      const n = T * C;
      const bn = broadcast ? C : n;
      const a = f32(n, r, -4, 4);
      const b = f32(bn, r, -4, 4);
      arena.reset();
      const pa = arena.put(a, 'a');
      const pout = inPlace ? pa : arena.alloc(n, 'out');
      ops[BINARY_EXPORT[op]](pout, pa, arena.put(b, 'b'), n, bn);
      guardsIntact();
      const want = new Float32Array(n);
      K.binary(op, want, a, b, n, bn);
      expectClose(op, arena.get(pout, n), want, EXACT);
    },
  );

  test.prop([dims, fc.boolean(), fc.boolean(), fc.boolean()])(
    'lerp (b and t each [C] or [T, C]; in place or not)',
    ({ T, H, N, seed }, bRow, tRow, inPlace) => {
      const r = rand(seed);
      const C = H * N;
      const n = T * C;
      const bn = bRow ? C : n;
      const tn = tRow ? C : n;
      const a = f32(n, r, -4, 4);
      const b = f32(bn, r, -4, 4);
      const t = f32(tn, r, 0, 1);
      arena.reset();
      const pa = arena.put(a, 'a');
      const pout = inPlace ? pa : arena.alloc(n, 'out');
      ops.lerp(pout, pa, arena.put(b, 'b'), arena.put(t, 't'), n, bn, tn);
      guardsIntact();
      const want = new Float32Array(n);
      K.lerp(want, a, b, t, n, bn, tn);
      expectClose('lerp', arena.get(pout, n), want, WASM_LERP_ATOL);
    },
  );

  test.prop([dims])('groupSum', ({ T, H, N, seed }) => {
    const r = rand(seed);
    const n = T * H * N;
    const x = f32(n, r, -3, 3);
    arena.reset();
    const pout = arena.alloc(T * H, 'out');
    ops.groupSum(pout, arena.put(x, 'x'), n, N);
    guardsIntact();
    const want = new Float32Array(T * H);
    K.groupSum(want, x, n, N);
    expectClose('groupSum', arena.get(pout, T * H), want, WASM_SUM_ATOL, WASM_SUM_RTOL);
  });

  test.prop([dims, fc.boolean()])('groupScale (in place or not)', ({ T, H, N, seed }, inPlace) => {
    const r = rand(seed);
    const n = T * H * N;
    const x = f32(n, r, -3, 3);
    const s = f32(T * H, r, -2, 2);
    arena.reset();
    const px = arena.put(x, 'x');
    const pout = inPlace ? px : arena.alloc(n, 'out');
    ops.groupScale(pout, px, arena.put(s, 's'), n, N);
    guardsIntact();
    const want = new Float32Array(n);
    K.groupScale(want, x, s, n, N);
    expectClose('groupScale', arena.get(pout, n), want, EXACT);
  });

  test.prop([
    fc.record({
      T: fc.integer({ min: 1, max: 4 }),
      I: fc.integer({ min: 1, max: 17 }),
      J: fc.integer({ min: 1, max: 19 }),
      seed: fc.integer(),
    }),
  ])('rowVecMat (I, J odd and small)', ({ T, I, J, seed }) => {
    const r = rand(seed);
    const x = f32(T * I, r, -3, 3);
    const M = f32(T * I * J, r, -1, 1);
    arena.reset();
    const pout = arena.alloc(T * J, 'out');
    ops.rowVecMat(pout, arena.put(x, 'x'), arena.put(M, 'M'), T, I, J);
    guardsIntact();
    const want = new Float32Array(T * J);
    K.rowVecMat(want, x, M, T, I, J);
    expectClose('rowVecMat', arena.get(pout, T * J), want, WASM_SUM_ATOL, WASM_SUM_RTOL);
  });

  test('degenerate sizes (0 groups, group size 0, T = 0) return without writing or looping', () => {
    arena.reset();
    const x = arena.put(Float32Array.from([1, 2, 3, 4, 5]), 'x');
    const out = arena.put(new Float32Array(5).fill(7), 'out');
    ops.layerNorm(out, x, x, x, 1, 5, 0, 1e-5);
    ops.l2NormalizeGroups(out, x, 5, 0, 1e-12);
    ops.shift(out, x, x, 0, 5);
    ops.binaryAdd(out, x, x, 5, 0);
    ops.lerp(out, x, x, x, 5, 0, 5);
    ops.groupSum(out, x, 5, 0);
    ops.groupScale(out, x, x, 5, 0);
    ops.unaryTanh(out, x, 0);
    ops.wkv7(out, x, x, x, x, x, x, x, 0, 1, 1, 0, 1);
    guardsIntact();
    expect(Array.from(arena.get(out, 5))).toEqual([7, 7, 7, 7, 7]);
  });

  // ---- WKV ----

  /** Run wkv4 on both sides from the same state; compare out and the state. */
  function checkWkv4(T: number, C: number, r: Rand, fresh: boolean, split: number): void {
    const k = f32(T * C, r, -3, 3);
    const v = f32(T * C, r);
    const w = f32(C, r, -3, -0.01); // −exp(time_decay)
    const u = f32(C, r);
    const aa = fresh ? new Float32Array(C) : f32(C, r);
    const bb = fresh ? new Float32Array(C) : f32(C, r, 0.5, 3);
    const pp = fresh ? new Float32Array(C).fill(-1e38) : f32(C, r, -2, 2);
    arena.reset();
    const pout = arena.alloc(T * C, 'out');
    const [pa, pb, pp2] = [arena.put(aa, 'aa'), arena.put(bb, 'bb'), arena.put(pp, 'pp')];
    const [pw, pu, pk, pv] = [arena.put(w, 'w'), arena.put(u, 'u'), arena.put(k, 'k'), arena.put(v, 'v')];
    // in two channel ranges [0, cut) and [cut, C), as two threads would
    const cut = split % (C + 1);
    ops.wkv4(pout, pa, pb, pp2, pw, pu, pk, pv, T, C, 0, cut);
    ops.wkv4(pout, pa, pb, pp2, pw, pu, pk, pv, T, C, cut, C);
    guardsIntact();
    const out = new Float32Array(T * C);
    K.wkv4(out, aa, bb, pp, w, u, k, v, T, C);
    expectClose('wkv4 out', arena.get(pout, T * C), out, WASM_WKV_ATOL, WASM_WKV_RTOL);
    expectClose('wkv4 aa', arena.get(pa, C), aa, WASM_WKV_ATOL, WASM_WKV_RTOL);
    expectClose('wkv4 bb', arena.get(pb, C), bb, WASM_WKV_ATOL, WASM_WKV_RTOL);
    expectClose('wkv4 pp', arena.get(pp2, C), pp, WASM_WKV_ATOL, WASM_WKV_RTOL);
  }

  /** wkv5 with realistic decays w = exp(−exp(x)), x ∈ [−6, 0] (w ∈ (0.37, 0.998)). */
  function checkWkv5(T: number, H: number, N: number, r: Rand, perToken: boolean, split: number): void {
    const C = H * N;
    const [rr, k, v] = [f32(T * C, r), f32(T * C, r), f32(T * C, r)];
    const w = f32(perToken ? T * C : C, r, -6, 0).map((x) => Math.exp(-Math.exp(x)));
    const u = f32(C, r);
    const S = f32(H * N * N, r);
    arena.reset();
    const pout = arena.alloc(T * C, 'out');
    const pS = arena.put(S, 'S');
    const [pr, pk, pv, pw, pu] = [arena.put(rr, 'r'), arena.put(k, 'k'), arena.put(v, 'v'), arena.put(w, 'w'), arena.put(u, 'u')];
    // in two head ranges [0, cut) and [cut, H)
    const cut = split % (H + 1);
    ops.wkv5(pout, pS, pr, pk, pv, pw, pu, T, H, N, perToken ? 1 : 0, 0, cut);
    ops.wkv5(pout, pS, pr, pk, pv, pw, pu, T, H, N, perToken ? 1 : 0, cut, H);
    guardsIntact();
    const out = new Float32Array(T * C);
    K.wkv5(out, S, rr, k, v, w, u, T, H, N, perToken);
    expectClose(`wkv5 (${perToken ? 'v6' : 'v5'}) out`, arena.get(pout, T * C), out, WASM_WKV_ATOL, WASM_WKV_RTOL);
    expectClose(`wkv5 (${perToken ? 'v6' : 'v5'}) S`, arena.get(pS, H * N * N), S, WASM_WKV_ATOL, WASM_WKV_RTOL);
  }

  /**
   * wkv7 with the model's operands: w = exp(−e^−0.5·σ(x)) ∈ (0.54, 1), a = −κ̂ and b = κ̂·iclr
   * with κ̂ a unit vector per head and iclr ∈ (0, 1) (so the state stays bounded, as in a model).
   */
  function checkWkv7(T: number, H: number, N: number, r: Rand, split: number): void {
    const C = H * N;
    const [rr, k, v] = [f32(T * C, r), f32(T * C, r), f32(T * C, r)];
    const w = f32(T * C, r, -5, 5).map((x) => Math.exp(-DECAY_SCALE / (1 + Math.exp(-x))));
    const { a, b } = wkv7AB(f32(T * C, r), f32(T * C, r, 0, 1), N);
    const S = f32(H * N * N, r);
    arena.reset();
    const pout = arena.alloc(T * C, 'out');
    const pS = arena.put(S, 'S');
    const [pr, pw, pk, pv, pa, pb] = [
      arena.put(rr, 'r'),
      arena.put(w, 'w'),
      arena.put(k, 'k'),
      arena.put(v, 'v'),
      arena.put(a, 'a'),
      arena.put(b, 'b'),
    ];
    // in two head ranges [0, cut) and [cut, H)
    const cut = split % (H + 1);
    ops.wkv7(pout, pS, pr, pw, pk, pv, pa, pb, T, H, N, 0, cut);
    ops.wkv7(pout, pS, pr, pw, pk, pv, pa, pb, T, H, N, cut, H);
    guardsIntact();
    const out = new Float32Array(T * C);
    K.wkv7(out, S, rr, w, k, v, a, b, T, H, N);
    expectClose('wkv7 out', arena.get(pout, T * C), out, WASM_WKV_ATOL, WASM_WKV_RTOL);
    expectClose('wkv7 S', arena.get(pS, H * N * N), S, WASM_WKV_ATOL, WASM_WKV_RTOL);
  }

  const split = fc.nat();
  test.prop([dims, fc.boolean(), split])(
    'wkv4 (fresh state pp = −1e38, or a random one; two channel ranges)',
    ({ T, H, N, seed }, fresh, cut) => {
      checkWkv4(T, H * N, rand(seed), fresh, cut);
    },
  );
  test.prop([dims, fc.boolean(), split])('wkv5 (v5: w [C]; v6: w [T, C]; two head ranges)', ({ T, H, N, seed }, perToken, cut) => {
    checkWkv5(T, H, N, rand(seed), perToken, cut);
  });
  test.prop([dims, split])('wkv7 (two head ranges)', ({ T, H, N, seed }, cut) => {
    checkWkv7(T, H, N, rand(seed), cut);
  });

  test.prop([fc.integer(), fc.constantFrom(13, 64)], { numRuns: 4 })(
    'WKV of every version over T = 64 tokens, 2 heads of N = 13 or 64',
    (seed, N) => {
      const r = rand(seed);
      checkWkv4(64, 2 * N, r, true, 2 * N);
      checkWkv5(64, 2, N, r, false, 2);
      checkWkv5(64, 2, N, r, true, 2);
      checkWkv7(64, 2, N, r, 2);
    },
  );
});
