// The model constants are defined once, with their provenance, in reference/common/constants.ts
// (the reference imports nothing from src/, so src/ takes them from there). So are the version
// names (reference/common/model.ts): the file readers (src/io) and the model's version registry
// (src/model/registry.ts) name versions alike.
export { DECAY_SCALE, GN_EPS, L2_EPS, LN_EPS, V4_PP_INIT } from '../reference/common/constants.ts';
export type { RefVersion as RwkvVersion } from '../reference/common/model.ts';
