// The CUDA backend: tensors live in device memory, ops are the kernels of ./kernels.cu launched
// on the legacy default stream in program order, and `download` is the only synchronisation
// point (cuMemcpyDtoH waits for the work enqueued before it). Optional: `CudaBackend.create()`
// throws RwkvError 'CUDA_UNAVAILABLE' (saying what is missing) on machines without a GPU, a
// driver or koffi; nothing is loaded before it is called.
//
// Precision (docs/cuda.md): weight matrices in f32, f16 or bf16 (WeightStorage; 'i8' is stored as
// f32, which the contract allows); activations, state and every accumulation in f32.
//
// Legend: T rows (tokens), C channels, K/O matmul in/out width, H heads, N head size.

import { DECAY_SCALE } from '../../constants.ts';
import { RwkvError, shapeString } from '../../errors.ts';
import type { Backend, BackendCaps, BinaryOp, Tensor, UnaryOp, WeightStorage } from '../backend.ts';
import { decode16 } from '../ts/kernels.ts';
import { CU_DEVICE_ATTRIBUTE, CudaDriver, type Handle, type KernelArg } from './driver.ts';
import { type KernelSource, loadKernels } from './module.ts';
import {
  binaryShape,
  checkShapes,
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

/** Weight storage codes, as WSTORE_* in kernels.cu. */
const WSTORE = { f32: 0, f16: 1, bf16: 2 } as const;
type DeviceStorage = keyof typeof WSTORE;

/** UnaryOp → U_* code in kernels.cu. */
const UNARY_CODES: Record<UnaryOp, number> = {
  sigmoid: 0,
  tanh: 1,
  silu: 2,
  relu2: 3,
  neg: 4,
  expNegExp: 5,
  rwkv7Decay: 6,
};
/** BinaryOp → B_* code in kernels.cu. */
const BINARY_CODES: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2 };

/** Threads per block of the element-wise kernels. */
const BLOCK = 256;
/** matvec_*: warps (output columns) per block (MV_WARPS in kernels.cu). */
const MV_WARPS = 4;
/** gemm_*: output tile (GM_BT × GM_BO) and threads per block (kernels.cu). */
const GM_BT = 64;
const GM_BO = 64;
const GM_THREADS = 256;
/** Up to this many rows the matrix-vector kernel is used (it streams W once per 4 rows). */
const MATVEC_MAX_T = 8;
/** Dynamic shared memory a block may use without opting in (48 KiB on every architecture). */
const WKV_SHARED_MAX_BYTES = 48 * 1024;
/** Largest head size N: a WKV head runs as one block of N threads (at most 1024 per block). */
const WKV_MAX_HEAD = 1024;
/** Largest grid y dimension. */
const GRID_Y_MAX = 65535;
/** Scratch allocations are rounded up to this many bytes so the pool can reuse them. */
const POOL_GRANULE = 256;

const KERNELS = [
  'matvec_f32',
  'matvec_f16',
  'matvec_bf16',
  'gemm_f32',
  'gemm_f16',
  'gemm_bf16',
  'decode16',
  'encode16',
  'embedding',
  'layer_norm',
  'l2_normalize_groups',
  'token_shift',
  'unary',
  'binary',
  'lerp',
  'group_sum',
  'group_scale',
  'row_vec_mat',
  'wkv4',
  'wkv5',
  'wkv7',
] as const;
type KernelName = (typeof KERNELS)[number];

class CudaTensor implements Tensor {
  constructor(
    readonly shape: readonly number[],
    readonly label: string,
    /** Device address, null once freed. */
    public ptr: bigint | null,
    readonly storage: DeviceStorage,
    /** Bytes allocated (pool size class for f32 scratch). */
    readonly bytes: number,
  ) {}
}

const size = numel;
const i32 = (v: number): KernelArg => ({ i32: v });
const f32 = (v: number): KernelArg => ({ f32: v });
const ceilDiv = (a: number, b: number) => Math.ceil(a / b);

export interface CudaBackendOptions {
  /** Device ordinal (default 0). */
  device?: number;
  /** Where the kernel code comes from (default 'auto': embedded PTX, else NVRTC). */
  kernels?: KernelSource;
  /** Environment for the library overrides (default process.env); see docs/cuda.md. */
  env?: NodeJS.ProcessEnv;
}

export class CudaBackend implements Backend {
  readonly caps: BackendCaps;
  private readonly fn: Record<KernelName, Handle>;
  /** Freed f32 allocations by byte size, reused by later ones (cuMemAlloc/Free are slow). */
  private readonly pool = new Map<number, bigint[]>();
  private readonly live = new Set<CudaTensor>();
  private disposed = false;

  private constructor(
    private readonly driver: CudaDriver,
    private readonly dev: number,
    private readonly module: Handle,
    caps: BackendCaps,
  ) {
    this.caps = caps;
    const fn = {} as Record<KernelName, Handle>;
    for (const k of KERNELS) fn[k] = driver.getFunction(module, k);
    this.fn = fn;
  }

  /**
   * Open the driver, pick the device, load the kernels. Throws RwkvError 'CUDA_UNAVAILABLE'
   * (listing what was tried) when there is no koffi, driver, GPU or kernel code.
   */
  static async create(options: CudaBackendOptions = {}): Promise<CudaBackend> {
    const ordinal = options.device ?? 0;
    if (!Number.isInteger(ordinal) || ordinal < 0) {
      throw new RwkvError('INVALID_ARGUMENT', 'CUDA device must be a non-negative integer', {
        argument: 'device',
        expected: '0, 1, …',
        actual: String(ordinal),
      });
    }
    const env = options.env ?? process.env;
    const driver = await CudaDriver.open(env);
    const count = driver.deviceCount();
    if (ordinal >= count) {
      throw new RwkvError('CUDA_UNAVAILABLE', `no CUDA device ${ordinal}`, {
        argument: 'device',
        expected: count > 0 ? `0..${count - 1}` : 'a machine with an NVIDIA GPU',
        actual: String(ordinal),
      });
    }
    const dev = driver.device(ordinal);
    driver.retainPrimaryContext(dev);
    const cc =
      driver.attribute(dev, CU_DEVICE_ATTRIBUTE.COMPUTE_CAPABILITY_MAJOR) * 10 +
      driver.attribute(dev, CU_DEVICE_ATTRIBUTE.COMPUTE_CAPABILITY_MINOR);
    const { module, origin } = await loadKernels(driver, cc, options.kernels ?? 'auto', env);
    const sms = driver.attribute(dev, CU_DEVICE_ATTRIBUTE.MULTIPROCESSOR_COUNT);
    const gib = (driver.totalMemory(dev) / 1024 ** 3).toFixed(1);
    const v = driver.driverVersion();
    return new CudaBackend(driver, dev, module, {
      name: 'cuda',
      simd: false,
      threads: sms,
      description:
        `CUDA device ${ordinal}: ${driver.deviceName(dev)} (sm_${cc}, ${sms} SMs, ${gib} GiB), ` +
        `driver ${Math.floor(v / 1000)}.${(v % 1000) / 10} (${driver.path}), kernels: ${origin}`,
    });
  }

  // ---- memory ----

  private own(t: Tensor): CudaTensor & { ptr: bigint } {
    if (!(t instanceof CudaTensor)) {
      throw new RwkvError('INVALID_ARGUMENT', `tensor ${t.label} does not belong to the cuda backend`);
    }
    if (t.ptr === null) throw new RwkvError('INVALID_ARGUMENT', `tensor ${t.label} was freed`);
    return t as CudaTensor & { ptr: bigint };
  }

  /** The address of an f32 tensor (compact weights are only matmul's W, or copy/download sources). */
  private p(t: Tensor): bigint {
    const o = this.own(t);
    if (o.storage !== 'f32') throw new RwkvError('INVALID_ARGUMENT', `tensor ${t.label} is a compact weight, usable only as matmul's W`);
    return o.ptr;
  }

  private check(cond: boolean, what: string, ...ts: Tensor[]): void {
    checkShapes('cuda', cond, what, ...ts);
  }

  private alive(): void {
    if (this.disposed) throw new RwkvError('INVALID_ARGUMENT', 'the cuda backend was disposed');
  }

  /** A device allocation: f32 ones come from (and return to) the pool. */
  private allocate(shape: readonly number[], label: string, storage: DeviceStorage): CudaTensor {
    this.alive();
    const n = size(shape);
    if (!(n < 2 ** 31)) {
      throw new RwkvError('SHAPE_MISMATCH', 'tensor too large for the cuda kernels (32-bit element indices)', {
        tensor: label,
        expected: 'fewer than 2^31 elements',
        actual: shapeString(shape),
      });
    }
    const raw = n * (storage === 'f32' ? 4 : 2);
    const bytes = Math.max(POOL_GRANULE, ceilDiv(raw, POOL_GRANULE) * POOL_GRANULE);
    const reuse = this.pool.get(bytes)?.pop();
    const t = new CudaTensor([...shape], label, reuse ?? this.driver.alloc(bytes), storage, bytes);
    this.live.add(t);
    return t;
  }

  upload(data: Float32Array, shape: readonly number[], label: string, storage: WeightStorage = 'f32'): Tensor {
    if (data.length !== size(shape)) {
      throw new RwkvError('SHAPE_MISMATCH', 'upload size does not match the shape', {
        tensor: label,
        expected: `${size(shape)} values for ${shapeString(shape)}`,
        actual: `${data.length}`,
      });
    }
    if ((storage === 'f16' || storage === 'bf16') && shape.length === 2) {
      // stage the float32 values on the device, encode there (round to nearest-even)
      const staging = this.allocate(shape, `${label} (f32 staging)`, 'f32');
      this.driver.htod(staging.ptr!, data);
      const t = this.allocate(shape, label, storage);
      const n = data.length;
      this.launch('encode16', [ceilDiv(n, BLOCK), 1, 1], [BLOCK, 1, 1], 0, [t.ptr!, staging.ptr!, i32(n), i32(WSTORE[storage])]);
      this.free(staging);
      return t;
    }
    const t = this.allocate(shape, label, 'f32');
    this.driver.htod(t.ptr!, data);
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
    const t = this.allocate(shape, label, encoding);
    this.driver.htod(t.ptr!, bits);
    return t;
  }

  zeros(shape: readonly number[], label: string): Tensor {
    const t = this.allocate(shape, label, 'f32');
    this.driver.memsetZero(t.ptr!, size(shape) * 4);
    return t;
  }

  write(t: Tensor, data: Float32Array): void {
    const ptr = this.p(t);
    checkWriteSize(t, data);
    this.driver.htod(ptr, data);
  }

  download(t: Tensor): Promise<Float32Array> {
    const o = this.own(t);
    const n = size(o.shape);
    if (o.storage === 'f32') {
      const out = new Float32Array(n);
      this.driver.dtoh(out, o.ptr);
      return Promise.resolve(out);
    }
    const bits = new Uint16Array(n);
    this.driver.dtoh(bits, o.ptr);
    return Promise.resolve(decode16(bits, o.storage));
  }

  copy(dst: Tensor, src: Tensor): void {
    const d = this.p(dst);
    const s = this.own(src);
    const n = copyShape('cuda', dst, src);
    if (s.storage === 'f32') this.driver.dtod(d, s.ptr, n * 4);
    else this.launch('decode16', [ceilDiv(n, BLOCK), 1, 1], [BLOCK, 1, 1], 0, [d, s.ptr, i32(n), i32(WSTORE[s.storage])]);
  }

  free(t: Tensor): void {
    if (!(t instanceof CudaTensor) || t.ptr === null) return;
    const ptr = t.ptr;
    t.ptr = null;
    this.live.delete(t);
    if (this.disposed) return;
    // the default stream runs in order, so later work may reuse the memory at once
    if (t.storage === 'f32') {
      let list = this.pool.get(t.bytes);
      if (list === undefined) this.pool.set(t.bytes, (list = []));
      list.push(ptr);
    } else {
      this.driver.free(ptr);
    }
  }

  /** Wait for every enqueued op (download does this implicitly). */
  synchronize(): void {
    this.driver.synchronize();
  }

  /** Free every tensor and pooled block and release the device context. The backend is unusable afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.driver.synchronize();
    for (const t of this.live) {
      if (t.ptr !== null) this.driver.free(t.ptr);
      t.ptr = null;
    }
    this.live.clear();
    for (const list of this.pool.values()) for (const p of list) this.driver.free(p);
    this.pool.clear();
    this.driver.unloadModule(this.module);
    this.driver.releasePrimaryContext(this.dev);
    this.disposed = true;
  }

  private launch(
    name: KernelName,
    grid: readonly [number, number, number],
    block: readonly [number, number, number],
    shared: number,
    args: readonly KernelArg[],
  ): void {
    this.alive();
    this.driver.launch(this.fn[name], grid, block, shared, args);
  }

  /** Element-wise launch over n elements. */
  private launch1d(name: KernelName, n: number, args: readonly KernelArg[]): void {
    if (n > 0) this.launch(name, [ceilDiv(n, BLOCK), 1, 1], [BLOCK, 1, 1], 0, args);
  }

  // ---- ops ----

  embedding(out: Tensor, table: Tensor, tokens: Int32Array): void {
    const [V, C] = embeddingShape('cuda', out, table, tokens);
    const o = this.p(out);
    const tb = this.own(table);
    const T = tokens.length;
    for (let t = 0; t < T; t++) {
      const id = tokens[t]!;
      if (!(id >= 0 && id < V)) {
        throw new RwkvError('INVALID_TOKEN', `token id ${id} is outside the vocabulary`, {
          tensor: table.label,
          expected: `0 <= id < ${V}`,
          actual: `${id}`,
        });
      }
    }
    if (T === 0) return;
    const ids = this.allocate([T], 'token ids', 'f32'); // 4-byte slots hold the int32 ids
    this.driver.htod(ids.ptr!, tokens);
    for (let t0 = 0; t0 < T; t0 += GRID_Y_MAX) {
      const rows = Math.min(GRID_Y_MAX, T - t0);
      this.launch('embedding', [ceilDiv(C, BLOCK), rows, 1], [BLOCK, 1, 1], 0, [
        o + BigInt(t0 * C * 4),
        tb.ptr,
        ids.ptr! + BigInt(t0 * 4),
        i32(C),
        i32(WSTORE[tb.storage]),
      ]);
    }
    this.free(ids);
  }

  matmul(out: Tensor, x: Tensor, W: Tensor): void {
    const [T, K, O] = matmulShape('cuda', out, x, W);
    const w = this.own(W);
    const args = [this.p(out), this.p(x), w.ptr, i32(T), i32(K), i32(O)];
    if (T <= MATVEC_MAX_T) {
      this.launch(`matvec_${w.storage}`, [ceilDiv(O, MV_WARPS), 1, 1], [32 * MV_WARPS, 1, 1], 0, args);
    } else {
      this.check(ceilDiv(T, GM_BT) <= GRID_Y_MAX, `matmul of more than ${GRID_Y_MAX * GM_BT} rows`, x);
      this.launch(`gemm_${w.storage}`, [ceilDiv(O, GM_BO), ceilDiv(T, GM_BT), 1], [GM_THREADS, 1, 1], 0, args);
    }
  }

  /** Threads for a one-block-per-group reduction over G values. */
  private groupBlock(G: number): number {
    return Math.min(BLOCK, Math.max(32, ceilDiv(G, 32) * 32));
  }

  layerNorm(out: Tensor, x: Tensor, weight: Tensor, bias: Tensor, groupSize: number, eps: number): void {
    const [T, C] = layerNormShape('cuda', out, x, weight, bias, groupSize);
    const groups = (T * C) / groupSize;
    if (groups > 0) {
      this.launch('layer_norm', [groups, 1, 1], [this.groupBlock(groupSize), 1, 1], 0, [
        this.p(out),
        this.p(x),
        this.p(weight),
        this.p(bias),
        i32(C),
        i32(groupSize),
        f32(eps),
      ]);
    }
  }

  l2NormalizeGroups(out: Tensor, x: Tensor, groupSize: number, eps: number): void {
    const n = l2NormalizeShape('cuda', out, x, groupSize);
    if (n > 0) {
      this.launch('l2_normalize_groups', [n / groupSize, 1, 1], [this.groupBlock(groupSize), 1, 1], 0, [
        this.p(out),
        this.p(x),
        i32(groupSize),
        f32(eps),
      ]);
    }
  }

  shift(out: Tensor, x: Tensor, prev: Tensor): void {
    const [T, C] = shiftShape('cuda', out, x, prev);
    const o = this.p(out);
    const xp = this.p(x);
    if (o !== xp) {
      this.launch1d('token_shift', T * C, [o, xp, this.p(prev), i32(T), i32(C)]);
      return;
    }
    // out aliases x: shift from a copy
    const tmp = this.allocate(x.shape, 'shift (copy of x)', 'f32');
    this.driver.dtod(tmp.ptr!, xp, T * C * 4);
    this.launch1d('token_shift', T * C, [o, tmp.ptr!, this.p(prev), i32(T), i32(C)]);
    this.free(tmp);
  }

  lastRow(out: Tensor, x: Tensor): void {
    const [T, C] = lastRowShape('cuda', out, x);
    this.driver.dtod(this.p(out), this.p(x) + BigInt((T - 1) * C * 4), C * 4);
  }

  unary(op: UnaryOp, out: Tensor, x: Tensor): void {
    const n = unaryShape('cuda', op, out, x);
    const code = UNARY_CODES[op];
    if (code === undefined) throw new RwkvError('INVALID_ARGUMENT', `unknown unary op ${String(op)}`, { argument: 'op' });
    this.launch1d('unary', n, [this.p(out), this.p(x), i32(n), i32(code), f32(DECAY_SCALE)]);
  }

  binary(op: BinaryOp, out: Tensor, a: Tensor, b: Tensor): void {
    const [n, bn] = binaryShape('cuda', op, out, a, b);
    const code = BINARY_CODES[op];
    if (code === undefined) throw new RwkvError('INVALID_ARGUMENT', `unknown binary op ${String(op)}`, { argument: 'op' });
    this.launch1d('binary', n, [this.p(out), this.p(a), this.p(b), i32(n), i32(bn), i32(code)]);
  }

  lerp(out: Tensor, a: Tensor, b: Tensor, t: Tensor): void {
    const [n, bn, tn] = lerpShape('cuda', out, a, b, t);
    this.launch1d('lerp', n, [this.p(out), this.p(a), this.p(b), this.p(t), i32(n), i32(bn), i32(tn)]);
  }

  groupSum(out: Tensor, x: Tensor, groupSize: number): void {
    const n = groupSumShape('cuda', out, x, groupSize);
    const groups = n / groupSize;
    if (groups > 0)
      this.launch('group_sum', [ceilDiv(groups, 4), 1, 1], [128, 1, 1], 0, [this.p(out), this.p(x), i32(groups), i32(groupSize)]);
  }

  groupScale(out: Tensor, x: Tensor, s: Tensor, groupSize: number): void {
    const n = groupScaleShape('cuda', out, x, s, groupSize);
    this.launch1d('group_scale', n, [this.p(out), this.p(x), this.p(s), i32(n), i32(groupSize)]);
  }

  rowVecMat(out: Tensor, x: Tensor, M: Tensor): void {
    const [T, I, J] = rowVecMatShape('cuda', out, x, M);
    for (let t0 = 0; t0 < T; t0 += GRID_Y_MAX) {
      const rows = Math.min(GRID_Y_MAX, T - t0);
      this.launch('row_vec_mat', [ceilDiv(J, BLOCK), rows, 1], [BLOCK, 1, 1], 0, [
        this.p(out) + BigInt(t0 * J * 4),
        this.p(x) + BigInt(t0 * I * 4),
        this.p(M) + BigInt(t0 * I * J * 4),
        i32(rows),
        i32(I),
        i32(J),
      ]);
    }
  }

  wkv4(out: Tensor, aa: Tensor, bb: Tensor, pp: Tensor, w: Tensor, u: Tensor, k: Tensor, v: Tensor): void {
    const [T, C] = wkv4Shape('cuda', out, aa, bb, pp, w, u, k, v);
    this.launch1d('wkv4', C, [this.p(out), this.p(aa), this.p(bb), this.p(pp), this.p(w), this.p(u), this.p(k), this.p(v), i32(T), i32(C)]);
  }

  /** Dynamic shared memory for a WKV kernel staging `vectors` [N] rows, and whether S fits too. */
  private wkvShared(N: number, vectors: number): { bytes: number; inShared: number } {
    const withState = (N * (N + 1) + vectors * N) * 4;
    return withState <= WKV_SHARED_MAX_BYTES ? { bytes: withState, inShared: 1 } : { bytes: vectors * N * 4, inShared: 0 };
  }

  /** A head is one block of N threads: N ≤ 1024 (on top of the shared shape contract). */
  private headCheck(N: number, k: Tensor, what: string): void {
    this.check(N >= 1 && N <= WKV_MAX_HEAD, `${what} head size must be ≤ ${WKV_MAX_HEAD} on CUDA`, k);
  }

  wkv5(out: Tensor, S: Tensor, r: Tensor, k: Tensor, v: Tensor, w: Tensor, u: Tensor, H: number): void {
    const [T, C, N, perToken] = wkv5Shape('cuda', out, S, r, k, v, w, u, H);
    this.headCheck(N, k, 'wkv5');
    const sh = this.wkvShared(N, 4);
    this.launch('wkv5', [H, 1, 1], [N, 1, 1], sh.bytes, [
      this.p(out),
      this.p(S),
      this.p(r),
      this.p(k),
      this.p(v),
      this.p(w),
      this.p(u),
      i32(T),
      i32(H),
      i32(N),
      i32(perToken ? C : 0),
      i32(sh.inShared),
    ]);
  }

  wkv7(out: Tensor, S: Tensor, r: Tensor, w: Tensor, k: Tensor, v: Tensor, a: Tensor, b: Tensor, H: number): void {
    const [T, , N] = wkv7Shape('cuda', out, S, r, w, k, v, a, b, H);
    this.headCheck(N, k, 'wkv7');
    const sh = this.wkvShared(N, 5);
    this.launch('wkv7', [H, 1, 1], [N, 1, 1], sh.bytes, [
      this.p(out),
      this.p(S),
      this.p(r),
      this.p(w),
      this.p(k),
      this.p(v),
      this.p(a),
      this.p(b),
      i32(T),
      i32(H),
      i32(N),
      i32(sh.inShared),
    ]);
  }
}
