// Loading the kernel module: base64 → WebAssembly.Module, the relaxed-SIMD build where the
// runtime validates it (WebAssembly.validate), else the portable SIMD build. Memory is always
// imported and shared, so the same weights are visible to every worker instance.

import { RwkvError } from '../../errors.ts';
import { PORTABLE_WASM_BASE64, RELAXED_WASM_BASE64 } from './binary.generated.ts';

export type WasmVariant = 'portable' | 'relaxed';

function fromBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const compiled = new Map<WasmVariant, WebAssembly.Module>();

/** Whether this runtime can run the `variant` build (relaxed SIMD is off in Node 20). */
export function wasmVariantSupported(variant: WasmVariant): boolean {
  if (typeof WebAssembly === 'undefined') return false;
  return WebAssembly.validate(fromBase64(variant === 'relaxed' ? RELAXED_WASM_BASE64 : PORTABLE_WASM_BASE64));
}

/** The compiled kernel module (cached per variant). */
export function kernelModule(variant: WasmVariant = 'portable'): WebAssembly.Module {
  let m = compiled.get(variant);
  if (m === undefined) {
    if (!wasmVariantSupported(variant)) {
      throw new RwkvError('BACKEND_UNAVAILABLE', `this runtime cannot run the ${variant} WASM SIMD kernels`, {
        expected: variant === 'relaxed' ? 'WebAssembly relaxed SIMD (Node ≥ 22, Deno, Bun)' : 'WebAssembly SIMD + threads',
      });
    }
    m = new WebAssembly.Module(fromBase64(variant === 'relaxed' ? RELAXED_WASM_BASE64 : PORTABLE_WASM_BASE64));
    compiled.set(variant, m);
  }
  return m;
}

/** A shared memory of `initialPages` 64 KiB pages that can grow to the wasm32 limit (4 GiB). */
export function createSharedMemory(initialPages = 1): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: initialPages, maximum: 65536, shared: true });
}

/** Instantiate the kernels on `memory` (synchronous: the module is small). */
export function instantiateKernels(memory: WebAssembly.Memory, variant: WasmVariant = 'portable'): WebAssembly.Exports {
  return new WebAssembly.Instance(kernelModule(variant), { env: { memory } }).exports;
}
