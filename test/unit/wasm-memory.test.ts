// The load path's memory savings change no number: weights decoded straight into WASM memory
// (HostTensor.readInto → Backend.uploadFilled, the embedding normalised in place there) give the
// same model as weights passed through host arrays, and a caller's own arrays are never written.
// (Memory over many tokens: wasm-backend.test.ts, 20 000 tokens; wasm-memory.slow.test.ts, 10⁵.)

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dequantizeI8, i8Bytes, quantizeI8 } from '../../src/backends/quant-i8.ts';
import { decode16, encodeBf16 } from '../../src/backends/ts/kernels.ts';
import { WasmBackend } from '../../src/backends/wasm/wasm-backend.ts';
import { parseShape, randomRwkv7Checkpoint } from '../../src/bench/bench.ts';
import { type Checkpoint, lazyTensor } from '../../src/tensor/tensor.ts';
import { RwkvModel } from '../../src/model/model.ts';
import { type OpenedStrategy, closeStrategy, openStrategy, parseStrategy } from '../../src/strategy.ts';

const SHAPE = parseShape('2,64,300');
const TOKENS = [5, 17, 299, 0, 42];

/** The same tensors without readInto: a loader must read them into host arrays. */
function withoutReadInto(ck: Checkpoint): Checkpoint {
  return new Map([...ck].map(([k, t]) => [k, lazyTensor(t.shape, t.storedAs, () => t.read!())]));
}
/** The same tensors as plain host arrays (a caller's data: never to be written). */
function eager(ck: Checkpoint): Checkpoint {
  return new Map([...ck].map(([k, t]) => [k, { shape: t.shape, data: t.read!(), storedAs: t.storedAs }]));
}

async function logits(ck: Checkpoint, strategy: OpenedStrategy): Promise<Float32Array[]> {
  const model = RwkvModel.fromCheckpoint(ck, { strategy });
  try {
    const { logits: all, state } = await model.forward(TOKENS, undefined, { allLogits: true });
    state.dispose?.();
    return all as Float32Array[];
  } finally {
    model.dispose();
  }
}

describe('wasm load path: straight into WASM memory', () => {
  const STRATEGIES = ['wasm fp32', 'wasm bf16', 'wasm fp32i8'] as const;
  const opened = new Map<string, OpenedStrategy>();
  beforeAll(async () => {
    for (const s of STRATEGIES) opened.set(s, await openStrategy(parseStrategy(s), SHAPE.nLayer, { threads: 1 }));
  });
  afterAll(async () => {
    for (const o of opened.values()) await closeStrategy(o);
  });

  it('the random bench checkpoint offers readInto, and it fills exactly what read() returns', () => {
    const ck = randomRwkv7Checkpoint(SHAPE, 3);
    const t = ck.get('blocks.1.ffn.key.weight')!;
    expect(t.readInto).toBeTypeOf('function');
    const dst = new Float32Array(t.shape[0]! * t.shape[1]!);
    t.readInto!(dst);
    expect(dst).toEqual(t.read!());
    expect(() => t.readInto!(new Float32Array(3))).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
  });

  for (const s of STRATEGIES) {
    it(`${s}: decoding into WASM memory gives the logits of the host-array path, bit for bit`, async () => {
      const ck = randomRwkv7Checkpoint(SHAPE, 3);
      const direct = await logits(ck, opened.get(s)!);
      const viaHost = await logits(withoutReadInto(ck), opened.get(s)!);
      expect(direct).toEqual(viaHost);
    });
  }

  it("a caller's own arrays are left as they were (the embedding is normalised in a copy)", async () => {
    const ck = eager(randomRwkv7Checkpoint(SHAPE, 4));
    const emb = ck.get('emb.weight')!.data;
    const before = emb.slice();
    const fp32 = opened.get('wasm fp32')!;
    const fromHost = await logits(ck, fp32);
    expect(emb).toEqual(before);
    expect(fromHost).toEqual(await logits(randomRwkv7Checkpoint(SHAPE, 4), fp32));
  });
});

describe('wasm uploadFilled into bf16 / int8: encoded in place, cut back to the compact size', () => {
  let b: WasmBackend;
  beforeAll(async () => {
    b = await WasmBackend.create({ threads: 1 });
  });
  afterAll(() => b.dispose());

  /** values with a wide spread and some exact zeros, [O, K] */
  const matrix = (O: number, K: number, seed: number): Float32Array =>
    Float32Array.from({ length: O * K }, (_, i) => (i % 7 === 0 ? 0 : Math.sin(i * 12.9898 + seed) * 10 ** ((i % 5) - 2)));

  for (const [O, K] of [
    [8, 8],
    [5, 19],
    [19, 5],
  ] as const) {
    it(`[${O}, ${K}]: bf16 and int8 hold what the host-array encoders give, and only their compact bytes`, async () => {
      const W = matrix(O, K, O + K);
      const inUse = b.memoryStats().inUse;
      const t16 = b.uploadFilled([O, K], 'W16', (dst) => dst.set(W), 'bf16');
      expect(await b.download(t16)).toEqual(decode16(encodeBf16(W), 'bf16'));
      const t8 = b.uploadFilled([O, K], 'W8', (dst) => dst.set(W), 'i8');
      expect(await b.download(t8)).toEqual(dequantizeI8(quantizeI8(W, O, K)));
      const aligned = (n: number) => Math.ceil(n / 64) * 64;
      expect(b.memoryStats().inUse - inUse).toBe(aligned(O * K * 2) + aligned(i8Bytes(O, K)));
      b.free(t16);
      b.free(t8);
      expect(b.memoryStats().inUse).toBe(inUse);
    });
  }

  it('where the arena gives the compact block another place, the bytes move there', async () => {
    // a 128-byte hole below the top: the 256-byte float32 block of 64 values goes to the top,
    // its bf16 cut (128 bytes) fits the hole exactly
    const hole = b.zeros([32], 'hole');
    const keep = b.zeros([16], 'keep');
    b.free(hole);
    const W = matrix(8, 8, 3);
    const t = b.uploadFilled([8, 8], 'W16', (dst) => dst.set(W), 'bf16');
    expect(await b.download(t)).toEqual(decode16(encodeBf16(W), 'bf16'));
    const q = b.uploadFilled([8, 8], 'W8', (dst) => dst.set(W), 'i8');
    expect(await b.download(q)).toEqual(dequantizeI8(quantizeI8(W, 8, 8)));
    b.free(t);
    b.free(q);
    b.free(keep);
  });

  it('a fill that throws leaves nothing allocated', () => {
    const inUse = b.memoryStats().inUse;
    for (const storage of ['bf16', 'i8'] as const) {
      expect(() =>
        b.uploadFilled(
          [4, 4],
          'bad',
          () => {
            throw new Error('read failed');
          },
          storage,
        ),
      ).toThrow('read failed');
    }
    expect(b.memoryStats().inUse).toBe(inUse);
  });
});
