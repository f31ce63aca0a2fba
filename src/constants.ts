// The model constants are defined once, with their provenance, in reference/common/constants.ts
// (the reference imports nothing from src/, so src/ takes them from there).
export { DECAY_SCALE, GN_EPS, L2_EPS, LN_EPS, V4_PP_INIT } from '../reference/common/constants.ts';
