// RWKV-4 WKV: a per-channel, exponentially decaying average of the values v weighted by e^k,
// kept in the official "max trick" form so that nothing overflows.
// Mirrors the WKV lines of rwkv/model.py `att_one` (one token) and the `for t in range(T)` loop
// of `att_seq` (model.py L1034-1086).
//
// Dimensions: T tokens, C channels (the attention width A = C in every released model).
// Every channel c runs its own scalar recurrence; nothing mixes channels here.
//
// The plain form, with w = −exp(time_decay) < 0 and u = time_first (the bonus of the current token):
//   wkv_t = (Σ_{i<t} e^{(t−1−i)·w + k_i} · v_i + e^{u + k_t} · v_t)
//         / (Σ_{i<t} e^{(t−1−i)·w + k_i}       + e^{u + k_t})
// The numerator and denominator sums are the state. e^{k} overflows for large k, so the state is
// stored scaled by e^{−pp}, where pp is the largest exponent seen so far:
//   aa = numerator · e^{−pp},  bb = denominator · e^{−pp},  pp = running max exponent.
// A fresh state has aa = bb = 0 and pp = V4_PP_INIT (−1e30, "minus infinity").

/** WKV state of one layer, each [C]; the official state list entries 5i+1, 5i+2, 5i+3. */
export interface WkvState {
  aa: Float64Array; // [C] numerator   · e^{−pp}
  bb: Float64Array; // [C] denominator · e^{−pp}
  pp: Float64Array; // [C] running max exponent
}

/**
 * One token. w [C] is the decay −exp(time_decay), u [C] the bonus time_first, k and v [C] this
 * token's key and value. Returns wkv [C] and advances (aa, bb, pp) in place.
 */
export function wkvStep(s: WkvState, w: Float64Array, u: Float64Array, k: Float64Array, v: Float64Array): Float64Array {
  const C = k.length;
  const wkv = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    // --- output: the past (aa, bb at scale e^pp) plus the current token with its bonus u ---
    // ww = u + k
    let ww = u[c]! + k[c]!;
    // p = max(pp, ww): the common scale of the two terms
    let p = Math.max(s.pp[c]!, ww);
    // e1 = exp(pp − p) ; e2 = exp(ww − p)
    let e1 = Math.exp(s.pp[c]! - p);
    let e2 = Math.exp(ww - p);
    // wkv = (e1·aa + e2·v) / (e1·bb + e2)
    wkv[c] = (e1 * s.aa[c]! + e2 * v[c]!) / (e1 * s.bb[c]! + e2);

    // --- update: decay the past by e^w, add the current token (no bonus) ---
    // ww = w + pp
    ww = w[c]! + s.pp[c]!;
    // p = max(ww, k)
    p = Math.max(ww, k[c]!);
    // e1 = exp(ww − p) ; e2 = exp(k − p)
    e1 = Math.exp(ww - p);
    e2 = Math.exp(k[c]! - p);
    // aa = e1·aa + e2·v ; bb = e1·bb + e2 ; pp = p
    s.aa[c] = e1 * s.aa[c]! + e2 * v[c]!;
    s.bb[c] = e1 * s.bb[c]! + e2;
    s.pp[c] = p;
  }
  return wkv;
}

/**
 * T tokens: the same recurrence folded over t, as `att_seq` loops it. k and v are [T][C];
 * returns wkv [T][C]; the state ends at the last token.
 */
export function wkvSequence(s: WkvState, w: Float64Array, u: Float64Array, k: Float64Array[], v: Float64Array[]): Float64Array[] {
  const out: Float64Array[] = [];
  for (let t = 0; t < k.length; t++) out.push(wkvStep(s, w, u, k[t]!, v[t]!));
  return out;
}
