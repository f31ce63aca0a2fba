// placeholder: filled by the WASM backend work
export function _wkv_placeholder(): i32 { return 0; }
