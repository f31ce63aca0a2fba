// An op-level oracle for the conformance suite: every Backend op written directly from the doc
// comments of src/backends/backend.ts, in f64 (Float64Array tensors), sharing no code with the
// backends it judges (no src/backends/ts/kernels.ts). The TS backend is checked against this;
// device backends are checked against the TS backend (test/conformance/suite.ts).
//
// Slow on purpose, and not a product: test inputs only.

import { DECAY_SCALE } from '../../src/constants.ts';
import type { Backend, BackendCaps, BinaryOp, Tensor, UnaryOp, WeightStorage } from '../../src/backends/backend.ts';
import { bf16ToFloat, halfToFloat } from '../../src/tensor/float.ts';

class SpecTensor implements Tensor {
  constructor(
    readonly shape: readonly number[],
    readonly label: string,
    public data: Float64Array,
  ) {}
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const last = (t: Tensor) => t.shape[t.shape.length - 1]!;
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

const UNARY: Record<UnaryOp, (x: number) => number> = {
  sigmoid,
  tanh: Math.tanh,
  silu: (x) => x * sigmoid(x),
  relu2: (x) => Math.max(x, 0) ** 2,
  neg: (x) => -x,
  expNegExp: (x) => Math.exp(-Math.exp(x)),
  rwkv7Decay: (x) => Math.exp(-DECAY_SCALE * sigmoid(x)),
};

export class SpecBackend implements Backend {
  readonly caps: BackendCaps = {
    name: 'spec',
    simd: false,
    threads: 1,
    description: 'f64 ops from the Backend doc comments (test oracle)',
  };

  private d(t: Tensor): Float64Array {
    return (t as SpecTensor).data;
  }
  /** Element e of a row-vector-or-full operand b, for element i of a [rows, C] tensor. */
  private bcast(b: Tensor, i: number, C: number): number {
    const bd = this.d(b);
    return bd.length === C ? bd[i % C]! : bd[i]!;
  }

  upload(data: Float32Array, shape: readonly number[], label: string, _storage?: WeightStorage): Tensor {
    return new SpecTensor(shape, label, Float64Array.from(data));
  }
  uploadCompact(bits: Uint16Array, shape: readonly number[], label: string, encoding: 'bf16' | 'f16'): Tensor {
    return new SpecTensor(shape, label, Float64Array.from(bits, encoding === 'f16' ? halfToFloat : bf16ToFloat));
  }
  zeros(shape: readonly number[], label: string): Tensor {
    return new SpecTensor(shape, label, new Float64Array(numel(shape)));
  }
  write(t: Tensor, data: Float32Array): void {
    this.d(t).set(data);
  }
  download(t: Tensor): Promise<Float32Array> {
    return Promise.resolve(Float32Array.from(this.d(t)));
  }
  copy(dst: Tensor, src: Tensor): void {
    this.d(dst).set(this.d(src));
  }
  free(_t: Tensor): void {}

  // out[t] = table[tokens[t]]
  embedding(out: Tensor, table: Tensor, tokens: Int32Array): void {
    const C = last(table);
    tokens.forEach((id, t) => this.d(out).set(this.d(table).subarray(id * C, (id + 1) * C), t * C));
  }
  // out[t, o] = Σ_k x[t, k]·W[o, k]
  matmul(out: Tensor, x: Tensor, W: Tensor): void {
    const [O, K] = W.shape as [number, number];
    const T = numel(x.shape) / K;
    const o = this.d(out),
      xd = this.d(x),
      w = this.d(W);
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < O; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += xd[t * K + k]! * w[j * K + k]!;
        o[t * O + j] = s;
      }
    }
  }
  // per group: (x − mean)/sqrt(var + eps)·weight + bias
  layerNorm(out: Tensor, x: Tensor, weight: Tensor, bias: Tensor, G: number, eps: number): void {
    const C = last(x);
    const xd = this.d(x),
      o = this.d(out),
      w = this.d(weight),
      b = this.d(bias);
    for (let g = 0; g < xd.length; g += G) {
      const xs = xd.subarray(g, g + G);
      const mean = xs.reduce((a, v) => a + v, 0) / G;
      const variance = xs.reduce((a, v) => a + (v - mean) ** 2, 0) / G;
      for (let i = 0; i < G; i++) o[g + i] = ((xs[i]! - mean) / Math.sqrt(variance + eps)) * w[(g + i) % C]! + b[(g + i) % C]!;
    }
  }
  // per group: x / max(‖x‖₂, eps)
  l2NormalizeGroups(out: Tensor, x: Tensor, G: number, eps: number): void {
    const xd = this.d(x),
      o = this.d(out);
    for (let g = 0; g < xd.length; g += G) {
      const norm = Math.hypot(...xd.subarray(g, g + G));
      for (let i = 0; i < G; i++) o[g + i] = xd[g + i]! / Math.max(norm, eps);
    }
  }
  // out[0] = prev, out[t] = x[t − 1]
  shift(out: Tensor, x: Tensor, prev: Tensor): void {
    const C = last(x);
    const src = Float64Array.from(this.d(x));
    const o = this.d(out);
    o.set(this.d(prev), 0);
    o.set(src.subarray(0, src.length - C), C);
  }
  lastRow(out: Tensor, x: Tensor): void {
    const C = last(x);
    const xd = this.d(x);
    this.d(out).set(xd.subarray(xd.length - C));
  }
  unary(op: UnaryOp, out: Tensor, x: Tensor): void {
    const f = UNARY[op];
    const xd = this.d(x),
      o = this.d(out);
    for (let i = 0; i < xd.length; i++) o[i] = f(xd[i]!);
  }
  binary(op: BinaryOp, out: Tensor, a: Tensor, b: Tensor): void {
    const C = last(a);
    const ad = this.d(a),
      o = this.d(out);
    for (let i = 0; i < ad.length; i++) {
      const bv = this.bcast(b, i, C);
      o[i] = op === 'add' ? ad[i]! + bv : op === 'sub' ? ad[i]! - bv : ad[i]! * bv;
    }
  }
  // a + (b − a)∘t
  lerp(out: Tensor, a: Tensor, b: Tensor, t: Tensor): void {
    const C = last(a);
    const ad = this.d(a),
      o = this.d(out);
    for (let i = 0; i < ad.length; i++) o[i] = ad[i]! + (this.bcast(b, i, C) - ad[i]!) * this.bcast(t, i, C);
  }
  groupSum(out: Tensor, x: Tensor, G: number): void {
    const xd = this.d(x),
      o = this.d(out);
    for (let h = 0; h < o.length; h++) o[h] = xd.subarray(h * G, (h + 1) * G).reduce((a, v) => a + v, 0);
  }
  groupScale(out: Tensor, x: Tensor, s: Tensor, G: number): void {
    const xd = this.d(x),
      o = this.d(out),
      sd = this.d(s);
    for (let i = 0; i < xd.length; i++) o[i] = xd[i]! * sd[Math.floor(i / G)]!;
  }
  // out[t, j] = Σ_i x[t, i]·M[t, i·J + j]
  rowVecMat(out: Tensor, x: Tensor, M: Tensor): void {
    const I = last(x),
      J = last(out);
    const T = numel(x.shape) / I;
    const xd = this.d(x),
      m = this.d(M),
      o = this.d(out);
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < J; j++) {
        let s = 0;
        for (let i = 0; i < I; i++) s += xd[t * I + i]! * m[t * I * J + i * J + j]!;
        o[t * J + j] = s;
      }
    }
  }
  // wkv = (e^(pp−p)·aa + e^(u+k−p)·v) / (e^(pp−p)·bb + e^(u+k−p)), p = max(pp, u+k);
  // then the state takes the token with decay w, still scaled by e^−pp
  wkv4(out: Tensor, aa: Tensor, bb: Tensor, pp: Tensor, w: Tensor, u: Tensor, k: Tensor, v: Tensor): void {
    const C = last(k);
    const T = numel(k.shape) / C;
    const A = this.d(aa),
      B = this.d(bb),
      P = this.d(pp),
      wd = this.d(w),
      ud = this.d(u),
      kd = this.d(k),
      vd = this.d(v),
      o = this.d(out);
    for (let t = 0; t < T; t++) {
      for (let c = 0; c < C; c++) {
        const kt = kd[t * C + c]!,
          vt = vd[t * C + c]!;
        const p = Math.max(P[c]!, ud[c]! + kt);
        const e1 = Math.exp(P[c]! - p),
          e2 = Math.exp(ud[c]! + kt - p);
        o[t * C + c] = (e1 * A[c]! + e2 * vt) / (e1 * B[c]! + e2);
        const q = Math.max(P[c]! + wd[c]!, kt);
        const d1 = Math.exp(P[c]! + wd[c]! - q),
          d2 = Math.exp(kt - q);
        A[c] = d1 * A[c]! + d2 * vt;
        B[c] = d1 * B[c]! + d2;
        P[c] = q;
      }
    }
  }
  // out[j] = Σ_i r[i]·(u[i]·k[i]·v[j] + S[i, j]);  S[i, j] = k[i]·v[j] + w[i]·S[i, j]
  wkv5(out: Tensor, S: Tensor, r: Tensor, k: Tensor, v: Tensor, w: Tensor, u: Tensor, H: number): void {
    const C = last(k),
      N = C / H,
      T = numel(k.shape) / C;
    const s = this.d(S),
      rd = this.d(r),
      kd = this.d(k),
      vd = this.d(v),
      wd = this.d(w),
      ud = this.d(u),
      o = this.d(out);
    const perToken = wd.length !== C;
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        const at = (i: number) => t * C + h * N + i;
        const y = new Float64Array(N);
        for (let i = 0; i < N; i++) {
          for (let j = 0; j < N; j++) y[j]! += rd[at(i)]! * (ud[h * N + i]! * kd[at(i)]! * vd[at(j)]! + s[h * N * N + i * N + j]!);
        }
        for (let i = 0; i < N; i++) {
          const wi = wd[perToken ? at(i) : h * N + i]!;
          for (let j = 0; j < N; j++) {
            const si = h * N * N + i * N + j;
            s[si] = kd[at(i)]! * vd[at(j)]! + wi * s[si]!;
          }
        }
        for (let j = 0; j < N; j++) o[at(j)] = y[j]!;
      }
    }
  }
  // sa[i] = Σ_j S[i, j]·a[j];  S[i, j] = S[i, j]·w[j] + sa[i]·b[j] + v[i]·k[j];  out[i] = Σ_j S[i, j]·r[j]
  wkv7(out: Tensor, S: Tensor, r: Tensor, w: Tensor, k: Tensor, v: Tensor, a: Tensor, b: Tensor, H: number): void {
    const C = last(k),
      N = C / H,
      T = numel(k.shape) / C;
    const s = this.d(S),
      rd = this.d(r),
      wd = this.d(w),
      kd = this.d(k),
      vd = this.d(v),
      ad = this.d(a),
      bd = this.d(b),
      o = this.d(out);
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        const at = (j: number) => t * C + h * N + j;
        const st = (i: number, j: number) => h * N * N + i * N + j;
        const sa = new Float64Array(N);
        for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) sa[i]! += s[st(i, j)]! * ad[at(j)]!;
        for (let i = 0; i < N; i++) {
          let y = 0;
          for (let j = 0; j < N; j++) {
            s[st(i, j)] = s[st(i, j)]! * wd[at(j)]! + sa[i]! * bd[at(j)]! + vd[at(i)]! * kd[at(j)]!;
            y += s[st(i, j)]! * rd[at(j)]!;
          }
          o[at(i)] = y;
        }
      }
    }
  }
}
