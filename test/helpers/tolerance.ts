// Every tolerance the tests use, named once, with the reason for its size.
// A comparison fails on any NaN/Inf mismatch and reports where and by how much.

/**
 * Logits of an fp32 implementation vs the official fp32 numbers (docs/fixtures.md "Tolerances").
 * Independent fp32 implementations agree to <= 4e-6; moving every weight by ±1 ulp moves the
 * logits by <= 5.4e-5. The project's contract is 1e-4 absolute.
 */
export const LOGITS_ORACLE_ATOL = 1e-4;

/** Final state vs the official numbers: abs diff <= 1e-3 · max(1, |ref|) (docs/fixtures.md "Tolerances"). */
export const STATE_ORACLE_ATOL = 1e-3;
export const STATE_ORACLE_RTOL = 1e-3;

/**
 * Two of our own implementations (reference in f64, src in f32, GPT vs RNN vs chunks) on random
 * small models. Their differences are f32 rounding of different summation orders, amplified by
 * up to a few layers; random models with O(1) weights give logits of O(1–10).
 */
export const SELF_ATOL = 2e-4;
export const SELF_RTOL = 2e-4;

/** Paths that must be bit-identical in src (same kernels, same order). */
export const EXACT = 0;

export interface CloseReport {
  ok: boolean;
  maxAbs: number;
  worstIndex: number;
  violations: number;
  message: string;
}

/** |a − b| <= atol + rtol·|b| for every element (b is the reference). */
export function compareClose(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0): CloseReport {
  if (actual.length !== expected.length) {
    return {
      ok: false,
      maxAbs: Infinity,
      worstIndex: -1,
      violations: -1,
      message: `${label}: length ${actual.length} != expected ${expected.length}`,
    };
  }
  let maxAbs = 0;
  let worst = -1;
  let violations = 0;
  let firstBad = -1;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const finiteA = Number.isFinite(a);
    const finiteE = Number.isFinite(e);
    let bad: boolean;
    let d: number;
    if (!finiteA || !finiteE) {
      bad = !(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)));
      d = bad ? Infinity : 0;
    } else {
      d = Math.abs(a - e);
      bad = d > atol + rtol * Math.abs(e);
    }
    if (d > maxAbs || worst < 0) {
      maxAbs = d;
      worst = i;
    }
    if (bad) {
      violations++;
      if (firstBad < 0) firstBad = i;
    }
  }
  const ok = violations === 0;
  const message = ok
    ? `${label}: ok (max abs ${maxAbs.toExponential(2)})`
    : `${label}: ${violations}/${actual.length} elements off (atol ${atol}, rtol ${rtol}); ` +
      `max abs ${maxAbs.toExponential(3)} at [${worst}] actual ${actual[worst]} expected ${expected[worst]}; ` +
      `first at [${firstBad}] actual ${actual[firstBad]} expected ${expected[firstBad]}`;
  return { ok, maxAbs, worstIndex: worst, violations, message };
}

/** Throws (a readable assertion failure) unless `actual` ≈ `expected`. */
export function expectClose(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0): number {
  const r = compareClose(label, actual, expected, atol, rtol);
  if (!r.ok) throw new Error(r.message);
  return r.maxAbs;
}

export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}
