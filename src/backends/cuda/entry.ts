// The cuda backend's entry in the backend registry (../registry.ts). It is imported on first use
// (koffi and the CUDA driver are opened by its create); the browser build gets index.browser.ts,
// which refuses with CUDA_UNAVAILABLE. 'auto' never picks it: the backend has been checked
// against an emulated driver (docs/cuda.md), so a GPU is used only when asked for.

import type { BackendEntry } from '../backend-entry.ts';

export const cudaEntry = {
  name: 'cuda',
  summary: 'NVIDIA GPU through the CUDA driver (needs koffi and a GPU; docs/cuda.md); never picked by auto',
  ordinal: true,
  async create(options) {
    const { CudaBackend } = await import('./index.ts');
    return CudaBackend.create(options.device !== undefined ? { device: options.device } : {});
  },
} as const satisfies BackendEntry;
