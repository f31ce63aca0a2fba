// Backend selection: an explicit name, or 'auto'. Unknown or unavailable names throw and list
// the available ones. No environment switches, no work at import time.
//
// Two entry points: `createBackend` (async) makes any backend, including 'wasm', whose worker
// threads start asynchronously; 'auto' there is wasm where it works, else ts. `selectBackend`
// (sync, used by RwkvModel.fromCheckpoint) makes only the backends that need no async start:
// its 'auto' is 'ts', and 'wasm' / 'cuda' throw a typed error pointing at the async path.
//
// 'cuda' is optional: without koffi, a driver or a GPU it throws CUDA_UNAVAILABLE saying what is
// missing. 'auto' does not pick CUDA: the CUDA backend has been checked against an emulated
// driver only (docs/cuda.md), so a GPU is used only when asked for ('cuda', or a strategy).

import { RwkvError } from '../errors.ts';
import type { Backend } from './backend.ts';
import { TsBackend } from './ts/ts-backend.ts';
import type { WasmBackendOptions } from './wasm/wasm-backend.ts';

/** The wasm backend, imported on first use (it pulls in node:worker_threads). */
async function createWasm(options: WasmBackendOptions): Promise<Backend> {
  const { WasmBackend } = await import('./wasm/wasm-backend.ts');
  return WasmBackend.create(options);
}

/** The cuda backend, imported on first use (it loads koffi and the CUDA driver lazily). */
async function createCuda(device: number | undefined): Promise<Backend> {
  const { CudaBackend } = await import('./cuda/index.ts');
  return CudaBackend.create(device !== undefined ? { device } : {});
}

export type BackendName = 'auto' | 'ts' | 'wasm' | 'cuda';

export const BACKEND_NAMES: readonly string[] = ['auto', 'ts', 'wasm', 'cuda'];

export interface CreateBackendOptions {
  /** Worker threads (wasm; default os.availableParallelism()). */
  threads?: number;
  /** Which WASM build (default 'auto': relaxed SIMD where supported and verified). */
  variant?: WasmBackendOptions['variant'];
  /** CUDA device ordinal (cuda; default 0). */
  device?: number;
}

function unknown(name: string): RwkvError {
  return new RwkvError('BACKEND_UNAVAILABLE', `unknown backend "${name}"`, {
    argument: 'backend',
    expected: `one of ${BACKEND_NAMES.join(', ')}`,
    actual: name,
  });
}

/**
 * Make a backend. 'auto' is the fastest that works here: wasm (SIMD + threads), else ts.
 * Release a wasm backend's threads with its `dispose()` (they never keep the process alive).
 */
export async function createBackend(name: string | Backend = 'auto', options: CreateBackendOptions = {}): Promise<Backend> {
  if (typeof name !== 'string') return name;
  const wasmOptions: WasmBackendOptions = {};
  if (options.threads !== undefined) wasmOptions.threads = options.threads;
  if (options.variant !== undefined) wasmOptions.variant = options.variant;
  if (name === 'ts') return new TsBackend();
  if (name === 'wasm') return createWasm(wasmOptions);
  if (name === 'cuda') return createCuda(options.device);
  if (name === 'auto') {
    try {
      return await createWasm(wasmOptions);
    } catch (e) {
      if (!(e instanceof RwkvError && e.code === 'BACKEND_UNAVAILABLE')) throw e;
      return new TsBackend();
    }
  }
  throw unknown(name);
}

/** Make a backend synchronously: 'auto' and 'ts' give the ts backend; 'wasm' needs createBackend. */
export function selectBackend(name: string | Backend = 'auto'): Backend {
  if (typeof name !== 'string') return name;
  if (name === 'auto' || name === 'ts') return new TsBackend();
  if (name === 'wasm' || name === 'cuda') {
    throw new RwkvError('BACKEND_UNAVAILABLE', `the ${name} backend starts asynchronously`, {
      argument: 'backend',
      expected: `createBackend("${name}") (async), RwkvModel.load, or a ready Backend instance`,
      actual: name,
      hint: `pass \`backend: await createBackend("${name}")\` to RwkvModel.fromCheckpoint`,
    });
  }
  throw unknown(name);
}
