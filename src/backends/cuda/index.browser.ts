// cuda/index.ts in the browser build: a page cannot load the CUDA driver, so the backend is
// never available there; asking for it gives CUDA_UNAVAILABLE saying why.

import { RwkvError } from '../../errors.ts';
import type * as Node from './index.ts';

export type { CudaAvailability, CudaBackendOptions, KernelSource } from './index.ts';

const WHY = 'CUDA needs the native driver, which a browser cannot load';

export const CudaBackend: Pick<typeof Node.CudaBackend, 'create'> = {
  create: () => Promise.reject(new RwkvError('CUDA_UNAVAILABLE', WHY, { hint: 'use the wasm backend' })),
};

export const cudaAvailable = (): Promise<Node.CudaAvailability> => Promise.resolve({ ok: false, reason: WHY });
