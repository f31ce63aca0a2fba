// weights: 'compact' keeps 16-bit-exact matrices in bf16/f16 and must not change any result.
import { describe, expect, it } from 'vitest';
import { RwkvModel } from '../../src/index.ts';
import { exactStorage } from '../../src/model/load.ts';
import { fixturePath } from '../helpers/fixtures.ts';

const FILES = [
  'tiny-rwkv/tiny-rwkv-5v2-730K-FP16.safetensors',
  'tiny-rwkv/tiny-rwkv-7v0-834K-FP16.bin',
  'synthetic/models/synthetic-rwkv6-L2-C128-H2-BF16.safetensors',
  'synthetic/models/synthetic-rwkv7-de-L2-C64-H1-BF16.safetensors',
];

describe("weights: 'compact'", () => {
  it('exactStorage picks the narrowest exact encoding', () => {
    expect(exactStorage(Float32Array.from([1, -2.5, 0.15625]))).toBe('bf16');
    expect(exactStorage(Float32Array.from([1, 1 + 2 ** -10]))).toBe('f16');
    expect(exactStorage(Float32Array.from([0.1]))).toBe('f32');
  });
  for (const f of FILES) {
    it(`${f.split('/').pop()}: identical logits and state, half the matrix memory`, async (ctx) => {
      const p = fixturePath(f);
      if (p === undefined) return ctx.skip();
      const full = await RwkvModel.load(p, { weights: 'f32' });
      const compact = await RwkvModel.load(p, { weights: 'compact' });
      const tokens = [34, 105, 110, 32, 116, 104, 101];
      const a = await full.forward(tokens, undefined, { allLogits: true });
      const b = await compact.forward(tokens, undefined, { allLogits: true });
      expect(b.logits).toEqual(a.logits);
      expect(await b.state.toArray()).toEqual(await a.state.toArray());
      const c = compact.weightBytes;
      expect(c.bf16 + c.f16).toBeGreaterThan(0);
      expect(c.f32 + (c.bf16 + c.f16) * 2).toBe(full.weightBytes.f32);
    });
  }
});
