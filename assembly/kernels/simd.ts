// Shared f32x4 helpers of the non-matmul kernels (norm.ts, elementwise.ts, wkv.ts): a fused
// multiply-add that is FMA in the relaxed build, a horizontal sum and a vectorised exp. Nothing
// here is exported from the module (assembly/index.ts re-exports only the kernel files).

/** a·b + c: `f32x4.relaxed_madd` in the relaxed-SIMD build (may fuse: last-bit differences), mul+add otherwise. */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** v[0] + v[1] + v[2] + v[3]. */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  // (v0 + v2, v1 + v3, …) then lane 0 + lane 1
  const s = f32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

/** Σ x[0..G) (8 partial sums, then the tail). */
// @ts-ignore: decorator
@inline export function groupTotal(x: usize, G: i32): f32 {
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= G; i += 8) {
    const p = x + (<usize>i << 2);
    s0 = f32x4.add(s0, v128.load(p));
    s1 = f32x4.add(s1, v128.load(p, 16));
  }
  for (; i + 4 <= G; i += 4) s0 = f32x4.add(s0, v128.load(x + (<usize>i << 2)));
  let s = hsum(f32x4.add(s0, s1));
  for (; i < G; i++) s += load<f32>(x + (<usize>i << 2));
  return s;
}

/** Σ (x[0..G) − m)². */
// @ts-ignore: decorator
@inline export function groupSquares(x: usize, G: i32, m: f32): f32 {
  const mv = f32x4.splat(m);
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= G; i += 8) {
    const p = x + (<usize>i << 2);
    const d0 = f32x4.sub(v128.load(p), mv);
    const d1 = f32x4.sub(v128.load(p, 16), mv);
    s0 = madd(d0, d0, s0);
    s1 = madd(d1, d1, s1);
  }
  for (; i + 4 <= G; i += 4) {
    const d = f32x4.sub(v128.load(x + (<usize>i << 2)), mv);
    s0 = madd(d, d, s0);
  }
  let s = hsum(f32x4.add(s0, s1));
  for (; i < G; i++) {
    const d = load<f32>(x + (<usize>i << 2)) - m;
    s += d * d;
  }
  return s;
}

/** The 4 lanes at p, or (lane1 = true) the one f32 at p splatted: lets one loop body serve a tail. */
// @ts-ignore: decorator
@inline export function ld(p: usize, lane1: bool): v128 {
  return lane1 ? f32x4.splat(load<f32>(p)) : v128.load(p);
}

/** Store the 4 lanes of v at p, or (lane1 = true) only lane 0. */
// @ts-ignore: decorator
@inline export function st(p: usize, v: v128, lane1: bool): void {
  if (lane1) store<f32>(p, f32x4.extract_lane(v, 0));
  else v128.store(p, v);
}

// ---- exp ----
//
// e^x = 2^n · e^r,  n = round(x·log₂e),  r = x − n·ln2 ∈ [−ln2/2, ln2/2]  (Cody–Waite: ln2 split
// into LN2_HI, which has 15 significant bits so n·LN2_HI is exact for |n| ≤ 256, and LN2_LO).
// e^r by its degree-7 Taylor polynomial (coefficients 1/k!): truncation error ≤ |r|⁸/8!·e^|r|
// ≤ 7.4e-9 relative, below half an f32 ulp (5.96e-8); Horner in f32 adds a few roundings.
// Measured against float64 Math.exp through unarySigmoid on x ∈ [−87, −17] (there σ(x) = e^x in
// f32; 1e6 points, portable build): max relative error 1.6e-7 (1.3 ulp). The unary ops built on
// it are checked to a few ulp by test/property/wasm-ops.prop.test.ts ('relative accuracy').
// 2^n is built as 2^n₁ · 2^n₂ (n₁ = n >> 1, n₂ = n − n₁), both normal floats, so results that
// overflow become +Inf and those that underflow become denormals or 0 through the multiplication,
// as in IEEE arithmetic; x is clamped to [−104, 89] first (e^−104 is below the smallest denormal,
// e^89 above FLT_MAX) so n fits. NaN stays NaN (the clamp passes it through, and so does the rest).

const LOG2E: f32 = 1.4426950408889634;
const LN2_HI: f32 = 0.693145751953125; // 0x3f317200
const LN2_LO: f32 = 1.4286067653302226e-6; // ln2 − LN2_HI
const EXP_LO: f32 = -104.0;
const EXP_HI: f32 = 89.0;
const F32_BIAS: i32 = 127;
const ROUND_MAGIC: f32 = 12582912.0; // 1.5·2²³
const ROUND_MAGIC_BITS: i32 = 0x4b400000; // its bits
const P2: f32 = 0.5; // 1/2!
const P3: f32 = 0.16666666666666666; // 1/3!
const P4: f32 = 0.041666666666666664; // 1/4!
const P5: f32 = 0.008333333333333333; // 1/5!
const P6: f32 = 0.001388888888888889; // 1/6!
const P7: f32 = 0.0001984126984126984; // 1/7!

/** e^x per lane (≈ 2 ulp, see above). */
// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  // pmin/pmax are single instructions (min/max are NaN-propagating sequences); pmin(x, HI) and
  // pmax(·, LO) return x itself when x is NaN
  x = f32x4.pmax(f32x4.pmin(x, f32x4.splat(EXP_HI)), f32x4.splat(EXP_LO));
  // n = round(x·log₂e) by adding 1.5·2²³: the sum's low mantissa bits hold n (|n| < 2²²)
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(ROUND_MAGIC));
  const nf = f32x4.sub(t, f32x4.splat(ROUND_MAGIC));
  let r = f32x4.sub(x, f32x4.mul(nf, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(nf, f32x4.splat(LN2_LO)));
  // e^r ≈ 1 + r + r²·(P2 + r·(P3 + r·(P4 + r·(P5 + r·(P6 + r·P7)))))
  let p = madd(r, f32x4.splat(P7), f32x4.splat(P6));
  p = madd(r, p, f32x4.splat(P5));
  p = madd(r, p, f32x4.splat(P4));
  p = madd(r, p, f32x4.splat(P3));
  p = madd(r, p, f32x4.splat(P2));
  p = madd(f32x4.mul(r, r), p, f32x4.add(r, f32x4.splat(1.0)));
  const n = i32x4.sub(t, i32x4.splat(ROUND_MAGIC_BITS));
  const n1 = i32x4.shr_s(n, 1);
  const n2 = i32x4.sub(n, n1);
  const bias = i32x4.splat(F32_BIAS);
  const s1 = i32x4.shl(i32x4.add(n1, bias), 23);
  const s2 = i32x4.shl(i32x4.add(n2, bias), 23);
  return f32x4.mul(f32x4.mul(p, s1), s2);
}

/** e^x of one value, by the same arithmetic as exp4 (so a scalar tail matches the SIMD lanes). */
// @ts-ignore: decorator
@inline export function exp1(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}
