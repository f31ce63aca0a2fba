// Public API of the browser build (`rwkv/browser`, bundled by scripts/build-browser.mjs into
// dist/browser/rwkv.js, one ES module with the WASM kernels inside): everything in api.ts — the
// main entry's names without the three that need files by path (loadTokenizer, convertModel,
// resolveModelFile) — plus the WASM backend itself. Models come as bytes (RwkvModel.fromBytes),
// the World vocabulary as text (WorldTokenizer.fromFileText), the 20B tokenizer as JSON
// (NeoxTokenizer.fromJson). No Hub downloads, converters or CUDA, and no subpaths: the
// `rwkv/formats`, `rwkv/generate`, … entries are for Node, Deno and Bun. docs/browser.md tells
// how to serve it; test/architecture/exports.test.ts lists every name.

export * from './api.ts';
export { WasmBackend, type WasmBackendOptions, type WasmCaps } from './backends/wasm/wasm-backend.ts';
export { sharedMemoryAvailable } from './backends/wasm/module.ts';
