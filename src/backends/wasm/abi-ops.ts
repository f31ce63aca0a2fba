// The kernel exports of the WASM module, typed: the matrix kernels (assembly/kernels/matmul) and
// the op kernels (assembly/kernels/norm.ts, elementwise.ts, wkv.ts). Each op kernel implements
// one Backend op (src/backends/backend.ts: the doc comments there are the semantics) and is bound
// to its scalar twin in src/backends/ts/kernels.ts by test/property/wasm-ops.prop.test.ts; the
// matrix kernels by test/property/wasm-matmul.prop.test.ts.
//
// ABI: every pointer is a byte offset into the module's shared memory (f32 data, 4-byte aligned
// suffices; 16 is better), every size counts f32 elements, outputs come first. A kernel does not
// allocate and touches only the ranges its arguments describe. Unless a line says "out may be x",
// out must not overlap any input.
//
// The backend takes every kernel from the module or none: a module that lacks one, or whose
// export takes another number of parameters than the types below (a WebAssembly function's
// `length` is its parameter count), is refused with BACKEND_UNAVAILABLE naming the export
// (matrixKernels, opKernels), so a stale binary never runs with its arguments misread.

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

/** The parameter count of each export of `K`: checked against K's types when this compiles. */
type Arity<K> = { readonly [N in keyof K]: K[N] extends (...args: infer A) => void ? A['length'] : never };

/**
 * The parameter count of every op kernel, checked against OpKernels at compile time (a member
 * missing here, or a count that differs from its type, fails to compile) and against the
 * instance's exports at run time (opKernels).
 */
export const OP_KERNEL_ARITY = {
  layerNorm: 8,
  l2NormalizeGroups: 5,
  shift: 5,
  unarySigmoid: 3,
  unaryTanh: 3,
  unarySilu: 3,
  unaryRelu2: 3,
  unaryNeg: 3,
  unaryExpNegExp: 3,
  unaryRwkv7Decay: 3,
  binaryAdd: 5,
  binarySub: 5,
  binaryMul: 5,
  lerp: 7,
  groupSum: 4,
  groupScale: 5,
  rowVecMat: 6,
  wkv4: 12,
  wkv5: 13,
  wkv7: 13,
} as const satisfies Arity<OpKernels>;

/** Every export name of OpKernels. */
export const OP_KERNEL_NAMES = Object.keys(OP_KERNEL_ARITY) as readonly (keyof OpKernels)[];

/**
 * A matrix product kernel over output rows [r0, r1) (the thread pool splits the rows):
 * out [T, O] = x [T, K] · Wᵀ, W [O, K] in the kernel's storage; `scratch` per part for the
 * 16-bit kernels' prefill (4·K f32), else unused. For matmulI8, x is matmulI8Prep's output.
 */
export type MatmulKernel = (
  out: number,
  x: number,
  W: number,
  T: number,
  K: number,
  O: number,
  r0: number,
  r1: number,
  scratch: number,
) => void;

export interface MatrixKernels {
  matmulF32: MatmulKernel;
  matmulBf16: MatmulKernel;
  matmulF16: MatmulKernel;
  matmulI8: MatmulKernel;
  /** The int8 product's per-token sums [T, 4] f32 and int16 activations [T, K] at xr, from x [T, K]. */
  matmulI8Prep(xr: number, x: number, W: number, T: number, K: number, O: number): void;
}

/** The parameter count of every matrix kernel (as OP_KERNEL_ARITY). */
export const MATRIX_KERNEL_ARITY = {
  matmulF32: 9,
  matmulBf16: 9,
  matmulF16: 9,
  matmulI8: 9,
  matmulI8Prep: 6,
} as const satisfies Arity<MatrixKernels>;

/**
 * The exports `arity` names, typed as K. Throws RwkvError('BACKEND_UNAVAILABLE') naming every
 * export that is missing or takes another number of parameters than `arity` says.
 */
function kernelsOf<K>(exports: WebAssembly.Exports, arity: Readonly<Record<string, number>>, what: string): K {
  const names = Object.keys(arity);
  const missing = names.filter((name) => typeof exports[name] !== 'function');
  if (missing.length > 0) {
    throw new RwkvError('BACKEND_UNAVAILABLE', `the WASM kernel module lacks the ${what} ${missing.join(', ')}`, {
      expected: `exports ${names.join(', ')}`,
      actual: `exports ${Object.keys(exports).join(', ')}`,
      hint: 'the embedded binary is stale: run `npm run build:wasm`',
    });
  }
  const wrong = names.filter((name) => (exports[name] as (...args: never[]) => unknown).length !== arity[name]);
  if (wrong.length > 0) {
    const counts = (f: (name: string) => number) => wrong.map((name) => `${name} ${f(name)}`).join(', ');
    throw new RwkvError('BACKEND_UNAVAILABLE', `the WASM kernel exports ${wrong.join(', ')} take other parameters than the ABI`, {
      expected: `parameter counts ${counts((name) => arity[name]!)} (src/backends/wasm/abi-ops.ts)`,
      actual: `parameter counts ${counts((name) => (exports[name] as (...args: never[]) => unknown).length)}`,
      hint: 'the embedded binary and abi-ops.ts disagree: run `npm run build:wasm`, or update abi-ops.ts to assembly/',
    });
  }
  return exports as unknown as K;
}

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
 * exports that are missing (a binary that predates them) or take another number of parameters
 * than OpKernels (a binary or an abi-ops.ts out of step with assembly/).
 */
export function opKernels(exports: WebAssembly.Exports): OpKernels {
  return kernelsOf<OpKernels>(exports, OP_KERNEL_ARITY, 'op kernels');
}

/** The matrix kernels of an instance's exports, refused as opKernels refuses. */
export function matrixKernels(exports: WebAssembly.Exports): MatrixKernels {
  return kernelsOf<MatrixKernels>(exports, MATRIX_KERNEL_ARITY, 'matrix kernels');
}
