// A seedable random number generator that gives the same numbers on Node, Deno, Bun and browsers:
// PCG32 (O'Neill 2014, "PCG-XSH-RR 64/32", the generator of pcg-c-basic's pcg32_random_r), with
// its 64-bit state kept as two unsigned 32-bit halves. Every step is exact integer arithmetic
// (Math.imul and 16-bit partial products), so no engine's floating point can change a draw.
//
//   step:    state ← state · MULT + inc                                 (mod 2^64)
//   output:  xorshifted = (((state >> 18) ^ state) >> 27) mod 2^32;  rot = state >> 59
//            out = rotr32(xorshifted, rot)                               (from the state before the step)
//   seeding (pcg32_srandom_r): state = 0; inc = 2·stream + 1; step; state += seed; step
//
// Published check: seed 42, stream 54 gives 0xa15c02b7 0x7b47f409 0xba1d3330 0x83d2f293 ...
// (pcg-c-basic's pcg32-demo; pinned in test/unit/sampler.test.ts). Unseeded generators take their
// seed and stream from crypto.getRandomValues. It is also the one seeded generator of the tests
// (test/helpers/random-model.ts) and the benchmarks (bench/common.ts, src/bench/bench.ts).

import { RwkvError } from '../errors.ts';

/** Where sampling gets its randomness: uniform 32-bit integers and uniform doubles in [0, 1). */
export interface Rng {
  /** A uniform unsigned 32-bit integer. */
  nextUint32(): number;
  /** A uniform double in [0, 1) with 53 random bits. */
  nextFloat(): number;
}

// MULT = 6364136223846793005 = 0x5851f42d_4c957f2d (Knuth's MMIX multiplier, as in pcg-c)
const MULT_HI = 0x5851f42d;
const MULT_LO = 0x4c957f2d;
const TWO_32 = 2 ** 32;
/** 2^-53: one unit in the last place of a double in [0.5, 1). */
const TWO_M53 = 2 ** -53;

/** High 32 bits of the 64-bit product of two unsigned 32-bit integers, exactly (16-bit limbs). */
function mulHi32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p00 = a0 * b0; // each partial product < 2^32: exact in a double
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const p11 = a1 * b1;
  // carry out of the low 32 bits: (p00 >> 16) + low halves of the cross terms, shifted down 16
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (p11 + Math.floor(p01 / 0x10000) + Math.floor(p10 / 0x10000) + (mid >>> 16)) >>> 0;
}

export class Pcg32 implements Rng {
  private hi = 0; // state bits 63..32
  private lo = 0; // state bits 31..0
  private readonly incHi: number;
  private readonly incLo: number;

  /**
   * `seed` and `stream`: non-negative integers below 2^53 (or bigints below 2^64); different streams
   * give independent sequences for the same seed.
   */
  constructor(seed: number | bigint, stream: number | bigint = 0) {
    const [sHi, sLo] = split64(seed, 'seed');
    const [qHi, qLo] = split64(stream, 'stream');
    // inc = 2·stream + 1 (mod 2^64): shift the 64-bit stream left by one, set bit 0
    this.incHi = ((qHi << 1) | (qLo >>> 31)) >>> 0;
    this.incLo = ((qLo << 1) | 1) >>> 0;
    this.step();
    this.add(sHi, sLo);
    this.step();
  }

  /** A generator seeded from the platform's cryptographic random source. */
  static fromCrypto(): Pcg32 {
    const words = new Uint32Array(4);
    globalThis.crypto.getRandomValues(words);
    const big = (h: number, l: number) => (BigInt(h) << 32n) | BigInt(l);
    return new Pcg32(big(words[0]!, words[1]!), big(words[2]!, words[3]!));
  }

  nextUint32(): number {
    const hi = this.hi;
    const lo = this.lo;
    this.step();
    // xorshifted = ((old >> 18) ^ old) >> 27, low 32 bits; (old >> 18) as (hi:lo) >> 18
    const shHi = hi >>> 18;
    const shLo = ((lo >>> 18) | (hi << 14)) >>> 0;
    const xHi = (shHi ^ hi) >>> 0;
    const xLo = (shLo ^ lo) >>> 0;
    const xorshifted = ((xLo >>> 27) | (xHi << 5)) >>> 0;
    const rot = hi >>> 27; // old >> 59
    return ((xorshifted >>> rot) | (xorshifted << ((32 - rot) & 31))) >>> 0;
  }

  nextFloat(): number {
    // 27 + 26 bits, as the usual 53-bit construction: (a·2^26 + b) / 2^53
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) * TWO_M53;
  }

  /** state ← state · MULT + inc (mod 2^64) */
  private step(): void {
    const lo = this.lo;
    const hi = this.hi;
    const prodLo = Math.imul(lo, MULT_LO) >>> 0;
    const prodHi = (mulHi32(lo, MULT_LO) + Math.imul(lo, MULT_HI) + Math.imul(hi, MULT_LO)) >>> 0;
    this.hi = prodHi;
    this.lo = prodLo;
    this.add(this.incHi, this.incLo);
  }

  private add(hi: number, lo: number): void {
    const sumLo = this.lo + lo; // < 2^33: exact
    this.lo = sumLo >>> 0;
    this.hi = (this.hi + hi + (sumLo >= TWO_32 ? 1 : 0)) >>> 0;
  }
}

/** A number or bigint in [0, 2^64) as [high 32 bits, low 32 bits]. */
function split64(x: number | bigint, name: string): [number, number] {
  if (typeof x === 'bigint') {
    if (x < 0n || x >= 1n << 64n) throw badSeed(name, String(x));
    return [Number(x >> 32n), Number(x & 0xffffffffn)];
  }
  if (!Number.isSafeInteger(x) || x < 0) throw badSeed(name, String(x));
  return [Math.floor(x / TWO_32), x % TWO_32];
}

function badSeed(name: string, actual: string): RwkvError {
  return new RwkvError('INVALID_ARGUMENT', `the random ${name} must be a non-negative integer`, {
    argument: name,
    expected: 'an integer in [0, 2^53) (or a bigint below 2^64)',
    actual,
  });
}

/** A seeded generator (the same numbers everywhere), or a crypto-seeded one when seed is undefined. */
export function createRng(seed?: number | bigint): Rng {
  return seed === undefined ? Pcg32.fromCrypto() : new Pcg32(seed);
}
