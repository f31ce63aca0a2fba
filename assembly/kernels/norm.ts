// Normalisations (Backend.layerNorm, Backend.l2NormalizeGroups), f32x4 with a scalar tail.
// Twins: layerNorm, l2NormalizeGroups in src/backends/ts/kernels.ts (those accumulate in f64;
// these in f32 with 4–8 partial sums, see the tolerance note in test/property/wasm-ops.prop.test.ts).
// Pointers are byte offsets into the shared memory; sizes count f32 elements.

import { groupSquares, groupTotal, hsum, madd } from './simd';

/**
 * Backend.layerNorm. Per group of G channels of each of the `rows` rows of C channels (C a
 * multiple of G; G = C is LayerNorm, G = N is GroupNorm):
 *   μ = Σx/G,  σ² = Σ(x − μ)²/G,  out = (x − μ)/√(σ² + eps) · weight + bias
 * out, x [rows, C]; weight, bias [C]. out may be x.
 *
 * In f32 by the corrected two-pass method: μ₁ = Σx/G (rounded), d = x − μ₁ (exact when x is
 * within a factor 2 of μ₁, Sterbenz), c = Σd/G (the part of μ that μ₁ lost), then
 *   μ = μ₁ + c,  σ² = (Σd² − c·Σd)/G,  x − μ = d − c.
 * A plain f32 μ would be off by ½ ulp(μ), which is a large error in x − μ for a group whose
 * values sit close together far from 0 (seen: 4e-4 relative for two values near 4 against the
 * f64 twin). The correction costs one add per element.
 */
export function layerNorm(out: usize, x: usize, weight: usize, bias: usize, rows: i32, C: i32, G: i32, eps: f32): void {
  if (G <= 0) return; // (the caller validates shapes; this only keeps a bad call from looping forever)
  for (let r = 0; r < rows; r++) {
    const row = <usize>r * <usize>C << 2;
    for (let c0 = 0; c0 < C; c0 += G) {
      const g = row + (<usize>c0 << 2);
      const xg = x + g;
      const og = out + g;
      const wg = weight + (<usize>c0 << 2);
      const bg = bias + (<usize>c0 << 2);
      const mu1 = groupTotal(xg, G) / <f32>G;
      const mu1v = f32x4.splat(mu1);
      // Σd and Σd², d = x − μ₁
      let sd = f32x4.splat(0);
      let sdd = f32x4.splat(0);
      let sd1 = f32x4.splat(0);
      let sdd1 = f32x4.splat(0);
      let i = 0;
      for (; i + 8 <= G; i += 8) {
        const p = xg + (<usize>i << 2);
        const d = f32x4.sub(v128.load(p), mu1v);
        const d1 = f32x4.sub(v128.load(p, 16), mu1v);
        sd = f32x4.add(sd, d);
        sdd = madd(d, d, sdd);
        sd1 = f32x4.add(sd1, d1);
        sdd1 = madd(d1, d1, sdd1);
      }
      for (; i + 4 <= G; i += 4) {
        const d = f32x4.sub(v128.load(xg + (<usize>i << 2)), mu1v);
        sd = f32x4.add(sd, d);
        sdd = madd(d, d, sdd);
      }
      let sumD = hsum(f32x4.add(sd, sd1));
      let sumDD = hsum(f32x4.add(sdd, sdd1));
      for (; i < G; i++) {
        const d = load<f32>(xg + (<usize>i << 2)) - mu1;
        sumD += d;
        sumDD += d * d;
      }
      const c = sumD / <f32>G;
      const variance = Mathf.max((sumDD - c * sumD) / <f32>G, 0);
      const inv: f32 = 1.0 / Mathf.sqrt(variance + eps);
      const cv = f32x4.splat(c);
      const invv = f32x4.splat(inv);
      for (i = 0; i + 4 <= G; i += 4) {
        const o = <usize>i << 2;
        const n = f32x4.mul(f32x4.sub(f32x4.sub(v128.load(xg + o), mu1v), cv), invv);
        v128.store(og + o, madd(n, v128.load(wg + o), v128.load(bg + o)));
      }
      for (; i < G; i++) {
        const o = <usize>i << 2;
        store<f32>(og + o, (load<f32>(xg + o) - mu1 - c) * inv * load<f32>(wg + o) + load<f32>(bg + o));
      }
    }
  }
}

/**
 * Backend.l2NormalizeGroups. Per group of G consecutive values of x (n values, n a multiple of G):
 *   out = x / max(‖x‖₂, eps)
 * out may be x.
 */
export function l2NormalizeGroups(out: usize, x: usize, n: i32, G: i32, eps: f32): void {
  if (G <= 0) return;
  for (let g = 0; g < n; g += G) {
    const xg = x + (<usize>g << 2);
    const og = out + (<usize>g << 2);
    const inv: f32 = 1.0 / Mathf.max(Mathf.sqrt(groupSquares(xg, G, 0)), eps);
    const invv = f32x4.splat(inv);
    let i = 0;
    for (; i + 4 <= G; i += 4) {
      const o = <usize>i << 2;
      v128.store(og + o, f32x4.mul(v128.load(xg + o), invv));
    }
    for (; i < G; i++) {
      const o = <usize>i << 2;
      store<f32>(og + o, load<f32>(xg + o) * inv);
    }
  }
}
