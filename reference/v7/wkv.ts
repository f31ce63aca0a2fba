// RWKV-7 WKV: the state update and readout of one head, the heart of the "Goose" time mix.
//
// Mirrors: the official CUDA kernel `cuda/rwkv7.cu` (one thread per value channel i, loop over
// key channels j), which `RWKV_x070_TMix_one/_seq` in rwkv/model.py compute in matrix form as
//   state = state * w.view(H,1,N) + state @ ab + vk ;  y = state @ r
// and RWKV-LM `RWKV-v7/rwkv_v7_numpy.py: time_mixing` (`S = S * w.mT - S @ kk * (kk*a).mT + v * k.mT`).
//
// Dimensions:  T tokens · C = H·N channels · H heads · N head size.
// State of one head: S[i][j], i = value channel (row), j = key channel (column), the layout of
// the official kernel and of the pip package's v7 state list (transpose of v5/v6's).
//
// The DPLR ("diagonal plus low rank") transition, with the pair named as every kernel names it:
//   S ← S·diag(w) + (S·a)·bᵀ + v·kᵀ        a = −κ̂ ,  b = κ̂ ∘ iclr
//   y = S·r
// `(S·a)` is taken from the OLD state, before this step's decay and rank-one updates.

/**
 * One token, one head: update S in place and return y = S·r.
 *
 * @param S  [N][N] state of the head, S[i][j] (i value, j key); updated in place
 * @param r  [N] receptance
 * @param w  [N] decay multiplier in (0, 1), per key channel j (already exponentiated)
 * @param k  [N] key (after the k_a replacement)
 * @param v  [N] value (after the value residual)
 * @param a  [N] DPLR "a" = −κ̂ (the normalised key, negated)
 * @param b  [N] DPLR "b" = κ̂ ∘ iclr (the normalised key times the in-context learning rate)
 * @returns  [N] y
 */
export function wkvStep(
  S: Float64Array[],
  r: Float64Array,
  w: Float64Array,
  k: Float64Array,
  v: Float64Array,
  a: Float64Array,
  b: Float64Array,
): Float64Array {
  const N = r.length;
  const y = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const Si = S[i]!;
    // sa = (S·a)_i = Σ_j S_ij a_j   (old state)
    let sa = 0;
    for (let j = 0; j < N; j++) sa += Si[j]! * a[j]!;
    let yi = 0;
    for (let j = 0; j < N; j++) {
      // S_ij ← S_ij·w_j + sa·b_j + v_i·k_j
      Si[j] = Si[j]! * w[j]! + sa * b[j]! + v[i]! * k[j]!;
      // y_i = Σ_j S_ij r_j   (new state)
      yi += Si[j]! * r[j]!;
    }
    y[i] = yi;
  }
  return y;
}

/**
 * T tokens, all H heads: the recurrence of the sequence path, a fold of `wkvStep` over t.
 * Inputs are rows [T][C] with C = H·N, head h owning channels h·N … h·N+N−1.
 *
 * @param S  [H][N][N] state, updated in place
 * @returns  [T][C] y
 */
export function wkvSequence(
  S: Float64Array[][],
  r: Float64Array[],
  w: Float64Array[],
  k: Float64Array[],
  v: Float64Array[],
  a: Float64Array[],
  b: Float64Array[],
): Float64Array[] {
  const H = S.length;
  const T = r.length;
  const y: Float64Array[] = [];
  for (let t = 0; t < T; t++) {
    const C = r[t]!.length;
    const N = C / H;
    const yt = new Float64Array(C);
    for (let h = 0; h < H; h++) {
      // the channels of head h in row t
      const head = (x: Float64Array[]) => x[t]!.subarray(h * N, (h + 1) * N);
      yt.set(wkvStep(S[h]!, head(r), head(w), head(k), head(v), head(a), head(b)), h * N);
    }
    y.push(yt);
  }
  return y;
}
