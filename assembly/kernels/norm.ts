// placeholder: filled by the WASM backend work
export function _norm_placeholder(): i32 { return 0; }
