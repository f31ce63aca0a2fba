// Numeric constants of the RWKV models, each named once with where it comes from.
// Line numbers refer to the official `rwkv` pip package 0.8.32, rwkv/model.py (BlinkDL/ChatRWKV).

/** LayerNorm eps: torch's default for F.layer_norm (ln0, ln1, ln2, ln_out), every version. */
export const LN_EPS = 1e-5;

/**
 * GroupNorm eps of `att.ln_x` in v5, v6 and v7: 64e-5 = 1e-5 · 8². Training applied
 * ln_x to x / head_size_divisor (= 8) with eps 1e-5; inference folds the /8 into the eps
 * (model.py `F.group_norm(..., eps = 64e-5)`). rwkv.cpp uses 1e-5 for v5 (a known deviation).
 */
export const GN_EPS = 64e-5;

/** eps of the per-head L2 normalisation of κ (v7 `kk`): torch F.normalize default 1e-12. */
export const L2_EPS = 1e-12;

/**
 * v7 decay scale: w = exp(−e^−0.5 · σ(z)); the official code writes the literal 0.606531
 * (= e^−0.5 rounded), RWKV-LM training code writes `-math.exp(-0.5)`. We use the exact value;
 * the difference (2e-7 relative) is far below fp32 noise of the logits.
 */
export const DECAY_SCALE = Math.exp(-0.5);

/**
 * v4's initial running-max exponent `pp` of the WKV state (model.py L1448-1471 state init,
 * `state[i*5+4] = ... - 1e30`; rwkv.cpp rwkv_init_state uses -1e30 too). Any value far below
 * every real exponent works; the aa/bb numerator and denominator start at 0.
 */
export const V4_PP_INIT = -1e30;
