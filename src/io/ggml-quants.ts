// ggml's block quantizations (the formats GGUF and rwkv.cpp `.bin` files store quantized weights
// in). Every format cuts a row into blocks of 32 weights; each block holds an fp16 scale `d`
// (and for the `_1` formats an fp16 offset `m`) plus the packed integers:
//
//   Q8_0  34 B: d, 32 × int8 q                         w = d·q
//   Q4_0  18 B: d, 16 B of nibbles                      w = d·(q − 8),   q ∈ [0, 15]
//   Q4_1  20 B: d, m, 16 B of nibbles                   w = d·q + m,     q ∈ [0, 15]
//   Q5_0  22 B: d, 4 B of 5th bits, 16 B of nibbles     w = d·(q − 16),  q ∈ [0, 31]
//   Q5_1  24 B: d, m, 4 B of 5th bits, 16 B of nibbles  w = d·q + m,     q ∈ [0, 31]
//
// Nibble layout (all 4/5-bit formats): byte j (0..15) holds weight j in its low nibble and weight
// j + 16 in its high nibble. The 5th bits are one little-endian uint32 `qh`: bit j is the 5th
// bit of weight j (0..31).
//
// `quantize` follows ggml's reference quantizers (ggml-quants.c, `quantize_row_*_ref`) step by
// step in float32 arithmetic (Math.fround at each C float operation), so its blocks are the bytes
// ggml itself would write for the same input.

import { RwkvError } from '../errors.ts';
import { floatToHalf, halfToFloat } from '../tensor/float.ts';

export type GgmlQuantType = 'Q8_0' | 'Q4_0' | 'Q4_1' | 'Q5_0' | 'Q5_1';

/** Weights per block, in every format here. */
export const QK = 32;

const BLOCK_BYTES: Readonly<Record<GgmlQuantType, number>> = {
  Q8_0: 2 + 32,
  Q4_0: 2 + 16,
  Q4_1: 2 + 2 + 16,
  Q5_0: 2 + 4 + 16,
  Q5_1: 2 + 2 + 4 + 16,
};

export const GGML_QUANT_TYPES: readonly GgmlQuantType[] = ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1'];

export function isGgmlQuantType(t: string): t is GgmlQuantType {
  return Object.hasOwn(BLOCK_BYTES, t);
}

/** Bytes in one block of 32 weights. */
export function blockBytes(type: GgmlQuantType): number {
  const n = BLOCK_BYTES[type];
  if (n === undefined) throw new RwkvError('UNSUPPORTED_DTYPE', `unknown ggml block type ${String(type)}`);
  return n;
}

/** Bytes that `count` weights take in `type` (count must be a multiple of 32). */
export function quantizedBytes(type: GgmlQuantType, count: number): number {
  checkCount(type, count);
  return (count / QK) * blockBytes(type);
}

function checkCount(type: GgmlQuantType, count: number): void {
  if (!Number.isSafeInteger(count) || count < 0 || count % QK !== 0) {
    throw new RwkvError('SHAPE_MISMATCH', `${type} holds whole blocks of ${QK} weights`, {
      expected: `a multiple of ${QK}`,
      actual: `${count} weights`,
    });
  }
}

/**
 * Decode `count` weights (a multiple of 32) from the blocks at the start of `bytes` into float32.
 * Each value is computed as ggml computes it: float32 products of the fp16 scale and the integer.
 */
export function dequantize(type: GgmlQuantType, bytes: Uint8Array, count: number): Float32Array {
  const bb = blockBytes(type);
  checkCount(type, count);
  const nb = count / QK;
  if (bytes.length < nb * bb) {
    throw new RwkvError('FILE_FORMAT', `too few bytes for ${count} ${type} weights`, {
      expected: `${nb * bb} bytes (${nb} blocks of ${bb})`,
      actual: `${bytes.length} bytes`,
    });
  }
  const out = new Float32Array(count);
  const f = Math.fround;
  const h = (o: number) => halfToFloat(bytes[o]! | (bytes[o + 1]! << 8));
  const u32 = (o: number) => (bytes[o]! | (bytes[o + 1]! << 8) | (bytes[o + 2]! << 16) | (bytes[o + 3]! << 24)) >>> 0;
  for (let b = 0; b < nb; b++) {
    const o = b * bb;
    const y = b * QK;
    switch (type) {
      case 'Q8_0': {
        const d = h(o);
        for (let j = 0; j < 32; j++) out[y + j] = d * ((bytes[o + 2 + j]! << 24) >> 24);
        break;
      }
      case 'Q4_0': {
        const d = h(o);
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 2 + j]!;
          out[y + j] = d * ((q & 0x0f) - 8);
          out[y + j + 16] = d * ((q >> 4) - 8);
        }
        break;
      }
      case 'Q4_1': {
        const d = h(o);
        const m = h(o + 2);
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 4 + j]!;
          out[y + j] = f(d * (q & 0x0f)) + m;
          out[y + j + 16] = f(d * (q >> 4)) + m;
        }
        break;
      }
      case 'Q5_0': {
        const d = h(o);
        const qh = u32(o + 2);
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 6 + j]!;
          const hi0 = ((qh >>> j) & 1) << 4;
          const hi1 = ((qh >>> (j + 16)) & 1) << 4;
          out[y + j] = d * (((q & 0x0f) | hi0) - 16);
          out[y + j + 16] = d * (((q >> 4) | hi1) - 16);
        }
        break;
      }
      case 'Q5_1': {
        const d = h(o);
        const m = h(o + 2);
        const qh = u32(o + 4);
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 8 + j]!;
          const hi0 = ((qh >>> j) & 1) << 4;
          const hi1 = ((qh >>> (j + 16)) & 1) << 4;
          out[y + j] = f(d * ((q & 0x0f) | hi0)) + m;
          out[y + j + 16] = f(d * ((q >> 4) | hi1)) + m;
        }
        break;
      }
    }
  }
  return out;
}

/** C's roundf: halves away from zero. */
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** C's (int) cast of a float: toward zero. */
const trunc = Math.trunc;

/**
 * Quantize `values` (length a multiple of 32) into blocks of `type`, as ggml's reference
 * quantizers do. Non-finite inputs give a non-finite scale, as in ggml; callers check first.
 */
export function quantize(type: GgmlQuantType, values: ArrayLike<number>): Uint8Array {
  const bb = blockBytes(type);
  checkCount(type, values.length);
  const nb = values.length / QK;
  const out = new Uint8Array(nb * bb);
  const f = Math.fround;
  const x = new Float32Array(QK);
  const setHalf = (o: number, v: number) => {
    const hv = floatToHalf(v);
    out[o] = hv & 0xff;
    out[o + 1] = hv >> 8;
  };
  const setU32 = (o: number, v: number) => {
    out[o] = v & 0xff;
    out[o + 1] = (v >>> 8) & 0xff;
    out[o + 2] = (v >>> 16) & 0xff;
    out[o + 3] = (v >>> 24) & 0xff;
  };
  for (let b = 0; b < nb; b++) {
    for (let j = 0; j < QK; j++) x[j] = values[b * QK + j]!;
    const o = b * bb;
    switch (type) {
      case 'Q8_0': {
        let amax = 0;
        for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[j]!));
        const d = f(amax / 127);
        const id = d !== 0 ? f(1 / d) : 0;
        setHalf(o, d);
        for (let j = 0; j < QK; j++) out[o + 2 + j] = roundf(f(x[j]! * id)) & 0xff;
        break;
      }
      case 'Q4_0':
      case 'Q5_0': {
        // the value of largest magnitude, sign kept (the first one on ties)
        let amax = 0;
        let max = 0;
        for (let j = 0; j < QK; j++) {
          const v = x[j]!;
          if (amax < Math.abs(v)) {
            amax = Math.abs(v);
            max = v;
          }
        }
        const five = type === 'Q5_0';
        const d = f(max / (five ? -16 : -8));
        const id = d !== 0 ? f(1 / d) : 0;
        setHalf(o, d);
        const top = five ? 31 : 15;
        const bias = five ? 16.5 : 8.5;
        const qs = o + (five ? 6 : 2);
        let qh = 0;
        for (let j = 0; j < 16; j++) {
          const q0 = Math.min(top, int8(trunc(f(f(x[j]! * id) + bias))));
          const q1 = Math.min(top, int8(trunc(f(f(x[j + 16]! * id) + bias))));
          out[qs + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
          if (five) qh |= (((q0 & 0x10) >> 4) << j) | (((q1 & 0x10) >> 4) << (j + 16));
        }
        if (five) setU32(o + 2, qh >>> 0);
        break;
      }
      case 'Q4_1':
      case 'Q5_1': {
        let min = Infinity;
        let max = -Infinity;
        for (let j = 0; j < QK; j++) {
          const v = x[j]!;
          if (v < min) min = v;
          if (v > max) max = v;
        }
        const five = type === 'Q5_1';
        const d = f((max - min) / (five ? 31 : 15));
        const id = d !== 0 ? f(1 / d) : 0;
        setHalf(o, d);
        setHalf(o + 2, min);
        const qs = o + (five ? 8 : 4);
        let qh = 0;
        for (let j = 0; j < 16; j++) {
          const x0 = f(f(x[j]! - min) * id);
          const x1 = f(f(x[j + 16]! - min) * id);
          let q0: number;
          let q1: number;
          if (five) {
            q0 = uint8(trunc(f(x0 + 0.5)));
            q1 = uint8(trunc(f(x1 + 0.5)));
          } else {
            q0 = Math.min(15, int8(trunc(f(x0 + 0.5))));
            q1 = Math.min(15, int8(trunc(f(x1 + 0.5))));
          }
          out[qs + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
          if (five) qh |= (((q0 & 0x10) >> 4) << j) | (((q1 & 0x10) >> 4) << (j + 16));
        }
        if (five) setU32(o + 4, qh >>> 0);
        break;
      }
    }
  }
  return out;
}

/** A C conversion to int8_t of an in-range integer (wraps like the two's-complement cast). */
function int8(v: number): number {
  return (v << 24) >> 24;
}

function uint8(v: number): number {
  return v & 0xff;
}
