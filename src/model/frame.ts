// A Frame wraps a Backend for one forward call: each op allocates its output, records it, and
// `release()` frees every temporary at the end of the call. The version files read as equations
// (`const r = f.matmul(xr, W('att.receptance.weight'))`) while the backend stays a closed op set.

import type { Backend, BinaryOp, Tensor, UnaryOp } from '../backends/backend.ts';

export class Frame {
  private readonly temps: Tensor[] = [];
  constructor(readonly backend: Backend) {}

  private alloc(shape: readonly number[], label: string): Tensor {
    const t = this.backend.zeros(shape, label);
    this.temps.push(t);
    return t;
  }
  /** Rows of a [T, C] tensor. */
  static rows(x: Tensor): number {
    return x.shape.length === 1 ? 1 : x.shape[0]!;
  }
  private like(x: Tensor, label: string, cols = x.shape[x.shape.length - 1]!): Tensor {
    return this.alloc([Frame.rows(x), cols], label);
  }

  zeros(shape: readonly number[], label: string): Tensor {
    return this.alloc(shape, label);
  }
  embedding(table: Tensor, tokens: Int32Array): Tensor {
    const out = this.alloc([tokens.length, table.shape[1]!], 'x');
    this.backend.embedding(out, table, tokens);
    return out;
  }
  matmul(x: Tensor, W: Tensor): Tensor {
    const out = this.like(x, W.label, W.shape[0]!);
    this.backend.matmul(out, x, W);
    return out;
  }
  layerNorm(x: Tensor, weight: Tensor, bias: Tensor, groupSize: number, eps: number): Tensor {
    const out = this.like(x, weight.label);
    this.backend.layerNorm(out, x, weight, bias, groupSize, eps);
    return out;
  }
  l2NormalizeGroups(x: Tensor, groupSize: number, eps: number): Tensor {
    const out = this.like(x, 'l2norm');
    this.backend.l2NormalizeGroups(out, x, groupSize, eps);
    return out;
  }
  /** Previous token's row: [prev; x[0..T−2]]. */
  shift(x: Tensor, prev: Tensor): Tensor {
    const out = this.like(x, 'shift');
    this.backend.shift(out, x, prev);
    return out;
  }
  unary(op: UnaryOp, x: Tensor): Tensor {
    const out = this.like(x, op);
    this.backend.unary(op, out, x);
    return out;
  }
  binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
    const out = this.like(a, op);
    this.backend.binary(op, out, a, b);
    return out;
  }
  add(a: Tensor, b: Tensor): Tensor {
    return this.binary('add', a, b);
  }
  sub(a: Tensor, b: Tensor): Tensor {
    return this.binary('sub', a, b);
  }
  mul(a: Tensor, b: Tensor): Tensor {
    return this.binary('mul', a, b);
  }
  /** a + (b − a)∘t */
  lerp(a: Tensor, b: Tensor, t: Tensor): Tensor {
    const out = this.like(a, 'lerp');
    this.backend.lerp(out, a, b, t);
    return out;
  }
  groupSum(x: Tensor, groupSize: number): Tensor {
    const out = this.like(x, 'groupSum', x.shape[x.shape.length - 1]! / groupSize);
    this.backend.groupSum(out, x, groupSize);
    return out;
  }
  groupScale(x: Tensor, s: Tensor, groupSize: number): Tensor {
    const out = this.like(x, 'groupScale');
    this.backend.groupScale(out, x, s, groupSize);
    return out;
  }
  rowVecMat(x: Tensor, M: Tensor, cols: number): Tensor {
    const out = this.like(x, 'rowVecMat', cols);
    this.backend.rowVecMat!(out, x, M);
    return out;
  }
  /** RWKV-4 WKV over the rows of k, v; aa, bb, pp advance in place. */
  wkv4(aa: Tensor, bb: Tensor, pp: Tensor, w: Tensor, u: Tensor, k: Tensor, v: Tensor): Tensor {
    const out = this.like(k, 'wkv');
    this.backend.wkv4!(out, aa, bb, pp, w, u, k, v);
    return out;
  }
  /** RWKV-5/6 WKV; S [H, key, value] advances in place. */
  wkv5(S: Tensor, r: Tensor, k: Tensor, v: Tensor, w: Tensor, u: Tensor, H: number): Tensor {
    const out = this.like(k, 'wkv');
    this.backend.wkv5!(out, S, r, k, v, w, u, H);
    return out;
  }
  /** RWKV-7 WKV; S [H, value, key] advances in place. */
  wkv7(S: Tensor, r: Tensor, w: Tensor, k: Tensor, v: Tensor, a: Tensor, b: Tensor, H: number): Tensor {
    const out = this.like(k, 'wkv');
    this.backend.wkv7!(out, S, r, w, k, v, a, b, H);
    return out;
  }
  /** x := x + y (the residual stream is updated in place). */
  addInPlace(x: Tensor, y: Tensor): void {
    this.backend.binary('add', x, x, y);
  }
  /** state := last row of x. */
  saveLastRow(state: Tensor, x: Tensor): void {
    this.backend.lastRow(state, x);
  }
  release(): void {
    for (const t of this.temps) this.backend.free(t);
    this.temps.length = 0;
  }
}

/** Weight lookup for one block: W('att.key.weight') → the tensor `blocks.<i>.att.key.weight`. */
export type LayerWeights = (name: string) => Tensor;
