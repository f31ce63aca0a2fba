// The wasm backend's entry in the backend registry (../registry.ts). The backend is imported on
// first use: it pulls in node:worker_threads (Web Workers in the browser build).

import type { BackendEntry } from '../backend-entry.ts';
import type { WasmBackendOptions } from './wasm-backend.ts';

export const wasmEntry = {
  name: 'wasm',
  summary: 'WebAssembly SIMD kernels, matrix products on worker threads: the fastest on CPU',
  auto: 2,
  async create(options) {
    const o: WasmBackendOptions = {};
    if (options.threads !== undefined) o.threads = options.threads;
    if (options.variant !== undefined) o.variant = options.variant;
    const { WasmBackend } = await import('./wasm-backend.ts');
    return WasmBackend.create(o);
  },
} as const satisfies BackendEntry;
