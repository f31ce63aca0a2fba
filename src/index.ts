// The main entry (`rwkv`, for Node, Deno and Bun): everything in api.ts, plus the three things
// that need files by path — the tokenizer found next to a model, the converter, and Hub
// downloads. The browser entry is browser.ts; the rest of the library is in the subpaths of
// src/entries/. test/architecture/exports.test.ts lists every name.

export * from './api.ts';
export { loadTokenizer, type TokenizerOptions } from './tokenizer/select.ts';
export { convertModel, type ConvertOptions, type ConvertResult } from './convert/convert.ts';
export { resolveModelFile, type DownloadProgress, type ResolveModelOptions } from './hub/download.ts';
export type { HubRef } from './hub/ref.ts';
