// RWKV-6 WKV: the RWKV-5.2 matrix state, but the decay w changes with every token.
// Mirrors the WKV lines of rwkv/model.py `att_one_v6_0` (wkvStep) and the per-token loop of
// `att_seq_v6_0` (wkvSequence), model.py L1263-1340.
//
// Dimensions: T tokens, H heads, N head size, C = H·N channels.
// Per-channel vectors r, k, v, w, u are [C] = [H][N] flattened: channel h·N + i.
// State S[h][i][j] is [H][N][N]: head h, key channel i, value channel j (the official layout).
//
// Per head, with a = k ⊗ v (a[i][j] = k[i]·v[j]):
//   out[j] = Σ_i r[i] · (u[i]·a[i][j] + S[i][j])        i.e. out = r @ (u∘a + S)
//   S[i][j] ← a[i][j] + w[i]·S[i][j]                      i.e. S   = a + w∘S
// w (this token's decay, in (0,1)) and u (time_faaaa, the bonus) are indexed by the key channel i.

// One token is exactly RWKV-5's step (the decay is simply this token's own): ../v5/wkv.ts.
import { wkvStep, type WkvState } from '../v5/wkv.ts';

export { wkvStep, type WkvState };

/** T tokens: wkvStep folded over t, each token with its own decay. r, k, v, w [T][C]; u [C]. */
export function wkvSequence(
  S: WkvState,
  r: Float64Array[],
  k: Float64Array[],
  v: Float64Array[],
  w: Float64Array[],
  u: Float64Array,
): Float64Array[] {
  const out: Float64Array[] = [];
  for (let t = 0; t < r.length; t++) out.push(wkvStep(S, r[t]!, k[t]!, v[t]!, w[t]!, u));
  return out;
}
