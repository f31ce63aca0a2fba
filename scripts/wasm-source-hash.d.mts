/** Paths (relative to `root`, '/'-separated, sorted) of the files the WASM binary is built from. */
export function wasmSourceFiles(root: string): string[];
/** sha256 (hex) of the WASM kernels' sources under `root` (the repository root). */
export function wasmSourceSha256(root: string): string;
