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
      tensor: t.label, expected: `${n}`, actual: `${data.length}`,
    });
  }
}
