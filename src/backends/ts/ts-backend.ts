// The plain TypeScript backend: tensors are Float32Arrays on the JS heap, ops are the scalar
// kernels of ./kernels.ts. Always available; the baseline every other backend is checked against.

import { RwkvError, shapeString } from '../../errors.ts';
import { floatToHalf } from '../../tensor/float.ts';
import type { Backend, BackendCaps, BinaryOp, Tensor, UnaryOp, WeightStorage } from '../backend.ts';
import { type QuantI8, dequantizeI8, quantizeI8 } from '../quant-i8.ts';
import * as K from './kernels.ts';
import {
  binaryShape,
  checkWriteSize,
  copyShape,
  embeddingShape,
  groupScaleShape,
  groupSumShape,
  l2NormalizeShape,
  lastRowShape,
  layerNormShape,
  lerpShape,
  matmulShape,
  numel,
  rowVecMatShape,
  shiftShape,
  unaryShape,
  wkv4Shape,
  wkv5Shape,
  wkv7Shape,
} from '../shape.ts';

class TsTensor implements Tensor {
  constructor(
    readonly shape: readonly number[],
    readonly label: string,
    public data: Float32Array | null,
    /** A compact weight matrix (bf16 or f16 bits), only for matmul's W; `data` is null then. */
    public compact: { bits: Uint16Array; encoding: 'bf16' | 'f16' } | null = null,
    /** An int8 weight matrix (the official scheme, ../quant-i8.ts), only for matmul's W; `data` is null then. */
    public i8: QuantI8 | null = null,
  ) {}
}

const size = numel;

export class TsBackend implements Backend {
  readonly caps: BackendCaps = {
    name: 'ts',
    simd: false,
    threads: 1,
    description: 'plain TypeScript (Float32Array, scalar loops)',
  };

  private own(t: Tensor): TsTensor {
    if (!(t instanceof TsTensor)) {
      throw new RwkvError('INVALID_ARGUMENT', `tensor ${t.label} does not belong to the ts backend`);
    }
    if (t.data === null && t.compact === null && t.i8 === null) throw new RwkvError('INVALID_ARGUMENT', `tensor ${t.label} was freed`);
    return t;
  }

  private d(t: Tensor): Float32Array {
    const o = this.own(t);
    if (o.data === null) throw new RwkvError('INVALID_ARGUMENT', `tensor ${t.label} is a compact weight, usable only as matmul's W`);
    return o.data;
  }

  /** float32 values of any tensor (compact ones decoded). */
  private values(t: Tensor): Float32Array {
    const o = this.own(t);
    if (o.data !== null) return o.data;
    if (o.i8 !== null) return dequantizeI8(o.i8);
    return K.decode16(o.compact!.bits, o.compact!.encoding);
  }

  upload(data: Float32Array, shape: readonly number[], label: string, storage: WeightStorage = 'f32'): Tensor {
    if (data.length !== size(shape)) {
      throw new RwkvError('SHAPE_MISMATCH', 'upload size does not match the shape', {
        tensor: label,
        expected: `${size(shape)} values for ${shapeString(shape)}`,
        actual: `${data.length}`,
      });
    }
    if ((storage === 'bf16' || storage === 'f16') && shape.length === 2) {
      // rounded to nearest even (exact values are kept as they are)
      const bits = storage === 'bf16' ? K.encodeBf16(data) : Uint16Array.from(data, floatToHalf);
      return new TsTensor([...shape], label, null, { bits, encoding: storage });
    }
    if (storage === 'i8' && shape.length === 2) {
      return new TsTensor([...shape], label, null, null, quantizeI8(data, shape[0]!, shape[1]!, label));
    }
    // adopt the caller's array (the contract says it is not modified afterwards): no copy
    return new TsTensor([...shape], label, data);
  }
  uploadCompact(bits: Uint16Array, shape: readonly number[], label: string, encoding: 'bf16' | 'f16'): Tensor {
    if (bits.length !== size(shape) || shape.length !== 2) {
      throw new RwkvError('SHAPE_MISMATCH', 'compact upload must be a matrix of the given size', {
        tensor: label,
        expected: `${size(shape)} values for ${shapeString(shape)}`,
        actual: `${bits.length}`,
      });
    }
    return new TsTensor([...shape], label, null, { bits, encoding });
  }
  zeros(shape: readonly number[], label: string): Tensor {
    return new TsTensor([...shape], label, new Float32Array(size(shape)));
  }
  write(t: Tensor, data: Float32Array): void {
    const d = this.d(t);
    checkWriteSize(t, data);
    d.set(data);
  }
  download(t: Tensor): Promise<Float32Array> {
    return Promise.resolve(Float32Array.from(this.values(t)));
  }
  copy(dst: Tensor, src: Tensor): void {
    copyShape('ts', dst, src);
    this.d(dst).set(this.values(src));
  }
  free(t: Tensor): void {
    if (t instanceof TsTensor) {
      t.data = null;
      t.compact = null;
      t.i8 = null;
    }
  }

  embedding(out: Tensor, table: Tensor, tokens: Int32Array): void {
    const [V, C] = embeddingShape('ts', out, table, tokens);
    const o = this.d(out);
    const tb = this.d(table);
    for (let t = 0; t < tokens.length; t++) {
      const id = tokens[t]!;
      if (!(id >= 0 && id < V)) {
        throw new RwkvError('INVALID_TOKEN', `token id ${id} is outside the vocabulary`, {
          tensor: table.label,
          expected: `0 <= id < ${V}`,
          actual: `${id}`,
        });
      }
      o.set(tb.subarray(id * C, (id + 1) * C), t * C);
    }
  }
  matmul(out: Tensor, x: Tensor, W: Tensor): void {
    const [T, Kx, O] = matmulShape('ts', out, x, W);
    const w = this.own(W);
    if (w.i8 !== null) K.matmulI8(this.d(out), this.d(x), w.i8, T, Kx, O);
    else if (w.compact !== null) K.matmul16(this.d(out), this.d(x), w.compact.bits, T, Kx, O, w.compact.encoding);
    else K.matmul(this.d(out), this.d(x), this.d(W), T, Kx, O);
  }
  layerNorm(out: Tensor, x: Tensor, weight: Tensor, bias: Tensor, groupSize: number, eps: number): void {
    const [T, C] = layerNormShape('ts', out, x, weight, bias, groupSize);
    K.layerNorm(this.d(out), this.d(x), this.d(weight), this.d(bias), T, C, groupSize, eps);
  }
  l2NormalizeGroups(out: Tensor, x: Tensor, groupSize: number, eps: number): void {
    const n = l2NormalizeShape('ts', out, x, groupSize);
    K.l2NormalizeGroups(this.d(out), this.d(x), n, groupSize, eps);
  }
  shift(out: Tensor, x: Tensor, prev: Tensor): void {
    const [T, C] = shiftShape('ts', out, x, prev);
    K.shift(this.d(out), this.d(x), this.d(prev), T, C);
  }
  lastRow(out: Tensor, x: Tensor): void {
    const [T, C] = lastRowShape('ts', out, x);
    this.d(out).set(this.d(x).subarray((T - 1) * C, T * C));
  }
  unary(op: UnaryOp, out: Tensor, x: Tensor): void {
    const n = unaryShape('ts', op, out, x);
    K.unary(op, this.d(out), this.d(x), n);
  }
  binary(op: BinaryOp, out: Tensor, a: Tensor, b: Tensor): void {
    const [n, pb] = binaryShape('ts', op, out, a, b);
    K.binary(op, this.d(out), this.d(a), this.d(b), n, pb);
  }
  lerp(out: Tensor, a: Tensor, b: Tensor, t: Tensor): void {
    const [n, pb, pt] = lerpShape('ts', out, a, b, t);
    K.lerp(this.d(out), this.d(a), this.d(b), this.d(t), n, pb, pt);
  }
  groupSum(out: Tensor, x: Tensor, groupSize: number): void {
    const n = groupSumShape('ts', out, x, groupSize);
    K.groupSum(this.d(out), this.d(x), n, groupSize);
  }
  groupScale(out: Tensor, x: Tensor, s: Tensor, groupSize: number): void {
    const n = groupScaleShape('ts', out, x, s, groupSize);
    K.groupScale(this.d(out), this.d(x), this.d(s), n, groupSize);
  }
  rowVecMat(out: Tensor, x: Tensor, M: Tensor): void {
    const [T, I, J] = rowVecMatShape('ts', out, x, M);
    K.rowVecMat(this.d(out), this.d(x), this.d(M), T, I, J);
  }
  wkv4(out: Tensor, aa: Tensor, bb: Tensor, pp: Tensor, w: Tensor, u: Tensor, k: Tensor, v: Tensor): void {
    const [T, C] = wkv4Shape('ts', out, aa, bb, pp, w, u, k, v);
    K.wkv4(this.d(out), this.d(aa), this.d(bb), this.d(pp), this.d(w), this.d(u), this.d(k), this.d(v), T, C);
  }
  wkv5(out: Tensor, S: Tensor, r: Tensor, k: Tensor, v: Tensor, w: Tensor, u: Tensor, H: number): void {
    const [T, , N, perToken] = wkv5Shape('ts', out, S, r, k, v, w, u, H);
    K.wkv5(this.d(out), this.d(S), this.d(r), this.d(k), this.d(v), this.d(w), this.d(u), T, H, N, perToken);
  }
  wkv7(out: Tensor, S: Tensor, r: Tensor, w: Tensor, k: Tensor, v: Tensor, a: Tensor, b: Tensor, H: number): void {
    const [T, , N] = wkv7Shape('ts', out, S, r, w, k, v, a, b, H);
    K.wkv7(this.d(out), this.d(S), this.d(r), this.d(w), this.d(k), this.d(v), this.d(a), this.d(b), T, H, N);
  }
}
