// RWKV-5 WKV: a matrix-valued state per head, decayed per key channel.
// Mirrors the WKV lines of rwkv/model.py `att_one_v5` / `att_one_v5_1` (wkvStep, also the
// per-token loop of `att_seq_v5_2`: wkvSequence) and the closed form of `att_seq_v5` /
// `att_seq_v5_1` (wkvSequenceParallel, 5.0 and 5.1 only); model.py L1091-1258.
//
// Dimensions: T tokens, H heads, N head size, C = H·N channels.
// Per-channel vectors r, k, v, w, u are [C] = [H][N] flattened: channel h·N + i.
// State S[h][i][j] is [H][N][N]: head h, key channel i, value channel j (the official layout).
//
// Per head, with a = k ⊗ v (a[i][j] = k[i]·v[j]):
//   out[j] = Σ_i r[i] · (u[i]·a[i][j] + S[i][j])        i.e. out = r @ (u∘a + S)
//   S[i][j] ← a[i][j] + w[i]·S[i][j]                      i.e. S   = a + w∘S
// w (decay, in (0,1)) and u (bonus of the current token) are indexed by the key channel i.

/** The state of one layer's WKV: S[h][i][j]. */
export type WkvState = Float64Array[][]; // [H][N][N]

/**
 * One token. r, k, v [C]; w, u [C] per key channel (5.0/5.1 repeat the head's value N times).
 * Returns out [C] and updates S in place.
 */
export function wkvStep(S: WkvState, r: Float64Array, k: Float64Array, v: Float64Array, w: Float64Array, u: Float64Array): Float64Array {
  const H = S.length;
  const N = S[0]!.length;
  const out = new Float64Array(H * N);
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < N; i++) {
      const c = h * N + i; // key channel i of head h
      const Si = S[h]![i]!;
      for (let j = 0; j < N; j++) {
        // a = k_i · v_j
        const a = k[c]! * v[h * N + j]!;
        // out_j += r_i · (u_i·a + S_ij)
        out[h * N + j]! += r[c]! * (u[c]! * a + Si[j]!);
        // S_ij = a + w_i · S_ij
        Si[j]! = a + w[c]! * Si[j]!;
      }
    }
  }
  return out;
}

/** T tokens: wkvStep folded over t (the loop of `att_seq_v5_2`). r, k, v, w, u as above, [T][C]. */
export function wkvSequence(
  S: WkvState,
  r: Float64Array[],
  k: Float64Array[],
  v: Float64Array[],
  w: Float64Array,
  u: Float64Array,
): Float64Array[] {
  const out: Float64Array[] = [];
  for (let t = 0; t < r.length; t++) out.push(wkvStep(S, r[t]!, k[t]!, v[t]!, w, u));
  return out;
}

/**
 * T tokens in closed form, possible when the decay is one scalar per head (5.0, 5.1): unrolling
 * the recurrence, the contribution of token τ to the output at t ≥ τ is (r_t·k_τ)·W[t][τ]·v_τ with
 *   W[t][τ] = w^(t−τ−1) for τ < t,  u for τ = t,  0 for τ > t,
 * and the incoming state S reaches step t decayed by w^t. Per head:
 *   out = ((r kᵀ)∘W) v + (r S)∘wb        with wb[t] = w^t
 *   S  ← w^T·S + Σ_τ w^(T−1−τ) · k_τ ⊗ v_τ
 * wHead, uHead [H] are the per-head decay exp(−exp(time_decay)) and bonus exp(time_first).
 * Returns out [T][C]; S is replaced by the state after the last token.
 */
export function wkvSequenceParallel(
  S: WkvState,
  r: Float64Array[],
  k: Float64Array[],
  v: Float64Array[],
  wHead: Float64Array,
  uHead: Float64Array,
): Float64Array[] {
  const T = r.length;
  const H = S.length;
  const N = S[0]!.length;
  const out: Float64Array[] = [];
  for (let t = 0; t < T; t++) out.push(new Float64Array(H * N));

  for (let h = 0; h < H; h++) {
    const w = wHead[h]!;
    const u = uHead[h]!;
    const base = h * N; // first channel of head h

    // A = (r kᵀ)∘W, with W[t][τ] = w^(t−τ−1) (τ < t), u (τ = t), 0 (τ > t)   [T][T]
    const A: number[][] = [];
    for (let t = 0; t < T; t++) {
      A.push(new Array<number>(T).fill(0));
      for (let tau = 0; tau <= t; tau++) {
        let rk = 0; // r_t·k_τ within head h
        for (let i = 0; i < N; i++) rk += r[t]![base + i]! * k[tau]![base + i]!;
        A[t]![tau] = rk * (tau < t ? w ** (t - tau - 1) : u);
      }
    }

    for (let t = 0; t < T; t++) {
      // wb[t] = w^t: how much of the incoming state survives to step t
      const wb = w ** t;
      for (let j = 0; j < N; j++) {
        // (A v)[t][j] = Σ_τ A[t][τ]·v_τ[j]
        let y = 0;
        for (let tau = 0; tau <= t; tau++) y += A[t]![tau]! * v[tau]![base + j]!;
        // (r S)[t][j] = Σ_i r_t[i]·S[i][j]
        let rS = 0;
        for (let i = 0; i < N; i++) rS += r[t]![base + i]! * S[h]![i]![j]!;
        // out = A v + (r S)∘wb
        out[t]![base + j]! = y + rS * wb;
      }
    }

    // S ← ws·S + (k∘wk) v  with ws = w^T, wk[τ] = w^(T−1−τ)
    const ws = w ** T;
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < N; j++) {
        let kv = 0;
        for (let tau = 0; tau < T; tau++) kv += k[tau]![base + i]! * w ** (T - 1 - tau) * v[tau]![base + j]!;
        S[h]![i]![j]! = ws * S[h]![i]![j]! + kv;
      }
    }
  }
  return out;
}
