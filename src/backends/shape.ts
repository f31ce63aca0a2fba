// Shape bookkeeping shared by every backend: element counts, [rows, last dim], the typed
// SHAPE_MISMATCH error, and the "[C] | [T, C]" broadcast rule of binary ops and lerp.

import { RwkvError, shapeString } from '../errors.ts';
import type { Tensor } from './backend.ts';

/** Number of elements of a shape (1 for a scalar []). */
export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Rows (product of all but the last dim) and the last dim. */
export function rowsCols(t: Tensor): [number, number] {
  const C = t.shape[t.shape.length - 1] ?? 1;
  return [numel(t.shape) / C, C];
}

/** Throw SHAPE_MISMATCH naming the backend, what was expected, and the tensors' labels and shapes. */
export function checkShapes(backend: string, cond: boolean, what: string, ...ts: Tensor[]): void {
  if (!cond) {
    throw new RwkvError('SHAPE_MISMATCH', `${backend} backend: ${what}`, {
      actual: ts.map((t) => `${t.label} ${shapeString(t.shape)}`).join(', '),
    });
  }
}

/** The period of operand b against a: its size, which must be a's last dim [C] or a's full size. */
export function broadcastPeriod(backend: string, a: Tensor, b: Tensor): number {
  const n = numel(a.shape);
  const bn = numel(b.shape);
  const C = a.shape[a.shape.length - 1]!;
  checkShapes(backend, bn === n || bn === C, 'broadcast operand must be [C] or the full shape', a, b);
  return bn;
}

/** `write(t, data)`: data must hold exactly the tensor's element count. */
export function checkWriteSize(t: Tensor, data: Float32Array): void {
  const n = numel(t.shape);
  if (n !== data.length) {
    throw new RwkvError('SHAPE_MISMATCH', 'write size does not match the tensor', {
      tensor: t.label,
      expected: `${n}`,
      actual: `${data.length}`,
    });
  }
}

// ---- the shape contract of each op (Backend in backend.ts), checked alike by every backend ----
// Each returns the sizes the op runs on, or throws SHAPE_MISMATCH naming `backend`. A backend
// adds only the limits of its own (a CUDA grid, a block size).

const size = numel;

/** copy: dst and src of equal sizes; returns the size. */
export function copyShape(backend: string, dst: Tensor, src: Tensor): number {
  const n = size(dst.shape);
  checkShapes(backend, n === size(src.shape), 'copy needs equal sizes', dst, src);
  return n;
}

/** embedding: out [T, C] for T tokens of table [V, C]; returns [V, C]. Token ids are the backend's to check. */
export function embeddingShape(backend: string, out: Tensor, table: Tensor, tokens: Int32Array): [number, number] {
  const [V, C] = rowsCols(table);
  checkShapes(backend, size(out.shape) === tokens.length * C, 'embedding out must be [T, C]', out, table);
  return [V, C];
}

/** matmul: out [T, O] = x [T, K] · W [O, K]ᵀ; returns [T, K, O]. */
export function matmulShape(backend: string, out: Tensor, x: Tensor, W: Tensor): [number, number, number] {
  const [T, K] = rowsCols(x);
  checkShapes(backend, W.shape.length === 2 && W.shape[1] === K, 'matmul needs W [O, K] with K = x columns', x, W);
  const O = W.shape[0]!;
  checkShapes(backend, size(out.shape) === T * O, 'matmul out must be [T, O]', out, x, W);
  return [T, K, O];
}

/** layerNorm: out, x [T, C]; weight, bias [C]; C a multiple of groupSize. Returns [T, C]. */
export function layerNormShape(backend: string, out: Tensor, x: Tensor, weight: Tensor, bias: Tensor, groupSize: number): [number, number] {
  const [T, C] = rowsCols(x);
  checkShapes(
    backend,
    size(weight.shape) === C && size(bias.shape) === C && C % groupSize === 0 && size(out.shape) === T * C,
    'layerNorm weight/bias must be [C], C divisible by group',
    x,
    weight,
    bias,
  );
  return [T, C];
}

/** l2NormalizeGroups: out, x of one size, a multiple of groupSize; returns it. */
export function l2NormalizeShape(backend: string, out: Tensor, x: Tensor, groupSize: number): number {
  const n = size(x.shape);
  checkShapes(backend, n % groupSize === 0 && size(out.shape) === n, 'l2NormalizeGroups sizes', out, x);
  return n;
}

/** shift: out, x [T, C], prev [C]; returns [T, C]. */
export function shiftShape(backend: string, out: Tensor, x: Tensor, prev: Tensor): [number, number] {
  const [T, C] = rowsCols(x);
  checkShapes(backend, size(prev.shape) === C && size(out.shape) === T * C, 'shift needs prev [C]', out, x, prev);
  return [T, C];
}

/** lastRow: out [C], x [T, C] with T ≥ 1; returns [T, C]. */
export function lastRowShape(backend: string, out: Tensor, x: Tensor): [number, number] {
  const [T, C] = rowsCols(x);
  checkShapes(backend, size(out.shape) === C && T >= 1, 'lastRow out must be [C]', out, x);
  return [T, C];
}

/** unary: out and x of one size; returns it. */
export function unaryShape(backend: string, op: string, out: Tensor, x: Tensor): number {
  const n = size(x.shape);
  checkShapes(backend, size(out.shape) === n, `unary ${op} sizes`, out, x);
  return n;
}

/** binary: out the size of a, b [C] or a's size; returns [size, b's period]. */
export function binaryShape(backend: string, op: string, out: Tensor, a: Tensor, b: Tensor): [number, number] {
  const n = size(a.shape);
  checkShapes(backend, size(out.shape) === n, `binary ${op} out size`, out, a);
  return [n, broadcastPeriod(backend, a, b)];
}

/** lerp: out the size of a; b and t [C] or a's size; returns [size, b's period, t's period]. */
export function lerpShape(backend: string, out: Tensor, a: Tensor, b: Tensor, t: Tensor): [number, number, number] {
  const n = size(a.shape);
  checkShapes(backend, size(out.shape) === n, 'lerp out size', out, a);
  return [n, broadcastPeriod(backend, a, b), broadcastPeriod(backend, a, t)];
}

/** groupSum: x [T, H·G], out [T, H] with G = groupSize; returns x's size. */
export function groupSumShape(backend: string, out: Tensor, x: Tensor, groupSize: number): number {
  const n = size(x.shape);
  checkShapes(backend, n % groupSize === 0 && size(out.shape) === n / groupSize, 'groupSum out must be [T, H]', out, x);
  return n;
}

/** groupScale: out, x [T, H·G], s [T, H] with G = groupSize; returns x's size. */
export function groupScaleShape(backend: string, out: Tensor, x: Tensor, s: Tensor, groupSize: number): number {
  const n = size(x.shape);
  checkShapes(backend, size(s.shape) * groupSize === n && size(out.shape) === n, 'groupScale needs s [T, H]', out, x, s);
  return n;
}

/** rowVecMat: out [T, J] = x [T, I] · M [T, I, J] per row; returns [T, I, J]. */
export function rowVecMatShape(backend: string, out: Tensor, x: Tensor, M: Tensor): [number, number, number] {
  const [T, I] = rowsCols(x);
  const [, J] = rowsCols(out);
  checkShapes(backend, size(out.shape) === T * J && size(M.shape) === T * I * J, 'rowVecMat needs M [T, I·J]', out, x, M);
  return [T, I, J];
}

/** wkv4: aa, bb, pp, w, u [C]; out, k, v [T, C]; returns [T, C]. */
export function wkv4Shape(
  backend: string,
  out: Tensor,
  aa: Tensor,
  bb: Tensor,
  pp: Tensor,
  w: Tensor,
  u: Tensor,
  k: Tensor,
  v: Tensor,
): [number, number] {
  const [T, C] = rowsCols(k);
  for (const t of [aa, bb, pp, w, u]) checkShapes(backend, size(t.shape) === C, 'wkv4 state/decay must be [C]', t, k);
  checkShapes(backend, size(v.shape) === T * C && size(out.shape) === T * C, 'wkv4 out, k, v must be [T, C]', out, k, v);
  return [T, C];
}

/** S [H, N, N] for k [T, C], C = H·N; returns [T, C, N]. */
function headShape(backend: string, what: string, S: Tensor, k: Tensor, H: number): [number, number, number] {
  const [T, C] = rowsCols(k);
  const N = C / H;
  checkShapes(backend, Number.isInteger(N) && size(S.shape) === H * N * N, `${what} state must be [H, N, N]`, S, k);
  return [T, C, N];
}

/**
 * wkv5 (v5.x, and v6 with w per token): S [H, N, N]; out, r, k, v [T, C]; w [C] or [T, C];
 * u [C]. Returns [T, C, N, whether w is per token].
 */
export function wkv5Shape(
  backend: string,
  out: Tensor,
  S: Tensor,
  r: Tensor,
  k: Tensor,
  v: Tensor,
  w: Tensor,
  u: Tensor,
  H: number,
): [number, number, number, boolean] {
  const [T, C, N] = headShape(backend, 'wkv5', S, k, H);
  const wn = size(w.shape);
  checkShapes(backend, wn === C || wn === T * C, 'wkv5 w must be [C] or [T, C]', w, k);
  checkShapes(backend, size(u.shape) === C, 'wkv5 u must be [C]', u, k);
  for (const t of [out, r, v]) checkShapes(backend, size(t.shape) === T * C, 'wkv5 out, r, k, v must be [T, C]', t, k);
  return [T, C, N, wn !== C];
}

/** wkv7: S [H, N, N]; out, r, w, k, v, a, b [T, C]. Returns [T, C, N]. */
export function wkv7Shape(
  backend: string,
  out: Tensor,
  S: Tensor,
  r: Tensor,
  w: Tensor,
  k: Tensor,
  v: Tensor,
  a: Tensor,
  b: Tensor,
  H: number,
): [number, number, number] {
  const [T, C, N] = headShape(backend, 'wkv7', S, k, H);
  for (const t of [out, r, w, v, a, b]) checkShapes(backend, size(t.shape) === T * C, 'wkv7 out, r, w, k, v, a, b must be [T, C]', t, k);
  return [T, C, N];
}
