// Loading the kernel module: base64 → WebAssembly.Module, the relaxed-SIMD build where the
// runtime validates it (WebAssembly.validate), else the portable SIMD build. Memory is always
// imported. It is shared (so the same weights are visible to every worker instance) wherever
// that is allowed; a browser page that is not cross-origin isolated cannot hand shared memory to
// a worker, and there the backend runs the plain-memory build on one thread.

import { RwkvError } from '../../errors.ts';
import {
  PORTABLE_UNSHARED_WASM_BASE64,
  PORTABLE_WASM_BASE64,
  RELAXED_UNSHARED_WASM_BASE64,
  RELAXED_WASM_BASE64,
} from './binary.generated.ts';

export type WasmVariant = 'portable' | 'relaxed';

const BASE64: Record<WasmVariant, Record<'shared' | 'plain', string>> = {
  portable: { shared: PORTABLE_WASM_BASE64, plain: PORTABLE_UNSHARED_WASM_BASE64 },
  relaxed: { shared: RELAXED_WASM_BASE64, plain: RELAXED_UNSHARED_WASM_BASE64 },
};

function fromBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const bytesOf = (variant: WasmVariant, shared: boolean) => fromBase64(BASE64[variant][shared ? 'shared' : 'plain']);

const compiled = new Map<string, WebAssembly.Module>();
const validated = new Map<string, boolean>();

/** The response headers that make a page cross-origin isolated (so its workers can share memory). */
export const ISOLATION_HEADERS = 'Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp';

/**
 * Whether worker threads can share a WebAssembly.Memory here: SharedArrayBuffer exists and, in a
 * browser, the page is cross-origin isolated (served with `Cross-Origin-Opener-Policy:
 * same-origin` and `Cross-Origin-Embedder-Policy: require-corp`). Node, Deno and Bun: yes.
 */
export function sharedMemoryAvailable(): boolean {
  return typeof SharedArrayBuffer === 'function' && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== false;
}

/** Whether this runtime can run the `variant` build (relaxed SIMD is off in Node 20); asked once per build. */
export function wasmVariantSupported(variant: WasmVariant, shared = true): boolean {
  if (typeof WebAssembly === 'undefined') return false;
  const key = `${variant}/${shared}`;
  let ok = validated.get(key);
  if (ok === undefined) {
    ok = WebAssembly.validate(bytesOf(variant, shared));
    validated.set(key, ok);
  }
  return ok;
}

/** The compiled kernel module (cached per variant and memory kind). */
export function kernelModule(variant: WasmVariant = 'portable', shared = true): WebAssembly.Module {
  const key = `${variant}/${shared}`;
  let m = compiled.get(key);
  if (m === undefined) {
    if (!wasmVariantSupported(variant, shared)) {
      throw new RwkvError('BACKEND_UNAVAILABLE', `this runtime cannot run the ${variant} WASM SIMD kernels`, {
        expected:
          variant === 'relaxed'
            ? 'WebAssembly relaxed SIMD (Node ≥ 22, Deno, Bun, current browsers)'
            : `WebAssembly SIMD${shared ? ' + threads' : ''}`,
      });
    }
    m = new WebAssembly.Module(bytesOf(variant, shared));
    compiled.set(key, m);
  }
  return m;
}

/** A memory of `initialPages` 64 KiB pages that can grow to the wasm32 limit (4 GiB). */
export function createMemory(shared: boolean, initialPages = 1): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: initialPages, maximum: 65536, shared });
}

/** A shared memory of `initialPages` 64 KiB pages that can grow to the wasm32 limit (4 GiB). */
export function createSharedMemory(initialPages = 1): WebAssembly.Memory {
  return createMemory(true, initialPages);
}

/** Instantiate the kernels on `memory` (synchronous: the module is small). */
export function instantiateKernels(memory: WebAssembly.Memory, variant: WasmVariant = 'portable'): WebAssembly.Exports {
  const shared = !(memory.buffer instanceof ArrayBuffer);
  return new WebAssembly.Instance(kernelModule(variant, shared), { env: { memory } }).exports;
}
