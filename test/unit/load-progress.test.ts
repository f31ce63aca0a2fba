// RwkvModel.load reports progress as weights reach the backend: non-decreasing, ending at the
// checkpoint's parameter count.
import { describe, expect, it } from 'vitest';
import { RwkvModel } from '../../src/index.ts';
import { fixturePath } from '../helpers/fixtures.ts';

const file = fixturePath('tiny-rwkv/tiny-rwkv-7v0-834K-FP32.bin');

describe.skipIf(file === undefined)('load progress', () => {
  it('is non-decreasing and ends at total = the number of parameters', async () => {
    const seen: { loaded: number; total: number; file?: string }[] = [];
    const model = await RwkvModel.load(file!, { onProgress: (p) => seen.push(p) });
    expect(seen.length).toBeGreaterThan(10);
    const total = seen[0]!.total;
    expect(total).toBe(model.config.nParams);
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!.total).toBe(total);
      expect(seen[i]!.loaded).toBeGreaterThanOrEqual(seen[i - 1]!.loaded);
    }
    expect(seen.at(-1)!.loaded).toBe(total);
    expect(seen[0]!.loaded).toBeLessThan(total);
    expect(seen[0]!.file).toBe(file);
    await model.dispose();
  });
});
