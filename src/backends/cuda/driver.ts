// The CUDA driver API and NVRTC through koffi (an optional dependency), loaded lazily: nothing
// here runs at import time, and every way of failing to load ends in one RwkvError
// 'CUDA_UNAVAILABLE' that lists what was tried. Calls that fail after loading throw 'CUDA_ERROR'
// with the function name and the driver's own error name and text.
//
// Libraries (first that loads wins; see docs/cuda.md):
//   driver  $RWKV_CUDA_DRIVER_DIR/libcuda.so.1, libcuda.so.1 / libcuda.so (system loader), then the
//           usual install folders; Windows nvcuda.dll
//   NVRTC   $RWKV_CUDA_NVRTC_DIR, $CUDA_PATH / $CUDA_HOME, /usr/local/cuda: libnvrtc.so.13, .12, .11.2
//           (only needed when the embedded PTX is missing, stale or rejected by the driver)
//
// koffi notes (koffi 3.3, exercised by test/conformance/cuda-emulated.test.ts): u64 CUdeviceptr
// values come back as Numbers when they fit, so they are wrapped in BigInt; kernel parameters go as
// a JS array of typed arrays (koffi passes each one's address, which is what `void **kernelParams`
// wants).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RwkvError } from '../../errors.ts';

/** The part of koffi's API used here (typed locally so the optional dependency stays optional). */
interface Koffi {
  load(path: string): KoffiLib;
}
interface KoffiLib {
  func(signature: string): (...args: unknown[]) => unknown;
  unload?(): void;
}

/** A CUDA handle (context, module, function, program): opaque, passed back as is. */
export type Handle = unknown;

/** CUdevice_attribute values used here (cuda.h). */
export const CU_DEVICE_ATTRIBUTE = {
  MAX_SHARED_MEMORY_PER_BLOCK: 8,
  MULTIPROCESSOR_COUNT: 16,
  COMPUTE_CAPABILITY_MAJOR: 75,
  COMPUTE_CAPABILITY_MINOR: 76,
} as const;

/** CUresult values the loader reacts to (cuda.h). */
export const CUDA_ERROR = {
  NO_DEVICE: 100,
  INVALID_PTX: 218,
  UNSUPPORTED_PTX_VERSION: 222,
  JIT_COMPILER_NOT_FOUND: 221,
} as const;

const HINT =
  'the cuda backend needs an NVIDIA GPU, its driver (libcuda), and the koffi package (npm i koffi); ' +
  'set RWKV_CUDA_DRIVER_DIR to the folder holding the driver library; other backends keep working';

function unavailable(message: string, tried: readonly string[], hint = HINT): RwkvError {
  return new RwkvError('CUDA_UNAVAILABLE', `${message} (tried ${tried.length > 0 ? tried.join(', ') : 'nothing'})`, {
    argument: 'backend',
    hint,
  });
}

let koffiPromise: Promise<Koffi> | undefined;

/** koffi, imported on first use; the typed error when it is not installed. */
export function loadKoffi(): Promise<Koffi> {
  koffiPromise ??= (async () => {
    const name = 'koffi'; // a variable, so bundlers and tsc leave the optional import alone
    try {
      const mod = (await import(name)) as { default?: Koffi } & Koffi;
      return mod.default ?? mod;
    } catch (e) {
      koffiPromise = undefined;
      throw unavailable(
        `the koffi package could not be loaded: ${(e as Error).message}`,
        ['import("koffi")'],
        'install it with `npm i koffi` (an optional dependency of rwkv); other backends keep working',
      );
    }
  })();
  return koffiPromise;
}

/** Candidate paths for a library: the override folder first, then names for the system loader. */
function candidates(envDir: string | undefined, names: readonly string[], dirs: readonly string[]): string[] {
  const out: string[] = [];
  if (envDir) for (const n of names) out.push(join(envDir, n));
  for (const n of names) out.push(n);
  for (const d of dirs)
    for (const n of names) {
      const p = join(d, n);
      if (existsSync(p)) out.push(p);
    }
  return [...new Set(out)];
}

function openFirst(koffi: Koffi, paths: readonly string[]): { lib: KoffiLib; path: string } | { errors: string[] } {
  const errors: string[] = [];
  for (const p of paths) {
    try {
      return { lib: koffi.load(p), path: p };
    } catch (e) {
      errors.push(`${p}: ${firstLine((e as Error).message)}`);
    }
  }
  return { errors };
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.slice(0, 200);
}

const WINDOWS = process.platform === 'win32';

export function driverCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  if (WINDOWS) return candidates(env['RWKV_CUDA_DRIVER_DIR'], ['nvcuda.dll'], []);
  return candidates(
    env['RWKV_CUDA_DRIVER_DIR'],
    ['libcuda.so.1', 'libcuda.so'],
    [
      '/usr/lib/x86_64-linux-gnu',
      '/usr/lib/aarch64-linux-gnu',
      '/usr/lib64',
      '/usr/lib',
      '/usr/lib/wsl/lib',
      '/usr/local/nvidia/lib64',
      '/usr/local/cuda/lib64/stubs',
    ],
  );
}

export function nvrtcCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const roots = [env['CUDA_PATH'], env['CUDA_HOME'], '/usr/local/cuda'].filter((d): d is string => !!d);
  if (WINDOWS) {
    const names = ['nvrtc64_130_0.dll', 'nvrtc64_120_0.dll', 'nvrtc64_112_0.dll'];
    return candidates(
      env['RWKV_CUDA_NVRTC_DIR'],
      names,
      roots.map((r) => join(r, 'bin')),
    );
  }
  const names = ['libnvrtc.so.13', 'libnvrtc.so.12', 'libnvrtc.so.11.2', 'libnvrtc.so'];
  return candidates(
    env['RWKV_CUDA_NVRTC_DIR'],
    names,
    roots.flatMap((r) => [join(r, 'lib64'), join(r, 'lib')]),
  );
}

/** Device pointers are u64; koffi hands back a Number when the value fits. */
export function devicePtr(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(v);
  throw new RwkvError('CUDA_ERROR', `unexpected device pointer value ${String(v)}`);
}

/** One kernel argument: a pointer (bigint), an int32 or a float32 (see `launch`). */
export type KernelArg = bigint | { i32: number } | { f32: number };

/** The bound driver API; every method throws CUDA_ERROR on a non-zero CUresult. */
export class CudaDriver {
  private readonly f: Record<string, (...args: unknown[]) => unknown> = {};

  private constructor(
    readonly path: string,
    lib: KoffiLib,
  ) {
    const sigs = [
      'int cuInit(unsigned int flags)',
      'int cuDriverGetVersion(_Out_ int *version)',
      'int cuDeviceGetCount(_Out_ int *count)',
      'int cuDeviceGet(_Out_ int *device, int ordinal)',
      'int cuDeviceGetName(void *name, int len, int device)',
      'int cuDeviceGetAttribute(_Out_ int *value, int attrib, int device)',
      'int cuDeviceTotalMem_v2(_Out_ size_t *bytes, int device)',
      'int cuDevicePrimaryCtxRetain(_Out_ void **pctx, int device)',
      'int cuDevicePrimaryCtxRelease_v2(int device)',
      'int cuCtxSetCurrent(void *ctx)',
      'int cuCtxSynchronize()',
      'int cuModuleLoadData(_Out_ void **module, const void *image)',
      'int cuModuleUnload(void *module)',
      'int cuModuleGetFunction(_Out_ void **fn, void *module, const char *name)',
      'int cuMemAlloc_v2(_Out_ uint64_t *dptr, size_t bytes)',
      'int cuMemFree_v2(uint64_t dptr)',
      'int cuMemcpyHtoD_v2(uint64_t dst, const void *src, size_t bytes)',
      'int cuMemcpyDtoH_v2(void *dst, uint64_t src, size_t bytes)',
      'int cuMemcpyDtoD_v2(uint64_t dst, uint64_t src, size_t bytes)',
      'int cuMemsetD8_v2(uint64_t dst, uint8_t value, size_t count)',
      'int cuLaunchKernel(void *fn, unsigned int gx, unsigned int gy, unsigned int gz, ' +
        'unsigned int bx, unsigned int by, unsigned int bz, unsigned int sharedBytes, void *stream, ' +
        'void **params, void **extra)',
      'int cuGetErrorName(int error, _Out_ const char **name)',
      'int cuGetErrorString(int error, _Out_ const char **text)',
    ];
    for (const s of sigs) {
      const name = /\s(\w+)\(/.exec(s)![1]!;
      this.f[name] = lib.func(s);
    }
  }

  /** Open the driver library and cuInit it; CUDA_UNAVAILABLE with every path tried otherwise. */
  static async open(env: NodeJS.ProcessEnv = process.env): Promise<CudaDriver> {
    const koffi = await loadKoffi();
    const paths = driverCandidates(env);
    const r = openFirst(koffi, paths);
    if ('errors' in r) {
      throw unavailable('the CUDA driver library (libcuda) was not found', r.errors.length > 0 ? r.errors : paths);
    }
    let d: CudaDriver;
    try {
      d = new CudaDriver(r.path, r.lib);
    } catch (e) {
      throw unavailable(`${r.path} lacks a CUDA driver API function: ${firstLine((e as Error).message)}`, [r.path]);
    }
    const rc = d.call('cuInit', 0) as number;
    if (rc !== 0) {
      throw unavailable(`cuInit failed with ${d.errorName(rc)} (${d.errorText(rc)}): no usable NVIDIA GPU or driver`, [r.path]);
    }
    return d;
  }

  private call(name: string, ...args: unknown[]): unknown {
    return this.f[name]!(...args);
  }

  /** Call a CUresult-returning function and throw CUDA_ERROR unless it returned 0. */
  private check(name: string, ...args: unknown[]): void {
    const rc = this.call(name, ...args) as number;
    if (rc !== 0) throw this.error(name, rc);
  }

  error(fn: string, rc: number): RwkvError {
    const e = new RwkvError('CUDA_ERROR', `${fn} failed: ${this.errorName(rc)} (${rc}): ${this.errorText(rc)}`);
    (e as RwkvError & { cudaResult?: number }).cudaResult = rc;
    return e;
  }

  errorName(rc: number): string {
    const out: unknown[] = [null];
    return this.call('cuGetErrorName', rc, out) === 0 && typeof out[0] === 'string' ? out[0] : `CUresult ${rc}`;
  }
  errorText(rc: number): string {
    const out: unknown[] = [null];
    return this.call('cuGetErrorString', rc, out) === 0 && typeof out[0] === 'string' ? out[0] : 'unknown error';
  }

  driverVersion(): number {
    const v = [0];
    this.check('cuDriverGetVersion', v);
    return v[0]!;
  }
  deviceCount(): number {
    const n = [0];
    this.check('cuDeviceGetCount', n);
    return n[0]!;
  }
  device(ordinal: number): number {
    const d = [0];
    this.check('cuDeviceGet', d, ordinal);
    return d[0]!;
  }
  deviceName(dev: number): string {
    const buf = new Uint8Array(256);
    this.check('cuDeviceGetName', buf, buf.length, dev);
    const end = buf.indexOf(0);
    return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
  }
  attribute(dev: number, attrib: number): number {
    const v = [0];
    this.check('cuDeviceGetAttribute', v, attrib, dev);
    return v[0]!;
  }
  totalMemory(dev: number): number {
    const v: unknown[] = [0];
    this.check('cuDeviceTotalMem_v2', v, dev);
    return Number(v[0]);
  }
  /** The device's primary context, made current on this thread. */
  retainPrimaryContext(dev: number): Handle {
    const ctx: unknown[] = [null];
    this.check('cuDevicePrimaryCtxRetain', ctx, dev);
    this.check('cuCtxSetCurrent', ctx[0]);
    return ctx[0];
  }
  releasePrimaryContext(dev: number): void {
    this.check('cuDevicePrimaryCtxRelease_v2', dev);
  }
  synchronize(): void {
    this.check('cuCtxSynchronize');
  }
  /** Load a PTX (or cubin) image; returns the CUresult instead of throwing, for the fallbacks. */
  tryLoadModule(image: Uint8Array): { module: Handle } | { rc: number } {
    const m: unknown[] = [null];
    const rc = this.call('cuModuleLoadData', m, image) as number;
    return rc === 0 ? { module: m[0] } : { rc };
  }
  unloadModule(module: Handle): void {
    this.check('cuModuleUnload', module);
  }
  getFunction(module: Handle, name: string): Handle {
    const fn: unknown[] = [null];
    this.check('cuModuleGetFunction', fn, module, name);
    return fn[0];
  }
  alloc(bytes: number): bigint {
    const p: unknown[] = [0];
    this.check('cuMemAlloc_v2', p, Math.max(bytes, 1));
    return devicePtr(p[0]);
  }
  free(ptr: bigint): void {
    this.check('cuMemFree_v2', ptr);
  }
  /** Host → device; `src` is a typed array (its bytes from its offset). */
  htod(dst: bigint, src: ArrayBufferView, bytes = src.byteLength): void {
    if (bytes > 0) this.check('cuMemcpyHtoD_v2', dst, src, bytes);
  }
  /** Device → host, after all work enqueued before it (legacy default stream). */
  dtoh(dst: ArrayBufferView, src: bigint, bytes = dst.byteLength): void {
    if (bytes > 0) this.check('cuMemcpyDtoH_v2', dst, src, bytes);
  }
  dtod(dst: bigint, src: bigint, bytes: number): void {
    if (bytes > 0) this.check('cuMemcpyDtoD_v2', dst, src, bytes);
  }
  memsetZero(dst: bigint, bytes: number): void {
    if (bytes > 0) this.check('cuMemsetD8_v2', dst, 0, bytes);
  }
  /**
   * Enqueue a kernel on the legacy default stream (ordered with the memcpys above).
   * Each argument becomes a typed array holding its value; koffi passes their addresses.
   */
  launch(
    fn: Handle,
    grid: readonly [number, number, number],
    block: readonly [number, number, number],
    sharedBytes: number,
    args: readonly KernelArg[],
  ): void {
    const params = args.map((a) =>
      typeof a === 'bigint' ? new BigUint64Array([a]) : 'i32' in a ? new Int32Array([a.i32]) : new Float32Array([a.f32]),
    );
    this.check('cuLaunchKernel', fn, grid[0], grid[1], grid[2], block[0], block[1], block[2], sharedBytes, null, params, null);
  }
}

// ---------------------------------------------------------------------------------------------
// NVRTC: compile the kernel source to PTX for one architecture.
// ---------------------------------------------------------------------------------------------

export class Nvrtc {
  private readonly f: Record<string, (...args: unknown[]) => unknown> = {};
  readonly version: string;

  private constructor(
    readonly path: string,
    lib: KoffiLib,
  ) {
    const sigs = [
      'int nvrtcVersion(_Out_ int *major, _Out_ int *minor)',
      'int nvrtcCreateProgram(_Out_ void **prog, const char *src, const char *name, int numHeaders, ' +
        'const char **headers, const char **includeNames)',
      'int nvrtcCompileProgram(void *prog, int numOptions, const char **options)',
      'int nvrtcGetPTXSize(void *prog, _Out_ size_t *size)',
      'int nvrtcGetPTX(void *prog, void *ptx)',
      'int nvrtcGetProgramLogSize(void *prog, _Out_ size_t *size)',
      'int nvrtcGetProgramLog(void *prog, void *log)',
      'int nvrtcDestroyProgram(_Inout_ void **prog)',
      'const char *nvrtcGetErrorString(int result)',
    ];
    for (const s of sigs) {
      const name = /\s\*?(\w+)\(/.exec(s)![1]!;
      this.f[name] = lib.func(s);
    }
    const major = [0];
    const minor = [0];
    this.f['nvrtcVersion']!(major, minor);
    this.version = `${major[0]}.${minor[0]}`;
  }

  /** Open NVRTC; CUDA_UNAVAILABLE listing the paths tried when none loads. */
  static async open(env: NodeJS.ProcessEnv = process.env): Promise<Nvrtc> {
    const koffi = await loadKoffi();
    const paths = nvrtcCandidates(env);
    const r = openFirst(koffi, paths);
    if ('errors' in r) {
      throw unavailable(
        'NVRTC (libnvrtc) was not found',
        r.errors.length > 0 ? r.errors : paths,
        'NVRTC ships with the CUDA toolkit (and the nvidia-cuda-nvrtc pip wheels); set RWKV_CUDA_NVRTC_DIR to its folder, ' +
          'or build the embedded PTX with `npm run build:ptx`',
      );
    }
    try {
      return new Nvrtc(r.path, r.lib);
    } catch (e) {
      throw unavailable(`${r.path} is not a usable NVRTC: ${firstLine((e as Error).message)}`, [r.path]);
    }
  }

  private errorText(rc: number): string {
    const s = this.f['nvrtcGetErrorString']!(rc);
    return typeof s === 'string' ? s : `nvrtcResult ${rc}`;
  }

  /** Compile `source` to PTX; CUDA_ERROR with the compile log on failure. */
  compile(source: string, name: string, options: readonly string[]): string {
    const prog: unknown[] = [null];
    let rc = this.f['nvrtcCreateProgram']!(prog, source, name, 0, null, null) as number;
    if (rc !== 0) throw new RwkvError('CUDA_ERROR', `nvrtcCreateProgram failed: ${this.errorText(rc)}`, { file: name });
    try {
      rc = this.f['nvrtcCompileProgram']!(prog[0], options.length, [...options]) as number;
      if (rc !== 0) {
        throw new RwkvError(
          'CUDA_ERROR',
          `NVRTC ${this.version} could not compile the kernels: ${this.errorText(rc)}\n${this.log(prog[0])}`,
          {
            file: name,
            actual: options.join(' '),
          },
        );
      }
      const size: unknown[] = [0];
      this.f['nvrtcGetPTXSize']!(prog[0], size);
      const buf = new Uint8Array(Number(size[0]));
      rc = this.f['nvrtcGetPTX']!(prog[0], buf) as number;
      if (rc !== 0) throw new RwkvError('CUDA_ERROR', `nvrtcGetPTX failed: ${this.errorText(rc)}`, { file: name });
      const end = buf.indexOf(0);
      return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
    } finally {
      this.f['nvrtcDestroyProgram']!(prog);
    }
  }

  private log(prog: unknown): string {
    const size: unknown[] = [0];
    if (this.f['nvrtcGetProgramLogSize']!(prog, size) !== 0) return '';
    const buf = new Uint8Array(Math.max(1, Number(size[0])));
    this.f['nvrtcGetProgramLog']!(prog, buf);
    const end = buf.indexOf(0);
    return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
  }
}
