// The non-matmul kernel exports of the WASM module (assembly/kernels/norm.ts, elementwise.ts,
// wkv.ts), typed. Each one implements one Backend op (src/backends/backend.ts: the doc comments
// there are the semantics) and is bound to its scalar twin in src/backends/ts/kernels.ts by
// test/property/wasm-ops.prop.test.ts.
//
// ABI: every pointer is a byte offset into the module's shared memory (f32 data, 4-byte aligned
// suffices; 16 is better), every size counts f32 elements, outputs come first. A kernel does not
// allocate and touches only the ranges its arguments describe. Unless a line says "out may be x",
// out must not overlap any input.

import { RwkvError } from '../../errors.ts';
import type { UnaryOp, BinaryOp } from '../backend.ts';

/** (out, x, n): out[i] = f(x[i]) for i < n; out may be x. */
export type UnaryKernel = (out: number, x: number, n: number) => void;
/** (out, a, b, n, bn): out = a ∘ b over n elements, b of bn elements repeating (bn = C or n); out may be a. */
export type BinaryKernel = (out: number, a: number, b: number, n: number, bn: number) => void;

export interface OpKernels {
  /**
   * Backend.layerNorm over `rows` rows of C channels, groups of G (C a multiple of G; G = C is
   * LayerNorm, G = N GroupNorm). weight, bias [C]. eps is passed as f32. out may be x.
   */
  layerNorm(out: number, x: number, weight: number, bias: number, rows: number, C: number, G: number, eps: number): void;
  /** Backend.l2NormalizeGroups: x / max(‖x‖₂, eps) per group of G of the n values. out may be x. */
  l2NormalizeGroups(out: number, x: number, n: number, G: number, eps: number): void;
  /** Backend.shift: out[0] = prev, out[t] = x[t − 1]; out, x [T, C], prev [C]. out may be x; prev must not overlap out. */
  shift(out: number, x: number, prev: number, T: number, C: number): void;
  /** Backend.unary('sigmoid'). */
  unarySigmoid: UnaryKernel;
  /** Backend.unary('tanh'). */
  unaryTanh: UnaryKernel;
  /** Backend.unary('silu'). */
  unarySilu: UnaryKernel;
  /** Backend.unary('relu2'). */
  unaryRelu2: UnaryKernel;
  /** Backend.unary('neg'). */
  unaryNeg: UnaryKernel;
  /** Backend.unary('expNegExp'). */
  unaryExpNegExp: UnaryKernel;
  /** Backend.unary('rwkv7Decay'). */
  unaryRwkv7Decay: UnaryKernel;
  /** Backend.binary('add'). */
  binaryAdd: BinaryKernel;
  /** Backend.binary('sub'). */
  binarySub: BinaryKernel;
  /** Backend.binary('mul'). */
  binaryMul: BinaryKernel;
  /**
   * Backend.lerp: out = a + (b − a)∘t over n elements; b has bn, t has tn elements (each C or
   * n), repeating. out may be a.
   */
  lerp(out: number, a: number, b: number, t: number, n: number, bn: number, tn: number): void;
  /** Backend.groupSum: out[h] = Σ of group h of G of the n values of x; out [n / G]. */
  groupSum(out: number, x: number, n: number, G: number): void;
  /** Backend.groupScale: out[c] = x[c]·s[c / G] over n values; s [n / G]. out may be x. */
  groupScale(out: number, x: number, s: number, n: number, G: number): void;
  /** Backend.rowVecMat: out[t, j] = Σ_i x[t, i]·M[t, i·J + j]; out [T, J], x [T, I], M [T, I·J]. */
  rowVecMat(out: number, x: number, M: number, T: number, I: number, J: number): void;
  /**
   * Backend.wkv4: out, k, v [T, C]; aa, bb, pp [C] in/out; w, u [C]. Computes channels
   * [c0, c1) only (0, C: all): disjoint ranges may run on different threads at once.
   */
  wkv4(
    out: number,
    aa: number,
    bb: number,
    pp: number,
    w: number,
    u: number,
    k: number,
    v: number,
    T: number,
    C: number,
    c0: number,
    c1: number,
  ): void;
  /**
   * Backend.wkv5 (v5 and v6): out, r, k, v [T, C]; w [C] (wPerToken 0, v5) or [T, C]
   * (wPerToken 1, v6); u [C]; S [H, N, N] in/out; C = H·N. Computes heads [h0, h1) only
   * (0, H: all): disjoint ranges may run on different threads at once.
   */
  wkv5(
    out: number,
    S: number,
    r: number,
    k: number,
    v: number,
    w: number,
    u: number,
    T: number,
    H: number,
    N: number,
    wPerToken: number,
    h0: number,
    h1: number,
  ): void;
  /**
   * Backend.wkv7: out, r, w, k, v, a, b [T, C]; S [H, N, N] in/out; C = H·N. Computes heads
   * [h0, h1) only (0, H: all), like wkv5.
   */
  wkv7(
    out: number,
    S: number,
    r: number,
    w: number,
    k: number,
    v: number,
    a: number,
    b: number,
    T: number,
    H: number,
    N: number,
    h0: number,
    h1: number,
  ): void;
}

/** Every export name of OpKernels (checked at run time against the instance). */
export const OP_KERNEL_NAMES = [
  'layerNorm',
  'l2NormalizeGroups',
  'shift',
  'unarySigmoid',
  'unaryTanh',
  'unarySilu',
  'unaryRelu2',
  'unaryNeg',
  'unaryExpNegExp',
  'unaryRwkv7Decay',
  'binaryAdd',
  'binarySub',
  'binaryMul',
  'lerp',
  'groupSum',
  'groupScale',
  'rowVecMat',
  'wkv4',
  'wkv5',
  'wkv7',
] as const satisfies readonly (keyof OpKernels)[];

// Compile-time check that the list names every member (an OpKernels key missing from it fails here).
type Missing = Exclude<keyof OpKernels, (typeof OP_KERNEL_NAMES)[number]>;
const allNamed: [Missing] extends [never] ? true : Missing = true;
void allNamed;

/** The export implementing Backend.unary(op). */
export const UNARY_EXPORT = {
  sigmoid: 'unarySigmoid',
  tanh: 'unaryTanh',
  silu: 'unarySilu',
  relu2: 'unaryRelu2',
  neg: 'unaryNeg',
  expNegExp: 'unaryExpNegExp',
  rwkv7Decay: 'unaryRwkv7Decay',
} as const satisfies Record<UnaryOp, keyof OpKernels>;

/** The export implementing Backend.binary(op). */
export const BINARY_EXPORT = {
  add: 'binaryAdd',
  sub: 'binarySub',
  mul: 'binaryMul',
} as const satisfies Record<BinaryOp, keyof OpKernels>;

/**
 * The op kernels of an instance's exports. Throws RwkvError('BACKEND_UNAVAILABLE') naming the
 * missing exports when the embedded binary predates them (rebuild with `npm run build:wasm`).
 */
export function opKernels(exports: WebAssembly.Exports): OpKernels {
  const missing = OP_KERNEL_NAMES.filter((name) => typeof exports[name] !== 'function');
  if (missing.length > 0) {
    throw new RwkvError('BACKEND_UNAVAILABLE', `the WASM kernel module lacks the op kernels ${missing.join(', ')}`, {
      expected: `exports ${OP_KERNEL_NAMES.join(', ')}`,
      actual: `exports ${Object.keys(exports).join(', ')}`,
      hint: 'the embedded binary is stale: run `npm run build:wasm`',
    });
  }
  return exports as unknown as OpKernels;
}
