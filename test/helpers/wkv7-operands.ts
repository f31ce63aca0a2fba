// The in-context learning operands of RWKV-7's WKV as the model passes them (model.py L492-516):
// a = −κ̂ and b = κ̂·iclr, κ̂ = κ normalised to unit length per head, iclr ∈ (0, 1), so the state
// stays bounded. Tests and benchmarks of the wkv7 kernels build their inputs with it.

/** a = −κ̂, b = κ̂·iclr for κ, iclr [T·C] and head size N (a zero head of κ stays zero). */
export function wkv7AB(kappa: ArrayLike<number>, iclr: ArrayLike<number>, N: number): { a: Float32Array; b: Float32Array } {
  const n = kappa.length;
  const a = new Float32Array(n);
  const b = new Float32Array(n);
  for (let g = 0; g < n; g += N) {
    let ss = 0;
    for (let i = 0; i < N; i++) ss += kappa[g + i]! ** 2;
    const norm = Math.sqrt(ss) || 1;
    for (let i = 0; i < N; i++) {
      const kh = kappa[g + i]! / norm;
      a[g + i] = -kh;
      b[g + i] = kh * iclr[g + i]!;
    }
  }
  return { a, b };
}
