// The CUDA backend on a fake CUDA driver (./fake-cuda): the real koffi bindings, module loading,
// NVRTC path and disk cache, memory management and every kernel of kernels.cu, with the kernels
// compiled for the CPU (each CUDA thread a fiber, barriers and warp shuffles emulated). What it
// cannot show: GPU timing, memory-model races between blocks, and PTX/driver JIT behaviour;
// scripts/cuda-check.sh covers those on a GPU. Skips when g++/gcc or koffi are missing.

import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CudaBackend, cudaAvailable } from '../../src/backends/cuda/index.ts';
import { loadKoffi } from '../../src/backends/cuda/driver.ts';
import { buildFakeCuda } from './fake-cuda/build.ts';
import { describeBackendConformance } from './suite.ts';
import { DEVICE_MODEL_WEIGHTS, DEVICE_OPS } from '../helpers/tolerance.ts';

let reason: string | undefined;
try {
  await loadKoffi();
} catch (e) {
  reason = (e as Error).message;
}
const fake = reason === undefined ? buildFakeCuda() : { reason: reason };

if ('reason' in fake) {
  console.warn(`\n!!!!!!!! SKIPPING the emulated cuda suite: ${fake.reason}\n`);
  describe.skip(`cuda backend on a fake driver (${fake.reason})`, () => {
    it('needs g++, gcc and koffi', () => {});
  });
} else {
  const { CudaBackend: Cuda } = await import('../../src/backends/cuda/index.ts');
  const env = fake.env;
  // the built libraries stay loaded (unlinking them is fine on Linux)
  afterAll(() => rmSync(fake.dir, { recursive: true, force: true }));

  describe('cuda backend on a fake driver: loading', () => {
    it('compiles with NVRTC once, then loads the cached PTX', async () => {
      const cache = env['RWKV_CUDA_CACHE_DIR']!;
      const first = await Cuda.create({ env, kernels: 'nvrtc' });
      expect(first.caps.description).toMatch(/NVRTC 12\.4 \(compute_75, compiled now\)/);
      first.dispose();
      expect(readdirSync(cache).filter((f) => /-sm75-nvrtc12\.4\.ptx$/.test(f))).toHaveLength(1);
      const second = await Cuda.create({ env, kernels: 'nvrtc' });
      expect(second.caps.description).toMatch(/NVRTC 12\.4 \(cached /);
      second.dispose();
    });

    it('names every driver path it tried when there is no driver', async () => {
      const missing = join(fake.dir, 'nowhere');
      const err = await Cuda.create({ env: { RWKV_CUDA_DRIVER_DIR: missing } }).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'RwkvError', code: 'CUDA_UNAVAILABLE' });
      expect((err as Error).message).toContain(join(missing, 'libcuda.so.1'));
      expect((err as Error).message).toContain('libcuda.so.1');
    });

    it('says why when there is neither embedded PTX nor NVRTC', async () => {
      const err = await Cuda.create({
        env: { RWKV_CUDA_DRIVER_DIR: fake.dir, RWKV_CUDA_NVRTC_DIR: join(fake.dir, 'nowhere'), RWKV_CUDA_CACHE_DIR: join(fake.dir, 'c2') },
        kernels: 'nvrtc',
      }).catch((e: unknown) => e);
      // a machine may have a real NVRTC on the default paths; then this path is not reachable
      if (err instanceof Error) {
        expect(err).toMatchObject({ code: 'CUDA_UNAVAILABLE' });
        expect(err.message).toMatch(/NVRTC \(libnvrtc\) was not found/);
      } else {
        (err as CudaBackend).dispose();
      }
    });

    it('rejects a device that does not exist', async () => {
      await expect(Cuda.create({ env, device: 3 })).rejects.toMatchObject({ code: 'CUDA_UNAVAILABLE', argument: 'device' });
      await expect(Cuda.create({ env, device: -1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });

    it('frees every allocation on dispose', async () => {
      const b = await Cuda.create({ env, kernels: 'nvrtc' });
      const koffi = (await loadKoffi()) as unknown as { load(p: string): { func(s: string): () => number } };
      const live = koffi.load(join(fake.dir, 'libcuda.so.1')).func('int fakeCudaLiveAllocations()');
      const before = live();
      const t = b.upload(new Float32Array(10), [2, 5], 'x');
      b.free(t); // pooled, not freed
      b.zeros([3], 'y');
      expect(live()).toBeGreaterThan(before);
      b.dispose();
      expect(live()).toBe(before);
      expect(() => b.zeros([1], 'z')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    });

    it('a failing driver call is a CUDA_ERROR naming the call and the driver error', async () => {
      const { CudaDriver } = await import('../../src/backends/cuda/driver.ts');
      const d = await CudaDriver.open(env);
      const p = d.alloc(256);
      expect(typeof p).toBe('bigint');
      // 1024 bytes into a 256-byte allocation: the fake driver refuses, as a real one would
      expect(() => d.htod(p, new Float32Array(256))).toThrow(/cuMemcpyHtoD_v2 failed: CUDA_ERROR_INVALID_VALUE \(1\)/);
      d.free(p);
      expect(() => d.free(p)).toThrow(expect.objectContaining({ code: 'CUDA_ERROR' }));
      expect(d.errorName(999999)).toBe('CUresult 999999');
    });

    it('cudaAvailable() reports the fake device', async () => {
      expect(await cudaAvailable(env)).toMatchObject({ ok: true });
      expect(existsSync(join(fake.dir, 'libnvrtc.so.12'))).toBe(true);
    });
  });

  describeBackendConformance({
    name: 'cuda-emulated',
    create: () => Cuda.create({ env, kernels: 'nvrtc' }),
    dispose: (b) => (b as CudaBackend).dispose(),
    opTolerance: DEVICE_OPS,
    models: {
      against: 'ts',
      weights: DEVICE_MODEL_WEIGHTS,
      greedyTokens: 4,
      randomModels: true,
      // the emulation runs a CUDA thread per fiber: fixture-sized vocabularies take minutes per
      // forward, so the random models (every version, vocab 29) stand in for them here
      fixtures: () => false,
    },
  });
}
