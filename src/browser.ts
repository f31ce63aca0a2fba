// Public API of the browser build (`rwkv/browser`, bundled by scripts/build-browser.mjs into
// dist/browser/rwkv.js, one ES module with the WASM kernels inside): everything in api.ts — the
// same library as the main entry without what needs files by path or native code. Models come as
// bytes (RwkvModel.fromBytes, parseCheckpoint), the World vocabulary as text
// (WorldTokenizer.fromFileText), the 20B tokenizer as JSON (NeoxTokenizer.fromJson). No Hub
// downloads, converters or CUDA. docs/browser.md tells how to serve it.

export * from './api.ts';
export { WasmBackend, type WasmBackendOptions, type WasmCaps } from './backends/wasm/wasm-backend.ts';
export { sharedMemoryAvailable } from './backends/wasm/module.ts';
