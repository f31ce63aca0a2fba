// Every WASM matrix kernel (assembly/kernels/matmul/) ≡ its scalar TS twin (src/backends/ts/
// kernels.ts: matmul, matmul16, matmulI8, matmulI8x16) on random odd sizes: W stored as f32, bf16, f16, int8;
// T = 1 (decode path) and T ≥ 2 (blocked prefill path); portable and, where the runtime runs it,
// relaxed build; a random row range [row0, row1) (what one thread computes): rows outside it and
// bytes past every buffer stay untouched. Also the int8 scheme itself (src/backends/quant-i8.ts)
// against its defining error bound, and bf16 round-to-nearest-even on hand-picked ties.
//
// Tolerance: the kernels accumulate in f32 (four lanes, relaxed: maybe fused), the twins in f64,
// so an output may differ by a few f32 roundings of its terms:
//   |wasm − twin| ≤ WASM_MATMUL_RTOL · Σ_k |x_k·w_k|  (+ the same for int8's epilogue terms).

import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as K from '../../src/backends/ts/kernels.ts';
import { dequantizeI8, i8Bytes, quantizeI8 } from '../../src/backends/quant-i8.ts';
import { type WasmVariant, kernelModule, wasmVariantSupported } from '../../src/backends/wasm/module.ts';
import { i8PrepBytes } from '../../src/backends/wasm/wasm-backend.ts';
import { type MatmulKernel, type MatrixKernels, matrixKernels } from '../../src/backends/wasm/abi-ops.ts';
import { floatToHalf, halfToFloat } from '../../src/tensor/float.ts';
import { uniform } from '../helpers/random-model.ts';
import { INT8_ROW_SUM_DIGITS, WASM_MATMUL_RTOL } from '../helpers/tolerance.ts';
import { WasmArena } from '../helpers/wasm-memory.ts';

/** Every build: portable / relaxed SIMD, on shared memory and on plain memory (browser pages that are not cross-origin isolated). */
interface Build {
  name: string;
  variant: WasmVariant;
  shared: boolean;
}
const VARIANTS: Build[] = (['portable', 'relaxed'] as const)
  .flatMap((variant) => [true, false].map((shared) => ({ name: `${variant}${shared ? '' : ' plain-memory'}`, variant, shared })))
  .filter((b) => wasmVariantSupported(b.variant, b.shared));
if (!VARIANTS.some((b) => b.variant === 'relaxed'))
  console.warn('wasm-matmul: relaxed SIMD is not available in this runtime; testing the portable builds only');

const SENTINEL = -12345.5;

/** Seeded uniform numbers in [−1, 1). */
function rand(seed: number): () => number {
  const r = uniform(seed);
  return () => r(-1, 1);
}

const shape = fc.record({
  T: fc.integer({ min: 1, max: 6 }),
  K: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constantFrom(15, 16, 17, 31, 32, 33, 47, 64, 71, 127, 1043)),
  O: fc.integer({ min: 1, max: 13 }),
  cut: fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
  seed: fc.integer(),
});

type Storage = 'f32' | 'bf16' | 'f16' | 'i8';
const STORAGES: Storage[] = ['f32', 'bf16', 'f16', 'i8'];

/** Run one wasm matmul on rows [r0, r1) and return out (with the sentinel elsewhere). */
/** One memory and instance per variant (instantiating per case is slow on Bun), reset per case. */
const instances = new Map<Build, { arena: WasmArena; k: MatrixKernels }>();
function instance(build: Build) {
  let i = instances.get(build);
  if (i === undefined) {
    const arena = new WasmArena(4, build.shared);
    const k = matrixKernels(new WebAssembly.Instance(kernelModule(build.variant, build.shared), { env: { memory: arena.memory } }).exports);
    i = { arena, k };
    instances.set(build, i);
  }
  i.arena.reset();
  return i;
}

function runWasm(
  variant: Build,
  storage: Storage,
  x: Float32Array,
  W: Float32Array,
  T: number,
  Kd: number,
  O: number,
  r0: number,
  r1: number,
) {
  const { arena, k } = instance(variant);
  const px = arena.put(x, 'x');
  let pw: number;
  let fn: MatmulKernel;
  if (storage === 'f32') {
    pw = arena.put(W, 'W');
    fn = k.matmulF32;
  } else if (storage === 'bf16' || storage === 'f16') {
    const bits = storage === 'bf16' ? K.encodeBf16(W) : Uint16Array.from(W, floatToHalf);
    pw = arena.alloc(Math.ceil(bits.length / 2), 'W16');
    new Uint16Array(arena.memory.buffer, pw, bits.length).set(bits);
    fn = storage === 'bf16' ? k.matmulBf16 : k.matmulF16;
  } else {
    const q = quantizeI8(W, O, Kd);
    pw = arena.alloc(Math.ceil(i8Bytes(O, Kd) / 4), 'W8');
    const f = new Float32Array(arena.memory.buffer, pw, 2 * O + 2 * Kd);
    f.set(q.mx, 0);
    f.set(q.rx, O);
    f.set(q.my, 2 * O);
    f.set(q.ry, 2 * O + Kd);
    new Uint8Array(arena.memory.buffer, pw + 8 * (O + Kd), O * Kd).set(q.q);
    fn = k.matmulI8;
  }
  const pout = arena.put(new Float32Array(T * O).fill(SENTINEL), 'out');
  const scratch = arena.alloc(4 * Kd, 'scratch');
  let xin = px;
  if (storage === 'i8') {
    xin = arena.alloc(Math.ceil(i8PrepBytes(T, Kd) / 4), 'sums+x16');
    k.matmulI8Prep(xin, px, pw, T, Kd, O);
  }
  fn(pout, xin, pw, T, Kd, O, r0, r1, scratch);
  expect(arena.checkGuards(), 'bytes written past a buffer').toEqual([]);
  return arena.get(pout, T * O);
}

/** The twin's output and Σ|terms| per output. */
function twin(storage: Storage, x: Float32Array, W: Float32Array, T: number, Kd: number, O: number) {
  const out = new Float32Array(T * O);
  const mag = new Float64Array(T * O);
  let Wv: Float32Array;
  if (storage === 'f32') {
    K.matmul(out, x, W, T, Kd, O);
    Wv = W;
  } else if (storage === 'bf16' || storage === 'f16') {
    const bits = storage === 'bf16' ? K.encodeBf16(W) : Uint16Array.from(W, floatToHalf);
    K.matmul16(out, x, bits, T, Kd, O, storage);
    Wv = K.decode16(bits, storage);
  } else {
    const q = quantizeI8(W, O, Kd);
    // decode and prefill both run on int16-quantised xr (matmulI8x16)
    K.matmulI8x16(out, x, q, T, Kd, O);
    // the factored form's terms: |rx|·Σ|x·ry|·(q + 0.5) + Σ|x·my| + |mx|·Σ|x|
    for (let t = 0; t < T; t++) {
      for (let o = 0; o < O; o++) {
        let s = 0;
        let xm = 0;
        let xs = 0;
        for (let k = 0; k < Kd; k++) {
          const xk = Math.abs(x[t * Kd + k]!);
          s += xk * Math.abs(q.ry[k]!) * (q.q[o * Kd + k]! + 0.5);
          xm += xk * Math.abs(q.my[k]!);
          xs += xk;
        }
        mag[t * O + o] = Math.abs(q.rx[o]!) * s + xm + Math.abs(q.mx[o]!) * xs;
      }
    }
    return { out, mag };
  }
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < O; o++) {
      let s = 0;
      for (let k = 0; k < Kd; k++) s += Math.abs(x[t * Kd + k]! * Wv[o * Kd + k]!);
      mag[t * O + o] = s;
    }
  }
  return { out, mag };
}

describe('wasm matmul kernels ≡ TS twins', () => {
  for (const variant of VARIANTS) {
    for (const storage of STORAGES) {
      test.prop([shape], { numRuns: 60 })(`${variant.name} ${storage}: random T, K, O and row range`, ({ T, K: Kd, O, cut, seed }) => {
        const r = rand(seed);
        const x = Float32Array.from({ length: T * Kd }, r);
        const W = Float32Array.from({ length: O * Kd }, () => r() * 2);
        const a = Math.floor(cut[0] * (O + 1));
        const b = Math.floor(cut[1] * (O + 1));
        const [r0, r1] = [Math.min(a, b), Math.max(a, b)];
        const got = runWasm(variant, storage, x, W, T, Kd, O, r0, r1);
        const want = twin(storage, x, W, T, Kd, O);
        for (let t = 0; t < T; t++) {
          for (let o = 0; o < O; o++) {
            const i = t * O + o;
            if (o < r0 || o >= r1) {
              expect(got[i], `out[${t}, ${o}] outside rows [${r0}, ${r1}) must stay untouched`).toBe(SENTINEL);
              continue;
            }
            const tol = WASM_MATMUL_RTOL * want.mag[i]! + 1e-30;
            if (!(Math.abs(got[i]! - want.out[i]!) <= tol)) {
              expect.fail(`${variant.name} ${storage} T${T} K${Kd} O${O} out[${t}, ${o}] = ${got[i]}, twin ${want.out[i]} (tol ${tol})`);
            }
          }
        }
      });
    }
  }

  it('prefill in token blocks: K so wide that the kernels split T = 5 into blocks of 2, 2, 1', () => {
    const r = rand(9);
    const [T, Kd, O] = [5, 16387, 6];
    const x = Float32Array.from({ length: T * Kd }, r);
    const W = Float32Array.from({ length: O * Kd }, r);
    for (const variant of VARIANTS) {
      for (const storage of STORAGES) {
        const want = twin(storage, x, W, T, Kd, O);
        const got = runWasm(variant, storage, x, W, T, Kd, O, 1, O);
        for (let i = 0; i < T * O; i++) {
          if (i % O === 0) expect(got[i]).toBe(SENTINEL);
          else
            expect(Math.abs(got[i]! - want.out[i]!), `${variant.name} ${storage} out[${i}]`).toBeLessThanOrEqual(
              WASM_MATMUL_RTOL * want.mag[i]!,
            );
        }
      }
    }
  });

  it('int8 decode and prefill: the integer sums move to f32 before they overflow i32 (q = 255, x16 = 32767, K 4099)', () => {
    // row 1 is 1 except W[1, 0] = 0, row 0 is 0: row 1 quantises to q = 255 (k ≥ 1), every
    // xr = x·ry is equal, so every x16 = 32767; 256 steps of 2·255·32767 per i32 lane > 2^31
    const [Kd, O] = [4099, 3];
    const W = new Float32Array(O * Kd);
    for (let o = 1; o < O; o++) W.fill(1, o * Kd + 1, (o + 1) * Kd);
    const q = quantizeI8(W, O, Kd);
    expect(
      q.q.subarray(Kd + 1, 2 * Kd).every((v) => v === 255),
      'row 1 quantises to 255',
    ).toBe(true);
    // T = 1 (decode), 2 (two rows × two tokens), 5 (four tokens in pairs, then one)
    const exact = dequantizeI8(q)
      .subarray(Kd, 2 * Kd)
      .reduce((a, b) => a + b, 0);
    for (const T of [1, 2, 5]) {
      const x = new Float32Array(T * Kd).fill(1);
      for (const variant of VARIANTS) {
        const got = runWasm(variant, 'i8', x, W, T, Kd, O, 0, O);
        const want = twin('i8', x, W, T, Kd, O);
        for (let i = 0; i < T * O; i++)
          expect(Math.abs(got[i]! - want.out[i]!), `${variant.name} T${T} out[${i}]`).toBeLessThanOrEqual(WASM_MATMUL_RTOL * want.mag[i]!);
        // and the plain value: Σ_k of row 1's dequantised weights, for every token
        for (let t = 0; t < T; t++) expect(got[t * O + 1]).toBeCloseTo(exact, INT8_ROW_SUM_DIGITS);
      }
    }
  });

  it('the decode (T = 1) and prefill (T ≥ 2) paths agree on 768-wide rows (SIMD body, not tails)', () => {
    const r = rand(7);
    const Kd = 768;
    const O = 9;
    const x = Float32Array.from({ length: 3 * Kd }, r);
    const W = Float32Array.from({ length: O * Kd }, r);
    for (const storage of STORAGES) {
      const want = twin(storage, x, W, 3, Kd, O);
      const got3 = runWasm(VARIANTS[0]!, storage, x, W, 3, Kd, O, 0, O);
      const got1 = runWasm(VARIANTS[0]!, storage, x.subarray(0, Kd), W, 1, Kd, O, 0, O);
      for (let o = 0; o < O; o++) {
        expect(Math.abs(got3[o]! - want.out[o]!)).toBeLessThanOrEqual(WASM_MATMUL_RTOL * want.mag[o]!);
        expect(Math.abs(got1[o]! - want.out[o]!)).toBeLessThanOrEqual(WASM_MATMUL_RTOL * want.mag[o]!);
      }
    }
  });

  test.prop([shape], { numRuns: 40 })(
    'int8: every token of a prefill (T ≥ 2) equals its own decode (T = 1) bit for bit',
    ({ T, K: Kd, O, seed }) => {
      const r = rand(seed);
      const Tn = T + 1; // ≥ 2: the prefill path, odd and even token counts
      const x = Float32Array.from({ length: Tn * Kd }, r);
      const W = Float32Array.from({ length: O * Kd }, r);
      for (const variant of VARIANTS) {
        const all = runWasm(variant, 'i8', x, W, Tn, Kd, O, 0, O);
        for (let t = 0; t < Tn; t++) {
          const one = runWasm(variant, 'i8', x.slice(t * Kd, (t + 1) * Kd), W, 1, Kd, O, 0, O);
          expect(Array.from(all.subarray(t * O, (t + 1) * O)), `${variant.name} T${Tn} K${Kd} O${O} token ${t}`).toEqual(
            Array.from(one.subarray(0, O)),
          );
        }
      }
    },
  );
});

describe('int8 scheme (model.py L818-847, L91-97) and its TS twin', () => {
  test.prop([fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }), fc.integer()])(
    'dequantised weights are within half a quantisation step of the originals',
    (O, Kd, seed) => {
      const r = rand(seed);
      const W = Float32Array.from({ length: O * Kd }, () => r() * 3);
      const q = quantizeI8(W, O, Kd);
      const d = dequantizeI8(q);
      for (let o = 0; o < O; o++) {
        for (let k = 0; k < Kd; k++) {
          // step = rx·ry·16·16/256 = rx·ry (stored /16 each); floor + 0.5 centres each step
          const step = q.rx[o]! * q.ry[k]!;
          const err = Math.abs(d[o * Kd + k]! - W[o * Kd + k]!);
          expect(err).toBeLessThanOrEqual(0.5 * step + 1e-6 * (1 + Math.abs(W[o * Kd + k]!)));
        }
      }
    },
  );

  test.prop([fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }), fc.integer()])(
    'matmulI8 (factored) = x · dequantised Wᵀ',
    (T, Kd, O, seed) => {
      const r = rand(seed);
      const W = Float32Array.from({ length: O * Kd }, r);
      const x = Float32Array.from({ length: T * Kd }, r);
      const q = quantizeI8(W, O, Kd);
      const got = new Float32Array(T * O);
      K.matmulI8(got, x, q, T, Kd, O);
      const want = new Float32Array(T * O);
      K.matmul(want, x, dequantizeI8(q), T, Kd, O);
      for (let i = 0; i < T * O; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(want[i]!)) * Kd);
    },
  );

  test.prop([fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 8 }), fc.integer()])(
    'matmulI8x16 (int16 xr) is within rx·(s/2)·Σ_k q of matmulI8, s = max|xr|/32767',
    (Kd, O, seed) => {
      const r = rand(seed);
      const W = Float32Array.from({ length: O * Kd }, r);
      const x = Float32Array.from({ length: Kd }, () => r() * 4);
      const q = quantizeI8(W, O, Kd);
      const got = new Float32Array(O);
      const want = new Float32Array(O);
      K.matmulI8x16(got, x, q, 1, Kd, O);
      K.matmulI8(want, x, q, 1, Kd, O);
      let m = 0;
      for (let k = 0; k < Kd; k++) m = Math.max(m, Math.abs(x[k]! * q.ry[k]!));
      for (let o = 0; o < O; o++) {
        let qs = 0;
        for (let k = 0; k < Kd; k++) qs += q.q[o * Kd + k]!;
        const bound = Math.abs(q.rx[o]!) * (m / 32767 / 2) * qs * 1.001 + 1e-6 * (1 + Math.abs(want[o]!));
        expect(Math.abs(got[o]! - want[o]!)).toBeLessThanOrEqual(bound);
      }
    },
  );

  it('a constant matrix quantises without NaN', () => {
    const q = quantizeI8(new Float32Array(6).fill(0.25), 2, 3);
    expect(Array.from(dequantizeI8(q)).every(Number.isFinite)).toBe(true);
  });
});

describe('bf16 / f16 encoding', () => {
  it('bf16 rounds to nearest, ties to even', () => {
    const bits = (v: number) => K.encodeBf16(Float32Array.of(v))[0]!;
    expect(bits(1)).toBe(0x3f80);
    expect(bits(1 + 2 ** -8)).toBe(0x3f80); // tie, 0x3f80 is even
    expect(bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie between 0x3f81 and 0x3f82 → even
    expect(bits(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81); // above the tie
    expect(bits(-(1 + 2 ** -7 + 2 ** -9))).toBe(0xbf81); // below the tie
    expect(bits(Infinity)).toBe(0x7f80);
    expect(bits(3.4e38)).toBe(0x7f80); // rounds up past the largest bf16
    expect(bits(NaN) & 0x7fc0).toBe(0x7fc0); // stays a (quiet) NaN
  });
  it('finite f16 halves decode in the wasm kernel as in the TS table (scalar tail and SIMD body)', () => {
    // zero, −0, subnormals, the smallest normal, 1, the largest finite, negatives
    const special = [0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x3c00, 0xbc00, 0x3555, 0x7bff, 0xfbff];
    const { arena, k } = instance(VARIANTS[0]!);
    const n = special.length;
    const want = special.map((h) => Math.fround(halfToFloat(h)) + 0); // a sum starts at +0: −0 comes out +0
    // W [n, 1] · x [1, 1] = 1: the scalar tail
    const pw = arena.alloc(Math.ceil(n / 2), 'W16');
    new Uint16Array(arena.memory.buffer, pw, n).set(special);
    const px = arena.put(Float32Array.of(1), 'x');
    const pout = arena.alloc(n, 'out');
    const scratch = arena.alloc(4, 'scratch');
    k.matmulF16(pout, px, pw, 1, 1, n, 0, n, scratch);
    expect(Array.from(arena.get(pout, n))).toEqual(want);
    // W [n, 8] with the half in lane j, x = e_j: the SIMD body's even and odd lanes, and T = 2
    for (let j = 0; j < 8; j++) {
      const wide = new Uint16Array(8 * n);
      special.forEach((h, i) => (wide[8 * i + j] = h));
      const pw8 = arena.alloc(4 * n, 'W16x8');
      new Uint16Array(arena.memory.buffer, pw8, 8 * n).set(wide);
      const e = new Float32Array(16);
      e[j] = 1;
      e[8 + j] = 1;
      const px8 = arena.put(e, 'x8');
      for (const T of [1, 2]) {
        const pout8 = arena.alloc(T * n, 'out8');
        const scratch8 = arena.alloc(32, 'scratch8');
        k.matmulF16(pout8, px8, pw8, T, 8, n, 0, n, scratch8);
        expect(Array.from(arena.get(pout8, T * n)), `lane ${j}, T ${T}`).toEqual(T === 1 ? want : [...want, ...want]);
      }
    }
  });
});
