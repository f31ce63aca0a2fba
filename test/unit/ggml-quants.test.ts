// ggml block quantizations: the bit layout of each block (hand-built blocks with known values),
// ggml's reference rounding rules (hand-computed blocks), round trips within half a step, and
// byte-for-byte agreement with rwkv.cpp's own quantizer on the fixture models.

import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RwkvError } from '../../src/errors.ts';
import { floatToHalf, halfToFloat } from '../../src/tensor/float.ts';
import { GGML_QUANT_TYPES, type GgmlQuantType, blockBytes, dequantize, quantize, quantizedBytes } from '../../src/io/ggml-quants.ts';
import { fixturePath } from '../helpers/fixtures.ts';

const h16 = (x: number) => [floatToHalf(x) & 0xff, floatToHalf(x) >> 8];
const u32le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('block sizes', () => {
  it('match ggml (block_q8_0 34 B, q4_0 18, q4_1 20, q5_0 22, q5_1 24)', () => {
    expect(GGML_QUANT_TYPES.map(blockBytes)).toEqual([34, 18, 20, 22, 24]);
    expect(quantizedBytes('Q4_0', 64)).toBe(36);
  });
});

describe('dequantize: hand-built blocks', () => {
  it('Q8_0: w = d·q with signed bytes', () => {
    const q = range(32).map((j) => [0, 1, -1, 127, -128, 5][j % 6]!);
    const block = Uint8Array.from([...h16(0.5), ...q.map((v) => v & 0xff)]);
    expect([...dequantize('Q8_0', block, 32)]).toEqual(q.map((v) => v * 0.5));
  });

  it('Q4_0: low nibble of byte j is weight j, high nibble weight j+16; w = d·(q−8)', () => {
    const block = Uint8Array.from([...h16(2), ...range(16).map((j) => j | ((15 - j) << 4))]);
    const want = [...range(16).map((j) => 2 * (j - 8)), ...range(16).map((j) => 2 * (15 - j - 8))];
    expect([...dequantize('Q4_0', block, 32)]).toEqual(want);
  });

  it('Q4_1: w = d·q + m', () => {
    const block = Uint8Array.from([...h16(0.25), ...h16(-1), ...range(16).map((j) => j | ((15 - j) << 4))]);
    const want = [...range(16).map((j) => 0.25 * j - 1), ...range(16).map((j) => 0.25 * (15 - j) - 1)];
    expect([...dequantize('Q4_1', block, 32)]).toEqual(want);
  });

  it('Q5_0: bit j of the little-endian qh is the 5th bit of weight j; w = d·(q−16)', () => {
    // qh = 0xffff0000: weights 16..31 have the 5th bit
    const block = Uint8Array.from([...h16(1), ...u32le(0xffff0000), ...range(16).map((j) => j | (j << 4))]);
    const want = [...range(16).map((j) => j - 16), ...range(16).map((j) => j)];
    expect([...dequantize('Q5_0', block, 32)]).toEqual(want);
  });

  it('Q5_1: d, m, qh, nibbles; w = d·q + m', () => {
    // qh = 0x0000ffff: weights 0..15 have the 5th bit; one odd bit (weight 20) too
    const qh = 0x0000ffff | (1 << 20);
    const block = Uint8Array.from([...h16(0.5), ...h16(2), ...u32le(qh), ...range(16).map((j) => (15 - j) | (j << 4))]);
    const want = [...range(16).map((j) => 0.5 * ((15 - j) | 16) + 2), ...range(16).map((j) => 0.5 * (j | (j === 4 ? 16 : 0)) + 2)];
    expect([...dequantize('Q5_1', block, 32)]).toEqual(want);
  });

  it('decodes several blocks in order', () => {
    const b1 = [...h16(1), ...range(32).map(() => 1)];
    const b2 = [...h16(-2), ...range(32).map(() => 3)];
    const out = dequantize('Q8_0', Uint8Array.from([...b1, ...b2]), 64);
    expect(out[0]).toBe(1);
    expect(out[63]).toBe(-6);
  });
});

describe('quantize: ggml reference rounding, hand-computed', () => {
  it('Q8_0: d = amax/127, q = roundf(x/d) with halves away from zero', () => {
    // amax 127 → d = 1 exactly
    const x = [127, -127, 2.5, -2.5, 0.49, 126.5, -0.5, 3.5, ...range(24).map((j) => j - 12)];
    const got = quantize('Q8_0', x);
    expect(halfToFloat(got[0]! | (got[1]! << 8))).toBe(1);
    const q = [...got.subarray(2)].map((b) => (b << 24) >> 24);
    expect(q).toEqual([127, -127, 3, -3, 0, 127, -1, 4, ...range(24).map((j) => j - 12)]);
  });

  it('Q4_0: d = (signed max)/−8, q = min(15, trunc(x/d + 8.5))', () => {
    // the value of largest magnitude is −8 → d = 1; x/d + 8.5 truncated
    const x = [-8, 7.5, 0.49, 0.5, -0.5, 7, 3.2, -3.7, ...range(24).map((j) => (j % 15) - 7)];
    const want = x.map((v) => Math.min(15, Math.trunc(v + 8.5)));
    const got = quantize('Q4_0', x);
    expect(halfToFloat(got[0]! | (got[1]! << 8))).toBe(1);
    expect([...got.subarray(2)]).toEqual(range(16).map((j) => want[j]! | (want[j + 16]! << 4)));
    // a positive extreme: d = 8/−8 = −1 flips the codes
    const y = quantize('Q4_0', [8, ...range(31).map(() => -8)]);
    expect(halfToFloat(y[0]! | (y[1]! << 8))).toBe(-1);
    expect(y[2]! & 0x0f).toBe(0); // 8·(−1) + 8.5 → 0
    expect(y[2]! >> 4).toBe(15); // −8·(−1) + 8.5 = 16.5 → clamped to 15
  });

  it('Q4_1: d = (max−min)/15, m = min, q = min(15, trunc((x−min)/d + 0.5))', () => {
    const x = [0, 15, 7.5, 7.49, ...range(28).map((j) => j % 16)];
    const got = quantize('Q4_1', x);
    expect(halfToFloat(got[0]! | (got[1]! << 8))).toBe(1);
    expect(halfToFloat(got[2]! | (got[3]! << 8))).toBe(0);
    const want = x.map((v) => Math.min(15, Math.trunc(v + 0.5)));
    expect([...got.subarray(4)]).toEqual(range(16).map((j) => want[j]! | (want[j + 16]! << 4)));
  });

  it('Q5_0: d = (signed max)/−16, 5th bits in qh', () => {
    const x = [-16, 15.5, 0.5, -0.5, 15, ...range(27).map((j) => j - 13)];
    const want = x.map((v) => Math.min(31, Math.trunc(v + 16.5)));
    const got = quantize('Q5_0', x);
    expect(halfToFloat(got[0]! | (got[1]! << 8))).toBe(1);
    const qh = (got[2]! | (got[3]! << 8) | (got[4]! << 16) | (got[5]! << 24)) >>> 0;
    let wantQh = 0;
    want.forEach((q, j) => (wantQh |= ((q >> 4) & 1) << j));
    expect(qh).toBe(wantQh >>> 0);
    expect([...got.subarray(6)]).toEqual(range(16).map((j) => (want[j]! & 15) | ((want[j + 16]! & 15) << 4)));
  });

  it('Q5_1: d = (max−min)/31, m = min, q = trunc((x−min)/d + 0.5)', () => {
    const x = [-1, 30, 14.5, 14.49, ...range(28).map((j) => j - 1)];
    const got = quantize('Q5_1', x);
    expect(halfToFloat(got[0]! | (got[1]! << 8))).toBe(1);
    expect(halfToFloat(got[2]! | (got[3]! << 8))).toBe(-1);
    const want = x.map((v) => Math.trunc(v + 1 + 0.5));
    const qh = (got[4]! | (got[5]! << 8) | (got[6]! << 16) | (got[7]! << 24)) >>> 0;
    let wantQh = 0;
    want.forEach((q, j) => (wantQh |= ((q >> 4) & 1) << j));
    expect(qh).toBe(wantQh >>> 0);
    expect([...got.subarray(8)]).toEqual(range(16).map((j) => (want[j]! & 15) | ((want[j + 16]! & 15) << 4)));
    expect([...dequantize('Q5_1', got, 32)]).toEqual(want.map((q) => q - 1));
  });

  it('an all-zero block has d = 0 and decodes to zeros', () => {
    // (Q4_0/Q5_0 store d = 0/−8 = −0, as ggml does, so the zeros may be negative zeros)
    for (const t of GGML_QUANT_TYPES) expect([...dequantize(t, quantize(t, new Float32Array(32)), 32)].every((v) => v === 0)).toBe(true);
  });
});

/**
 * Round trip bound per block. `step` is the quantization step (d); every value comes back within
 * half a step, plus the rounding of d (and m) to fp16 times the largest code. Q4_0/Q5_0 clamp
 * the code at the far end opposite the extreme (x/d = +8 → 15, not 16), so there one full step.
 */
function checkRoundTrip(type: GgmlQuantType, x: Float32Array): void {
  const y = dequantize(type, quantize(type, x), x.length);
  for (let b = 0; b < x.length / 32; b++) {
    const blk = x.subarray(b * 32, b * 32 + 32);
    let amax = 0;
    let min = Infinity;
    let max = -Infinity;
    for (const v of blk) {
      amax = Math.max(amax, Math.abs(v));
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    const [step, qmax] = {
      Q8_0: [amax / 127, 127],
      Q4_0: [amax / 8, 8],
      Q5_0: [amax / 16, 16],
      Q4_1: [(max - min) / 15, 15],
      Q5_1: [(max - min) / 31, 31],
    }[type] as [number, number];
    // fp16: relative error 2^-11 (normal), absolute 2^-25 (subnormal)
    const fp16 = (v: number) => Math.abs(v) * 2 ** -11 + 2 ** -25;
    const slack = qmax * fp16(step) + (type.endsWith('_1') ? fp16(min) : 0) + amax * 1e-6;
    for (let j = 0; j < 32; j++) {
      const v = blk[j]!;
      const err = Math.abs(y[b * 32 + j]! - v);
      const clampedEnd = (type === 'Q4_0' || type === 'Q5_0') && Math.abs(v) > (qmax - 1) * step;
      const bound = (clampedEnd ? 1 : 0.5) * step + slack;
      if (!(err <= bound)) {
        throw new Error(`${type} block ${b} [${j}]: ${v} came back as ${y[b * 32 + j]} (|err| ${err}, bound ${bound}, step ${step})`);
      }
    }
  }
}

describe('round trip within half a step', () => {
  const blocks = (scale: number) =>
    fc
      .integer({ min: 1, max: 4 })
      .chain((nb) =>
        fc.array(fc.float({ min: -1, max: 1, noNaN: true, noDefaultInfinity: true }), { minLength: nb * 32, maxLength: nb * 32 }),
      )
      .map((a) => Float32Array.from(a, (v) => v * scale));
  for (const t of GGML_QUANT_TYPES) {
    it(`${t}: random blocks at several scales`, () => {
      fc.assert(
        fc.property(fc.constantFrom(1e-3, 0.05, 1, 30, 1000).chain(blocks), (x) => checkRoundTrip(t, x)),
        { numRuns: 200 },
      );
    });
  }
  it('Q8_0 requantizes already-quantized values to the same blocks', () => {
    // (checked on the fixture files in gguf.test.ts; here: a block of codes with an exact scale)
    const x = Float32Array.from(range(32), (j) => (j - 16) * 0.125);
    const once = quantize('Q8_0', x);
    expect([...quantize('Q8_0', dequantize('Q8_0', once, 32))]).toEqual([...once]);
  });
});

describe('errors', () => {
  it('counts that are not whole blocks, and short buffers, are typed errors', () => {
    expect(() => quantize('Q4_0', new Float32Array(33))).toThrow(RwkvError);
    expect(() => dequantize('Q8_0', new Uint8Array(34), 31)).toThrow(/multiple of 32/);
    try {
      dequantize('Q5_1', new Uint8Array(47), 64);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(RwkvError);
      expect((e as RwkvError).code).toBe('FILE_FORMAT');
      expect((e as RwkvError).expected).toContain('48 bytes');
    }
  });
});

// ---- against rwkv.cpp's quantizer (the fixtures' quantized files, docs/fixtures.md) ----

/** The records of an rwkv.cpp .bin file as stored (type id, raw bytes). */
function rwkvCppRecords(bytes: Uint8Array): Map<string, { type: number; data: Uint8Array }> {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const per: Record<number, [number, number]> = { 0: [1, 4], 1: [1, 2], 2: [32, 18], 3: [32, 20], 7: [32, 22], 8: [32, 24], 9: [32, 34] };
  const out = new Map<string, { type: number; data: Uint8Array }>();
  let o = 24;
  while (o < bytes.length) {
    const nd = v.getInt32(o, true);
    const kl = v.getInt32(o + 4, true);
    const type = v.getInt32(o + 8, true);
    o += 12;
    let n = 1;
    for (let i = 0; i < nd; i++, o += 4) n *= v.getInt32(o, true);
    const key = new TextDecoder().decode(bytes.subarray(o, o + kl));
    o += kl;
    const [bs, bb] = per[type]!;
    out.set(key, { type, data: bytes.subarray(o, o + (n / bs) * bb) });
    o += (n / bs) * bb;
  }
  return out;
}

describe("byte-identical with rwkv.cpp's rwkv_quantize (ggml reference quantizers)", () => {
  const ids: Record<string, number> = { Q8_0: 9, Q5_1: 8, Q4_0: 2 };
  for (const m of ['4v0-660K', '7v0-834K']) {
    for (const q of ['Q8_0', 'Q5_1', 'Q4_0'] as const) {
      it(`tiny-rwkv-${m}-${q}.bin`, (ctx) => {
        const fp32Path = fixturePath(`tiny-rwkv/tiny-rwkv-${m}-FP32.bin`);
        const qPath = fixturePath(`tiny-rwkv/quantized/tiny-rwkv-${m}-${q}.bin`);
        if (fp32Path === undefined || qPath === undefined) return ctx.skip();
        const fp32 = rwkvCppRecords(readFileSync(fp32Path));
        const quant = rwkvCppRecords(readFileSync(qPath));
        let n = 0;
        for (const [key, r] of quant) {
          if (r.type !== ids[q]) continue;
          n++;
          const src = fp32.get(key)!;
          const x = new Float32Array(new Uint8Array(src.data).buffer);
          const mine = quantize(q, x);
          expect(Buffer.compare(Buffer.from(mine), Buffer.from(r.data)), `${key}: our ${q} blocks differ from rwkv.cpp's`).toBe(0);
          checkRoundTrip(q, x); // and rwkv.cpp's blocks decode within a step of the FP32 values
        }
        expect(n, 'quantized matrices in the file').toBeGreaterThan(20);
      });
    }
  }
});
