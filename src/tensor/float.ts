// fp16 / bf16 → fp32 conversion (Node 20 has no Float16Array, so it is done by hand).

const f32Bits = new Uint32Array(1);
const f32View = new Float32Array(f32Bits.buffer);

/** IEEE 754 half (binary16) bits → float value. Exact: every half is a float32. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero / subnormal
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** bfloat16 bits are the top half of a float32. */
export function bf16ToFloat(b: number): number {
  f32Bits[0] = (b & 0xffff) << 16;
  return f32View[0]!;
}

/** float → nearest bfloat16 bits (round to nearest even), as torch rounds. */
export function floatToBf16(x: number): number {
  f32View[0] = x;
  const u = f32Bits[0]!;
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return 0x7fc0; // NaN
  const rounded = u + 0x7fff + ((u >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/** float → nearest half bits (round to nearest even). */
export function floatToHalf(x: number): number {
  f32View[0] = x;
  const u = f32Bits[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** Decode `count` little-endian values of `dtype` starting at `bytes[offset]` into float32. */
export function decodeToF32(bytes: Uint8Array, offset: number, count: number, dtype: 'F32' | 'F16' | 'BF16'): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * (dtype === 'F32' ? 4 : 2));
  if (dtype === 'F32') {
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  } else if (dtype === 'F16') {
    for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
  } else {
    for (let i = 0; i < count; i++) out[i] = bf16ToFloat(view.getUint16(i * 2, true));
  }
  return out;
}
