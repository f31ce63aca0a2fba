// WASM SIMD kernels (AssemblyScript). Empty build target for now: the WASM backend issue fills
// this with kernels that mirror src/backends/ts/kernels/ name for name (see ../STYLE notes in
// README "How the pieces fit"). Kept buildable so `npm run build:wasm` works from day one.

/** Version of the kernel ABI; the JS side refuses a binary whose version it does not know. */
export function abiVersion(): i32 {
  return 0;
}
