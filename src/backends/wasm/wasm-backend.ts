// The WASM SIMD backend: every tensor lives in one shared WebAssembly.Memory (allocated by
// ./arena.ts), the matrix products run in the AssemblyScript kernels of assembly/kernels/matmul/
// split over a thread pool (./pool.ts), the other ops in the kernels of abi-ops.ts on this thread.
//
// Weights are stored as asked: f32, bf16 (rounded to nearest even), f16 (a matrix holding an f16
// inf or NaN stays f32: the f16 kernel decodes finite halves), or the official int8 scheme
// (src/backends/quant-i8.ts). wasm32 memory is capped at 4 GiB: a model whose weights do not fit
// gets a typed error telling to use bf16/int8 storage. Embedding rows are copied in JS.
//
// The relaxed-SIMD build (fused multiply-add) is used where the runtime validates it, after a
// check against the portable build on first use; on a mismatch the backend falls back to the
// portable build and says so in caps.description.

import { RwkvError, shapeString } from '../../errors.ts';
import { floatToHalf } from '../../tensor/float.ts';
import type { Backend, BackendCaps, BinaryOp, Tensor, UnaryOp, WeightStorage } from '../backend.ts';
import { type QuantI8, i8Bytes, quantizeI8, quantizeI8Into } from '../quant-i8.ts';
import * as TS from '../ts/kernels.ts';
import { BINARY_EXPORT, type MatrixKernels, type OpKernels, UNARY_EXPORT, matrixKernels, opKernels } from './abi-ops.ts';
import { Arena } from './arena.ts';
import { ISOLATION_HEADERS, type WasmVariant, createMemory, kernelModule, sharedMemoryAvailable, wasmVariantSupported } from './module.ts';
import { CONTROL_BYTES, MAX_PARTS, ThreadPool } from './pool.ts';
import { hardwareThreads } from './threads.ts';
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

/** How a tensor's bytes encode its values. */
type Encoding = 'f32' | 'bf16' | 'f16' | 'i8';

class WasmTensor implements Tensor {
  constructor(
    readonly shape: readonly number[],
    readonly label: string,
    public ptr: number,
    readonly encoding: Encoding,
    readonly owner: WasmBackend,
  ) {}
}

/** The matrix kernels, in the pool's kernel-id order. */
const MATMUL_KERNELS = ['matmulF32', 'matmulBf16', 'matmulF16', 'matmulI8'] as const;
const KERNEL_ID: Record<Encoding, number> = { f32: 0, bf16: 1, f16: 2, i8: 3 };

/** Bytes reserved at address 0 (a null pointer never points at data) before the control block. */
const NULL_GUARD = 1024;
/**
 * A backend dropped without dispose() (e.g. with the model that made it) stops its workers when
 * it is garbage-collected, so its threads and memory do not live until the process exits.
 */
const orphans = new FinalizationRegistry<ThreadPool>((pool) => void pool.close());

/** The relaxed build's check, run on first use in this process (see checkRelaxed), per memory kind. */
const relaxedVerdicts = new Map<boolean, string | undefined>();

/**
 * Bytes of matmulI8Prep's output (assembly/kernels/matmul/i8.ts, matmulI8PrepBytes): sums [T, 4]
 * f32, x16 [T, K] i16.
 */
export function i8PrepBytes(T: number, K: number): number {
  return T * 16 + T * K * 2;
}

/** Products smaller than this many multiply-adds run on one thread (sync costs more). */
const MIN_PARALLEL_MACS = 1 << 16;

const size = numel;

/** Whether any half is ±inf or NaN (exponent bits all ones). */
function hasNonFiniteHalf(bits: Uint16Array): boolean {
  for (let i = 0; i < bits.length; i++) if ((bits[i]! & 0x7c00) === 0x7c00) return true;
  return false;
}

export interface WasmBackendOptions {
  /**
   * Threads for the matrix products, this one included (default: the machine's hardware threads,
   * os.availableParallelism() or navigator.hardwareConcurrency; 1 without shared memory).
   */
  threads?: number;
  /**
   * Threads for one-token (decode) products, at most `threads` (default: `threads`). On the
   * 2-core machine (bench/README.md, WASM section) two threads decoded faster than one when the
   * machine was otherwise idle (fp16, compute-bound, most), one thread when other jobs held
   * the second core.
   */
  decodeThreads?: number;
  /** Which build: 'auto' (relaxed where supported and verified, else portable), or one of them. */
  variant?: 'auto' | WasmVariant;
  /**
   * Keep the weights in a shared memory, so worker threads can help (default: where allowed, see
   * module.ts sharedMemoryAvailable: always in Node, Deno and Bun; in a browser only on a
   * cross-origin isolated page). false: a plain memory and one thread.
   */
  sharedMemory?: boolean;
}

export interface WasmCaps extends BackendCaps {
  readonly variant: WasmVariant;
}

export class WasmBackend implements Backend {
  readonly caps: WasmCaps;
  private readonly arena: Arena;
  private buf: ArrayBuffer | SharedArrayBuffer;
  private readonly mm: MatrixKernels;
  /** The op kernels of abi-ops.ts. */
  private readonly ops: OpKernels;
  /** Per-part scratch for 16-bit prefill (4·K f32 each) and the int8 prep buffer: grow-only. */
  private scratch = { ptr: 0, bytes: 0 };
  private prep = { ptr: 0, bytes: 0 };

  private constructor(
    readonly memory: WebAssembly.Memory,
    kernels: { mm: MatrixKernels; ops: OpKernels },
    private readonly pool: ThreadPool,
    arena: Arena,
    variant: WasmVariant,
    note: string,
    /** Threads for one-token products (≤ pool.threads). */
    private readonly decodeThreads: number,
  ) {
    this.arena = arena;
    this.buf = memory.buffer;
    this.mm = kernels.mm;
    this.ops = kernels.ops;
    this.caps = {
      name: 'wasm',
      simd: true,
      threads: pool.threads,
      variant,
      description:
        `WASM SIMD (${variant} build), ${pool.threads} thread${pool.threads === 1 ? '' : 's'}` +
        (decodeThreads !== pool.threads ? ` (${decodeThreads} for decode)` : '') +
        (note ? `; ${note}` : ''),
    };
  }

  static async create(options: WasmBackendOptions = {}): Promise<WasmBackend> {
    const canShare = sharedMemoryAvailable();
    const shared = options.sharedMemory ?? canShare;
    if (shared && !canShare) {
      throw new RwkvError('BACKEND_UNAVAILABLE', 'shared WebAssembly memory is not available here', {
        argument: 'sharedMemory',
        expected: 'SharedArrayBuffer on a cross-origin isolated page',
        hint: `serve the page with ${ISOLATION_HEADERS}, or leave sharedMemory unset (one thread)`,
      });
    }
    const threads = options.threads ?? (shared ? Math.min(hardwareThreads(), MAX_PARTS) : 1);
    if (!(Number.isInteger(threads) && threads >= 1 && threads <= MAX_PARTS)) {
      throw new RwkvError('INVALID_ARGUMENT', 'thread count out of range', {
        argument: 'threads',
        expected: `an integer in [1, ${MAX_PARTS}]`,
        actual: String(threads),
      });
    }
    if (threads > 1 && !shared) {
      throw new RwkvError('INVALID_ARGUMENT', 'worker threads need shared memory', {
        argument: 'threads',
        expected: '1 without shared memory',
        actual: String(threads),
        hint: canShare ? 'leave sharedMemory unset (or true) to use threads' : `in a browser, serve the page with ${ISOLATION_HEADERS}`,
      });
    }
    const decodeThreads = options.decodeThreads ?? threads;
    if (!(Number.isInteger(decodeThreads) && decodeThreads >= 1 && decodeThreads <= threads)) {
      throw new RwkvError('INVALID_ARGUMENT', 'decode thread count out of range', {
        argument: 'decodeThreads',
        expected: `an integer in [1, ${threads}] (threads)`,
        actual: String(decodeThreads),
      });
    }
    const wanted = options.variant ?? 'auto';
    if (!wasmVariantSupported('portable', shared)) {
      throw new RwkvError('BACKEND_UNAVAILABLE', `this runtime cannot run WebAssembly SIMD${shared ? ' with threads' : ''}`, {
        expected: shared ? 'WebAssembly SIMD, threads and SharedArrayBuffer' : 'WebAssembly SIMD',
      });
    }
    let variant: WasmVariant = 'portable';
    let note = shared ? '' : 'plain (unshared) memory';
    const addNote = (s: string) => (note = note ? `${note}; ${s}` : s);
    if (wanted !== 'portable') {
      if (!wasmVariantSupported('relaxed', shared)) {
        if (wanted === 'relaxed') kernelModule('relaxed', shared); // throws the typed "cannot run" error
        addNote('relaxed SIMD unavailable in this runtime');
      } else {
        if (!relaxedVerdicts.has(shared)) relaxedVerdicts.set(shared, checkRelaxed(undefined, shared));
        const mismatch = relaxedVerdicts.get(shared);
        if (mismatch === undefined) variant = 'relaxed';
        else addNote(`relaxed SIMD build disagreed with the portable build (${mismatch}): using portable`);
      }
    }
    const memory = createMemory(shared, 1);
    const module = kernelModule(variant, shared);
    const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
    // every kernel, with the parameters abi-ops.ts declares, or a typed refusal naming the export
    const kernels = { mm: matrixKernels(exports), ops: opKernels(exports) };
    const ctrl = NULL_GUARD;
    let backend: WasmBackend | undefined;
    const arena = new Arena(memory, ctrl + CONTROL_BYTES, () => backend?.refresh());
    const pool = await ThreadPool.create(module, memory, ctrl, exports, MATMUL_KERNELS, threads);
    backend = new WasmBackend(memory, kernels, pool, arena, variant, note, decodeThreads);
    orphans.register(backend, pool, backend);
    return backend;
  }

  /** Stop the worker threads (idempotent). The backend still works afterwards, on this thread only. */
  async dispose(): Promise<void> {
    orphans.unregister(this);
    await this.pool.close();
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  /** Bytes of tensors alive, and the heap's footprint (for tests and benchmarks). */
  memoryStats(): { inUse: number; highWater: number; capacity: number } {
    return { inUse: this.arena.inUse, highWater: this.arena.highWater, capacity: this.arena.capacity };
  }

  /**
   * Threads of the pool, and how many chunks of matrix products its worker threads (not this
   * one) have run: > 0 shows the workers really share the work (tests and benchmarks).
   */
  threadStats(): { threads: number; workerChunks: number } {
    return { threads: this.pool.threads, workerChunks: this.pool.workerChunks() };
  }

  private refresh(): void {
    this.buf = this.memory.buffer;
  }

  // ---- tensors ----

  private own(t: Tensor): WasmTensor {
    if (!(t instanceof WasmTensor) || t.owner !== this) {
      throw new RwkvError('INVALID_ARGUMENT', `tensor ${t.label} does not belong to this wasm backend`);
    }
    if (t.ptr === 0) throw new RwkvError('INVALID_ARGUMENT', `tensor ${t.label} was freed`);
    return t;
  }
  /** A float32 tensor's pointer (compact weights are only for matmul's W). */
  private p(t: Tensor): number {
    const o = this.own(t);
    if (o.encoding !== 'f32') throw new RwkvError('INVALID_ARGUMENT', `tensor ${t.label} is a compact weight, usable only as matmul's W`);
    return o.ptr;
  }
  /** A Float32Array view of a float32 tensor. */
  private v(t: Tensor): Float32Array {
    return new Float32Array(this.buf, this.p(t), size(t.shape));
  }
  private make(shape: readonly number[], label: string, bytes: number, encoding: Encoding): WasmTensor {
    return new WasmTensor([...shape], label, this.arena.alloc(bytes, label), encoding, this);
  }

  upload(data: Float32Array, shape: readonly number[], label: string, storage: WeightStorage = 'f32'): Tensor {
    const n = size(shape);
    if (data.length !== n) {
      throw new RwkvError('SHAPE_MISMATCH', 'upload size does not match the shape', {
        tensor: label,
        expected: `${n} values for ${shapeString(shape)}`,
        actual: `${data.length}`,
      });
    }
    const matrix = shape.length === 2;
    if (matrix && storage === 'bf16') {
      // encoded straight into the tensor (no host copy of the bits)
      const t = this.make(shape, label, n * 2, 'bf16');
      TS.encodeBf16(data, new Uint16Array(this.buf, t.ptr, n));
      return t;
    }
    if (matrix && storage === 'f16') return this.uploadCompact(Uint16Array.from(data, floatToHalf), shape, label, storage);
    if (matrix && storage === 'i8') {
      const [O, K] = [shape[0]!, shape[1]!];
      // quantised straight into the tensor (no host copy of the matrix or of q)
      const t = this.make(shape, label, i8Bytes(O, K), 'i8');
      try {
        quantizeI8Into(data, this.i8Views(t.ptr, O, K), label);
      } catch (e) {
        this.free(t);
        throw e;
      }
      return t;
    }
    const t = this.make(shape, label, n * 4, 'f32');
    new Float32Array(this.buf, t.ptr, n).set(data);
    return t;
  }
  uploadCompact(bits: Uint16Array, shape: readonly number[], label: string, encoding: 'bf16' | 'f16'): Tensor {
    if (bits.length !== size(shape) || shape.length !== 2) {
      throw new RwkvError('SHAPE_MISMATCH', 'compact upload must be a matrix of the given size', {
        tensor: label,
        expected: `${size(shape)} values for ${shapeString(shape)}`,
        actual: `${bits.length}`,
      });
    }
    if (encoding === 'f16' && hasNonFiniteHalf(bits)) {
      // the f16 kernel decodes finite halves only: keep this (rare) matrix as its exact f32 values
      const values = TS.decode16(bits, 'f16');
      const t = this.make(shape, label, values.length * 4, 'f32');
      new Float32Array(this.buf, t.ptr, values.length).set(values);
      return t;
    }
    const t = this.make(shape, label, bits.length * 2, encoding);
    new Uint16Array(this.buf, t.ptr, bits.length).set(bits);
    return t;
  }
  uploadFilled(
    shape: readonly number[],
    label: string,
    fill: (dst: Float32Array) => void,
    storage: Exclude<WeightStorage, 'f16'> = 'f32',
  ): Tensor {
    const n = size(shape);
    if (shape.length === 2 && (storage === 'bf16' || storage === 'i8')) return this.fillCompact(shape, label, fill, storage);
    const t = this.make(shape, label, n * 4, 'f32');
    try {
      fill(new Float32Array(this.buf, t.ptr, n));
    } catch (e) {
      this.free(t);
      throw e;
    }
    return t;
  }
  /** Views of an int8 matrix's parts at `ptr`: mx [O], rx [O], my [K], ry [K] (f32), q [O, K]. */
  private i8Views(ptr: number, O: number, K: number): QuantI8 {
    return {
      O,
      K,
      mx: new Float32Array(this.buf, ptr, O),
      rx: new Float32Array(this.buf, ptr + 4 * O, O),
      my: new Float32Array(this.buf, ptr + 8 * O, K),
      ry: new Float32Array(this.buf, ptr + 8 * O + 4 * K, K),
      q: new Uint8Array(this.buf, ptr + 8 * O + 8 * K, O * K),
    };
  }
  /**
   * A bf16 or int8 matrix from float32 values with no host copy: `fill` decodes them into the
   * tensor's own block, grown to hold them as float32 (for int8: after the offsets and scales),
   * they are encoded in place there (each value read before its bytes are written over; see
   * encodeBf16 and quantizeI8Into), and the block is then cut back to the compact size: the
   * rest is free again for the next weights.
   */
  private fillCompact(shape: readonly number[], label: string, fill: (dst: Float32Array) => void, encoding: 'bf16' | 'i8'): Tensor {
    const n = size(shape);
    const [O, K] = [shape[0]!, shape[1]!];
    const head = encoding === 'i8' ? 8 * O + 8 * K : 0; // int8: mx, rx, my, ry before q
    const bytes = encoding === 'i8' ? i8Bytes(O, K) : n * 2;
    let ptr = this.arena.alloc(head + n * 4, label);
    try {
      const values = new Float32Array(this.buf, ptr + head, n);
      fill(values);
      if (encoding === 'bf16') TS.encodeBf16(values, new Uint16Array(this.buf, ptr, n));
      else {
        quantizeI8Into(values, this.i8Views(ptr, O, K), label);
      }
    } catch (e) {
      this.arena.free(ptr);
      throw e;
    }
    // cut back: free the block and take the compact size; a free block that fits never grows the
    // memory, and where the arena picks another place the bytes move there (copyWithin: overlap-safe)
    this.arena.free(ptr);
    const at = this.arena.alloc(bytes, label);
    if (at !== ptr) new Uint8Array(this.buf).copyWithin(at, ptr, ptr + bytes);
    ptr = at;
    return new WasmTensor([...shape], label, ptr, encoding, this);
  }
  zeros(shape: readonly number[], label: string): Tensor {
    const n = size(shape);
    const t = this.make(shape, label, n * 4, 'f32');
    new Float32Array(this.buf, t.ptr, n).fill(0);
    return t;
  }
  write(t: Tensor, data: Float32Array): void {
    const d = this.v(t);
    checkWriteSize(t, data);
    d.set(data);
  }
  /** float32 values of any tensor (compact ones decoded), as a fresh array. */
  private values(t: Tensor): Float32Array {
    const o = this.own(t);
    const n = size(t.shape);
    if (o.encoding === 'f32') return new Float32Array(this.buf, o.ptr, n).slice();
    if (o.encoding === 'bf16' || o.encoding === 'f16') return TS.decode16(new Uint16Array(this.buf, o.ptr, n).slice(), o.encoding);
    const [O, K] = [t.shape[0]!, t.shape[1]!];
    const f = new Float32Array(this.buf, o.ptr, 2 * O + 2 * K);
    const q = new Uint8Array(this.buf, o.ptr + 8 * O + 8 * K, O * K);
    const out = new Float32Array(n);
    for (let r = 0; r < O; r++) {
      for (let k = 0; k < K; k++) out[r * K + k] = (q[r * K + k]! + 0.5) * f[O + r]! * f[2 * O + K + k]! + f[r]! + f[2 * O + k]!;
    }
    return out;
  }
  download(t: Tensor): Promise<Float32Array> {
    return Promise.resolve(this.values(t));
  }
  copy(dst: Tensor, src: Tensor): void {
    copyShape('wasm', dst, src);
    const a = this.v(dst);
    const s = this.own(src);
    if (s.encoding === 'f32') a.set(new Float32Array(this.buf, s.ptr, a.length));
    else a.set(this.values(src));
  }
  free(t: Tensor): void {
    if (t instanceof WasmTensor && t.owner === this && t.ptr !== 0) {
      this.arena.free(t.ptr);
      t.ptr = 0;
    }
  }

  // ---- ops ----

  embedding(out: Tensor, table: Tensor, tokens: Int32Array): void {
    const [V, C] = embeddingShape('wasm', out, table, tokens);
    const o = this.v(out);
    const tb = this.own(table);
    for (let t = 0; t < tokens.length; t++) {
      const id = tokens[t]!;
      if (!(id >= 0 && id < V)) {
        throw new RwkvError('INVALID_TOKEN', `token id ${id} is outside the vocabulary`, {
          tensor: table.label,
          expected: `0 <= id < ${V}`,
          actual: `${id}`,
        });
      }
      if (tb.encoding === 'f32') o.set(new Float32Array(this.buf, tb.ptr + id * C * 4, C), t * C);
      else if (tb.encoding === 'bf16' || tb.encoding === 'f16') {
        o.set(TS.decode16(new Uint16Array(this.buf, tb.ptr + id * C * 2, C).slice(), tb.encoding), t * C);
      } else {
        throw new RwkvError('INVALID_ARGUMENT', `tensor ${table.label} is an int8 matrix, usable only as matmul's W`);
      }
    }
  }

  /** A grow-only buffer (reallocated when too small, so its size settles after the first calls). */
  private grown(b: { ptr: number; bytes: number }, bytes: number, label: string): number {
    if (b.bytes < bytes) {
      if (b.ptr !== 0) this.arena.free(b.ptr);
      b.ptr = this.arena.alloc(bytes, label);
      b.bytes = bytes;
    }
    return b.ptr;
  }

  matmul(out: Tensor, x: Tensor, W: Tensor): void {
    const [T, K, O] = matmulShape('wasm', out, x, W);
    const w = this.own(W);
    const outP = this.p(out);
    let xP = this.p(x);
    if (w.encoding === 'i8') {
      // the per-token sums [T, 4] and int16 activations x16 [T, K], computed once on this thread
      xP = this.grown(this.prep, i8PrepBytes(T, K), 'matmul i8 prep');
      this.mm.matmulI8Prep(xP, this.p(x), w.ptr, T, K, O);
    }
    const parts = T * O * K < MIN_PARALLEL_MACS ? 1 : T === 1 ? this.decodeThreads : this.pool.threads;
    const stride = Math.ceil((16 * K) / 64) * 64;
    const scratch =
      w.encoding === 'bf16' || w.encoding === 'f16' ? this.grown(this.scratch, stride * this.pool.threads, 'matmul scratch') : 0;
    this.pool.run(KERNEL_ID[w.encoding], [outP, xP, w.ptr, T, K, O, scratch, stride], O, parts);
  }

  layerNorm(out: Tensor, x: Tensor, weight: Tensor, bias: Tensor, groupSize: number, eps: number): void {
    const [T, C] = layerNormShape('wasm', out, x, weight, bias, groupSize);
    this.ops.layerNorm(this.p(out), this.p(x), this.p(weight), this.p(bias), T, C, groupSize, eps);
  }
  l2NormalizeGroups(out: Tensor, x: Tensor, groupSize: number, eps: number): void {
    const n = l2NormalizeShape('wasm', out, x, groupSize);
    this.ops.l2NormalizeGroups(this.p(out), this.p(x), n, groupSize, eps);
  }
  shift(out: Tensor, x: Tensor, prev: Tensor): void {
    const [T, C] = shiftShape('wasm', out, x, prev);
    this.ops.shift(this.p(out), this.p(x), this.p(prev), T, C);
  }
  lastRow(out: Tensor, x: Tensor): void {
    const [T, C] = lastRowShape('wasm', out, x);
    this.v(out).set(new Float32Array(this.buf, this.p(x) + (T - 1) * C * 4, C));
  }
  unary(op: UnaryOp, out: Tensor, x: Tensor): void {
    const n = unaryShape('wasm', op, out, x);
    this.ops[UNARY_EXPORT[op]](this.p(out), this.p(x), n);
  }
  binary(op: BinaryOp, out: Tensor, a: Tensor, b: Tensor): void {
    const [n, bn] = binaryShape('wasm', op, out, a, b);
    this.ops[BINARY_EXPORT[op]](this.p(out), this.p(a), this.p(b), n, bn);
  }
  lerp(out: Tensor, a: Tensor, b: Tensor, t: Tensor): void {
    const [n, bn, tn] = lerpShape('wasm', out, a, b, t);
    this.ops.lerp(this.p(out), this.p(a), this.p(b), this.p(t), n, bn, tn);
  }
  groupSum(out: Tensor, x: Tensor, groupSize: number): void {
    const n = groupSumShape('wasm', out, x, groupSize);
    this.ops.groupSum(this.p(out), this.p(x), n, groupSize);
  }
  groupScale(out: Tensor, x: Tensor, s: Tensor, groupSize: number): void {
    const n = groupScaleShape('wasm', out, x, s, groupSize);
    this.ops.groupScale(this.p(out), this.p(x), this.p(s), n, groupSize);
  }
  rowVecMat(out: Tensor, x: Tensor, M: Tensor): void {
    const [T, I, J] = rowVecMatShape('wasm', out, x, M);
    this.ops.rowVecMat(this.p(out), this.p(x), this.p(M), T, I, J);
  }
  wkv4(out: Tensor, aa: Tensor, bb: Tensor, pp: Tensor, w: Tensor, u: Tensor, k: Tensor, v: Tensor): void {
    const [T, C] = wkv4Shape('wasm', out, aa, bb, pp, w, u, k, v);
    this.ops.wkv4(this.p(out), this.p(aa), this.p(bb), this.p(pp), this.p(w), this.p(u), this.p(k), this.p(v), T, C, 0, C);
  }
  wkv5(out: Tensor, S: Tensor, r: Tensor, k: Tensor, v: Tensor, w: Tensor, u: Tensor, H: number): void {
    const [T, , N, perToken] = wkv5Shape('wasm', out, S, r, k, v, w, u, H);
    this.ops.wkv5(this.p(out), this.p(S), this.p(r), this.p(k), this.p(v), this.p(w), this.p(u), T, H, N, perToken ? 1 : 0, 0, H);
  }
  wkv7(out: Tensor, S: Tensor, r: Tensor, w: Tensor, k: Tensor, v: Tensor, a: Tensor, b: Tensor, H: number): void {
    const [T, , N] = wkv7Shape('wasm', out, S, r, w, k, v, a, b, H);
    this.ops.wkv7(this.p(out), this.p(S), this.p(r), this.p(w), this.p(k), this.p(v), this.p(a), this.p(b), T, H, N, 0, H);
  }
}

// ---- relaxed-SIMD verification ----

/** Tolerance of relaxed (possibly fused) vs portable products: |Δ| ≤ RELAXED_RTOL·Σ|x·w|. */
export const RELAXED_RTOL = 1e-5;

/**
 * Run every matrix kernel of the relaxed and the portable build on the same small seeded
 * problems (odd sizes, T = 1 and T = 3, int8 included), twice (an engine may miscompile only a
 * first call). Returns undefined when they agree, else what differed. `relaxed` may be replaced
 * (tests pass a broken one).
 */
export function checkRelaxed(relaxed?: (memory: WebAssembly.Memory) => WebAssembly.Exports, shared = true): string | undefined {
  const memory = createMemory(shared, 4);
  const a = new WebAssembly.Instance(kernelModule('portable', shared), { env: { memory } }).exports as unknown as MatrixKernels;
  relaxed ??= (m) => new WebAssembly.Instance(kernelModule('relaxed', shared), { env: { memory: m } }).exports;
  const b = relaxed(memory) as unknown as MatrixKernels;
  const K = 37;
  const O = 11;
  const buf = memory.buffer;
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296) * 2 - 1;
  // layout: x at 1024 (3·K f32), W at 4096 (f32 / 16-bit / int8 block), prep at 32768,
  // outputs at 40960 (portable) and 45056 (relaxed), scratch at 49152
  const X = 1024;
  const WP = 4096;
  const PREP = 32768;
  const OUT_A = 40960;
  const OUT_B = 45056;
  const SCR = 49152;
  const x = new Float32Array(buf, X, 3 * K);
  for (let i = 0; i < x.length; i++) x[i] = rnd();
  const w = Float32Array.from({ length: O * K }, rnd);
  const absSum = (T: number) => {
    let s = 0;
    for (let i = 0; i < T * K; i++) s += Math.abs(x[i]!);
    return s;
  };
  for (const enc of ['f32', 'bf16', 'f16', 'i8'] as const) {
    if (enc === 'f32') new Float32Array(buf, WP, O * K).set(w);
    else if (enc === 'bf16') new Uint16Array(buf, WP, O * K).set(TS.encodeBf16(w));
    else if (enc === 'f16') new Uint16Array(buf, WP, O * K).set(Uint16Array.from(w, floatToHalf));
    else {
      const q = quantizeI8(w, O, K);
      const f = new Float32Array(buf, WP, 2 * O + 2 * K);
      f.set(q.mx, 0);
      f.set(q.rx, O);
      f.set(q.my, 2 * O);
      f.set(q.ry, 2 * O + K);
      new Uint8Array(buf, WP + 8 * O + 8 * K, O * K).set(q.q);
    }
    const name = MATMUL_KERNELS[KERNEL_ID[enc]!]!;
    for (const T of [1, 3, 1]) {
      for (const [k, out] of [
        [a, OUT_A],
        [b, OUT_B],
      ] as const) {
        let xp = X;
        if (enc === 'i8') {
          k.matmulI8Prep(PREP, X, WP, T, K, O);
          xp = PREP;
        }
        k[name](out, xp, WP, T, K, O, 0, O, SCR);
      }
      const ya = new Float32Array(buf, OUT_A, T * O);
      const yb = new Float32Array(buf, OUT_B, T * O);
      const tol = RELAXED_RTOL * absSum(T) * 4 + 1e-6;
      for (let i = 0; i < T * O; i++) {
        if (!(Math.abs(ya[i]! - yb[i]!) <= tol)) return `${name} T=${T} out[${i}]: relaxed ${yb[i]} vs portable ${ya[i]}`;
      }
    }
  }
  return undefined;
}
