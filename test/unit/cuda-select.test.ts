// Selecting the optional CUDA backend by name or strategy: without a GPU (CI, this machine) it is
// one typed CUDA_UNAVAILABLE error that says what is missing, and 'auto' still works.
import { describe, expect, it } from 'vitest';
import { RwkvError, RwkvModel } from '../../src/index.ts';
import { BACKEND_NAMES, createBackend, selectBackend } from '../../src/backends/select.ts';
import { cudaAvailable } from '../../src/backends/cuda/index.ts';
import { fixturePath } from '../helpers/fixtures.ts';

const file = fixturePath('tiny-rwkv/tiny-rwkv-7v0-834K-FP32.bin');
const avail = await cudaAvailable();

describe('cuda backend selection', () => {
  it('is a known backend name; the synchronous path refuses it with a pointer to the async one', () => {
    expect(BACKEND_NAMES).toContain('cuda');
    expect(() => selectBackend('cuda')).toThrow(/asynchronously/);
  });

  it.skipIf(avail.ok)('without a GPU: createBackend("cuda") throws CUDA_UNAVAILABLE naming the driver library', async () => {
    const e = await createBackend('cuda').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RwkvError);
    expect((e as RwkvError).code).toBe('CUDA_UNAVAILABLE');
    expect((e as RwkvError).message).toMatch(/libcuda|koffi/);
  });

  it.skipIf(avail.ok || file === undefined)('without a GPU: a cuda strategy fails typed, "auto" runs on a CPU backend', async () => {
    const e = await RwkvModel.load(file!, { strategy: 'cuda fp16 *6 -> wasm fp32' }).catch((x: unknown) => x);
    expect((e as RwkvError).code).toBe('CUDA_UNAVAILABLE');
    const m = await RwkvModel.load(file!, { strategy: 'auto' });
    expect(['wasm', 'ts']).toContain(m.layerBackends[0]!.caps.name);
    await m.dispose();
  });
});
