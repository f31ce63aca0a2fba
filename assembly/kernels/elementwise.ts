// Element-wise and small reduction ops: token shift, the UnaryOp set (one export each), binary
// add/sub/mul, lerp, groupSum, groupScale, rowVecMat. f32x4 over 4 elements at a time, then the
// same body on one lane (ld/st with lane1 = true) for the tail, so the tail computes exactly what
// a SIMD lane would. Twins: src/backends/ts/kernels.ts (shift, unary, binary, lerp, groupSum,
// groupScale, rowVecMat). Pointers are byte offsets; sizes count f32 elements.

import { exp4, groupTotal, ld, madd, st } from './simd';

/** e^−0.5, the RWKV-7 decay scale (DECAY_SCALE in reference/common/constants.ts). */
const DECAY_SCALE: f32 = 0.6065306597126334;

/**
 * Backend.shift (token shift): out[0] = prev, out[t] = x[t − 1]. out, x [T, C]; prev [C].
 * out may be x (memory.copy is a memmove); prev must not overlap out.
 */
export function shift(out: usize, x: usize, prev: usize, T: i32, C: i32): void {
  if (T <= 0 || C <= 0) return;
  const row = <usize>C << 2;
  memory.copy(out + row, x, <usize>(T - 1) * row);
  memory.copy(out, prev, row);
}

// ---- unary: out = f(x), n elements; out may be x ----

// @ts-ignore: decorator
@inline function sigmoid4(x: v128): v128 {
  // σ(x) = 1 / (1 + e^−x)
  const one = f32x4.splat(1.0);
  return f32x4.div(one, f32x4.add(one, exp4(f32x4.neg(x))));
}

// tanh x = 1 − 2 / (e^2x + 1) for |x| ≥ TANH_SMALL; below it that subtraction cancels (relative
// error 1e-3 at x = 4e-5), so there the odd Taylor series up to x⁹ is used:
//   tanh x = x − x³/3 + 2x⁵/15 − 17x⁷/315 + 62x⁹/2835 − …, truncation ≤ 0.0089·x¹¹ (< 1e-8·|x| at 1/4).
const TANH_SMALL: f32 = 0.25;
const T3: f32 = -0.3333333333333333;
const T5: f32 = 0.13333333333333333;
const T7: f32 = -0.05396825396825397;
const T9: f32 = 0.021869488536155203;

// @ts-ignore: decorator
@inline function tanh4(x: v128): v128 {
  const one = f32x4.splat(1.0);
  const big = f32x4.sub(one, f32x4.div(f32x4.splat(2.0), f32x4.add(exp4(f32x4.add(x, x)), one)));
  const x2 = f32x4.mul(x, x);
  let p = madd(x2, f32x4.splat(T9), f32x4.splat(T7));
  p = madd(x2, p, f32x4.splat(T5));
  p = madd(x2, p, f32x4.splat(T3));
  const small = madd(f32x4.mul(x2, x), p, x);
  return v128.bitselect(small, big, f32x4.lt(f32x4.abs(x), f32x4.splat(TANH_SMALL)));
}

// @ts-ignore: decorator
@inline function unary4(op: i32, x: v128): v128 {
  if (op == SIGMOID) return sigmoid4(x);
  if (op == TANH) return tanh4(x);
  // silu x = x / (1 + e^−x)
  if (op == SILU) return f32x4.div(x, f32x4.add(f32x4.splat(1.0), exp4(f32x4.neg(x))));
  // relu² x = max(x, 0)²  (pmax(0, x) is 0 for NaN, like the twin's x > 0 ? x² : 0)
  if (op == RELU2) {
    const m = f32x4.pmax(f32x4.splat(0), x);
    return f32x4.mul(m, m);
  }
  if (op == NEG) return f32x4.neg(x);
  // exp(−exp(x)): the v5/v6 decay multiplier
  if (op == EXP_NEG_EXP) return exp4(f32x4.neg(exp4(x)));
  // exp(−e^−0.5 · σ(x)): the v7 decay multiplier
  return exp4(f32x4.mul(f32x4.splat(-DECAY_SCALE), sigmoid4(x)));
}

const SIGMOID = 0;
const TANH = 1;
const SILU = 2;
const RELU2 = 3;
const NEG = 4;
const EXP_NEG_EXP = 5;
const RWKV7_DECAY = 6;

// @ts-ignore: decorator
@inline function unaryLoop(op: i32, out: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, unary4(op, v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    st(out + o, unary4(op, ld(x + o, true)), true);
  }
}

/** Backend.unary('sigmoid'): out = 1 / (1 + e^−x). */
export function unarySigmoid(out: usize, x: usize, n: i32): void { unaryLoop(SIGMOID, out, x, n); }
/** Backend.unary('tanh'). */
export function unaryTanh(out: usize, x: usize, n: i32): void { unaryLoop(TANH, out, x, n); }
/** Backend.unary('silu'): out = x·σ(x). */
export function unarySilu(out: usize, x: usize, n: i32): void { unaryLoop(SILU, out, x, n); }
/** Backend.unary('relu2'): out = max(x, 0)². */
export function unaryRelu2(out: usize, x: usize, n: i32): void { unaryLoop(RELU2, out, x, n); }
/** Backend.unary('neg'): out = −x. */
export function unaryNeg(out: usize, x: usize, n: i32): void { unaryLoop(NEG, out, x, n); }
/** Backend.unary('expNegExp'): out = exp(−exp(x)). */
export function unaryExpNegExp(out: usize, x: usize, n: i32): void { unaryLoop(EXP_NEG_EXP, out, x, n); }
/** Backend.unary('rwkv7Decay'): out = exp(−e^−0.5 · σ(x)). */
export function unaryRwkv7Decay(out: usize, x: usize, n: i32): void { unaryLoop(RWKV7_DECAY, out, x, n); }

// ---- binary: out = a ∘ b; out, a [n]; b [bn], repeating every bn (bn = C: a row; bn = n: full) ----

const ADD = 0;
const SUB = 1;
const MUL = 2;

// @ts-ignore: decorator
@inline function binary4(op: i32, a: v128, b: v128): v128 {
  if (op == ADD) return f32x4.add(a, b);
  if (op == SUB) return f32x4.sub(a, b);
  return f32x4.mul(a, b);
}

// @ts-ignore: decorator
@inline function binaryLoop(op: i32, out: usize, a: usize, b: usize, n: i32, bn: i32): void {
  if (bn <= 0) return; // (the caller validates shapes; this only keeps a bad call from looping forever)
  for (let base = 0; base < n; base += bn) {
    const ob = out + (<usize>base << 2);
    const ab = a + (<usize>base << 2);
    let i = 0;
    for (; i + 4 <= bn; i += 4) {
      const o = <usize>i << 2;
      v128.store(ob + o, binary4(op, v128.load(ab + o), v128.load(b + o)));
    }
    for (; i < bn; i++) {
      const o = <usize>i << 2;
      st(ob + o, binary4(op, ld(ab + o, true), ld(b + o, true)), true);
    }
  }
}

/** Backend.binary('add'): out = a + b, b [C] | [T, C] (bn = its element count). out may be a. */
export function binaryAdd(out: usize, a: usize, b: usize, n: i32, bn: i32): void { binaryLoop(ADD, out, a, b, n, bn); }
/** Backend.binary('sub'): out = a − b. */
export function binarySub(out: usize, a: usize, b: usize, n: i32, bn: i32): void { binaryLoop(SUB, out, a, b, n, bn); }
/** Backend.binary('mul'): out = a ∘ b. */
export function binaryMul(out: usize, a: usize, b: usize, n: i32, bn: i32): void { binaryLoop(MUL, out, a, b, n, bn); }

/**
 * Backend.lerp: out = a + (b − a) ∘ t. out, a [n]; b [bn], t [tn], each repeating with its
 * period (C: broadcast row, or n: full). out may be a.
 */
export function lerp(out: usize, a: usize, b: usize, t: usize, n: i32, bn: i32, tn: i32): void {
  // walk rows of the shorter period; bn, tn and n are multiples of it
  const R = bn < tn ? bn : tn;
  if (R <= 0) return;
  for (let base = 0; base < n; base += R) {
    const off = <usize>base << 2;
    const bb = b + (<usize>(base % bn) << 2);
    const tb = t + (<usize>(base % tn) << 2);
    let i = 0;
    for (; i + 4 <= R; i += 4) {
      const o = <usize>i << 2;
      const av = v128.load(a + off + o);
      v128.store(out + off + o, madd(f32x4.sub(v128.load(bb + o), av), v128.load(tb + o), av));
    }
    for (; i < R; i++) {
      const o = <usize>i << 2;
      const av = ld(a + off + o, true);
      st(out + off + o, madd(f32x4.sub(ld(bb + o, true), av), ld(tb + o, true), av), true);
    }
  }
}

/** Backend.groupSum: out[h] = Σ_{i < G} x[h·G + i]; x [n], out [n / G]. */
export function groupSum(out: usize, x: usize, n: i32, G: i32): void {
  if (G <= 0) return;
  for (let g = 0, h = 0; g < n; g += G, h++) {
    store<f32>(out + (<usize>h << 2), groupTotal(x + (<usize>g << 2), G));
  }
}

/** Backend.groupScale: out[c] = x[c] · s[c / G]; out, x [n], s [n / G]. out may be x. */
export function groupScale(out: usize, x: usize, s: usize, n: i32, G: i32): void {
  if (G <= 0) return;
  for (let g = 0, h = 0; g < n; g += G, h++) {
    const sv = f32x4.splat(load<f32>(s + (<usize>h << 2)));
    const xg = x + (<usize>g << 2);
    const og = out + (<usize>g << 2);
    let i = 0;
    for (; i + 4 <= G; i += 4) {
      const o = <usize>i << 2;
      v128.store(og + o, f32x4.mul(v128.load(xg + o), sv));
    }
    for (; i < G; i++) {
      const o = <usize>i << 2;
      st(og + o, f32x4.mul(ld(xg + o, true), sv), true);
    }
  }
}

// @ts-ignore: decorator
@inline function rowVecMatCols(out: usize, x: usize, M: usize, I: i32, J: i32, j: i32, lane1: bool): void {
  // one block of 4 columns (or one column): acc = Σ_i x[i] · M[i, j..j+4)
  let acc = f32x4.splat(0);
  const rowBytes = <usize>J << 2;
  let m = M + (<usize>j << 2);
  for (let i = 0; i < I; i++, m += rowBytes) {
    acc = madd(f32x4.splat(load<f32>(x + (<usize>i << 2))), ld(m, lane1), acc);
  }
  st(out + (<usize>j << 2), acc, lane1);
}

/**
 * Backend.rowVecMat: out[t, j] = Σ_i x[t, i] · M[t, i·J + j]; out [T, J], x [T, I], M [T, I·J].
 * out must not overlap x or M.
 */
export function rowVecMat(out: usize, x: usize, M: usize, T: i32, I: i32, J: i32): void {
  for (let t = 0; t < T; t++) {
    const ot = out + (<usize>t * <usize>J << 2);
    const xt = x + (<usize>t * <usize>I << 2);
    const Mt = M + (<usize>t * <usize>I * <usize>J << 2);
    let j = 0;
    for (; j + 4 <= J; j += 4) rowVecMatCols(ot, xt, Mt, I, J, j, false);
    for (; j < J; j++) rowVecMatCols(ot, xt, Mt, I, J, j, true);
  }
}
