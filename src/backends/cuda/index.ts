// The optional CUDA backend (docs/cuda.md). Importing this module loads nothing: koffi, the
// driver and NVRTC are opened by `cudaAvailable()` / `CudaBackend.create()`.

import { RwkvError } from '../../errors.ts';
import { CudaDriver, Nvrtc } from './driver.ts';
import { readEmbeddedPtx, readKernelSource } from './module.ts';

export { CudaBackend, type CudaBackendOptions } from './cuda-backend.ts';
export type { KernelSource } from './module.ts';

export interface CudaAvailability {
  ok: boolean;
  /** Why not (the CUDA_UNAVAILABLE message), or what was found. */
  reason?: string;
}

let cached: Promise<CudaAvailability> | undefined;

/**
 * Whether `CudaBackend.create()` can be expected to work: koffi loads, the driver initialises,
 * there is at least one device, and kernel code exists (embedded PTX matching kernels.cu, or
 * NVRTC). Cheap (no context, no compilation), never throws, and remembered for the process
 * (for process.env).
 */
export function cudaAvailable(env: NodeJS.ProcessEnv = process.env): Promise<CudaAvailability> {
  if (env !== process.env) return probe(env); // an explicit environment (tests): not remembered
  cached ??= probe(env);
  return cached;
}

async function probe(env: NodeJS.ProcessEnv): Promise<CudaAvailability> {
  try {
    const driver = await CudaDriver.open(env);
    const n = driver.deviceCount();
    if (n === 0) return { ok: false, reason: `the CUDA driver (${driver.path}) reports no devices` };
    const emb = await readEmbeddedPtx();
    const cu = readKernelSource();
    if (emb !== undefined && (cu === undefined || cu.sha256 === emb.KERNELS_SHA256)) {
      return { ok: true, reason: `${n} device(s), embedded PTX (${emb.PTX_ARCH})` };
    }
    const nvrtc = await Nvrtc.open(env);
    return { ok: true, reason: `${n} device(s), NVRTC ${nvrtc.version} (${nvrtc.path})` };
  } catch (e) {
    return { ok: false, reason: e instanceof RwkvError || e instanceof Error ? e.message : String(e) };
  }
}
