// The reference reads weights by their original checkpoint keys and shapes (the layout of
// BlinkDL's .pth files), without any load-time folding. Structurally this is what
// src/io's Checkpoint is, but the reference imports nothing from src/.

export interface RefTensor {
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

export type RefWeights = ReadonlyMap<string, RefTensor>;

/** Vector (or row-major flattened tensor) of a weight, as plain numbers. */
export function vec(w: RefWeights, key: string): Float64Array {
  const t = w.get(key);
  if (t === undefined) throw new Error(`reference: missing tensor ${key}`);
  return Float64Array.from(t.data);
}

/** A matrix weight with its two dimensions; a leading 1 (e.g. [1, 1, C]) is squeezed. */
export interface Mat {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array; // row-major [rows, cols]
}

export function mat(w: RefWeights, key: string): Mat {
  const t = w.get(key);
  if (t === undefined) throw new Error(`reference: missing tensor ${key}`);
  const dims = t.shape.filter((d, i) => !(d === 1 && i < t.shape.length - 2));
  if (dims.length !== 2) throw new Error(`reference: ${key} is not a matrix: [${t.shape.join(', ')}]`);
  return { rows: dims[0]!, cols: dims[1]!, data: Float64Array.from(t.data) };
}

export function has(w: RefWeights, key: string): boolean {
  return w.has(key);
}

/** n_layer = 1 + the largest block index. */
export function countLayers(w: RefWeights): number {
  let n = 0;
  for (const k of w.keys()) {
    const m = /^blocks\.(\d+)\./.exec(k);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}
