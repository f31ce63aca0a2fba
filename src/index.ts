// Public API (Node, Deno, Bun): everything in api.ts, plus what reads and writes files by path —
// the Hub, converters and writers, loaders and tokenizer lookup. The browser entry is browser.ts.
export * from './api.ts';
export { loadCheckpoint } from './io/load.ts';
export { FileSource } from './io/source.ts';
export { convertModel, type ConvertOptions, type ConvertResult } from './convert/convert.ts';
export { WRITERS, writerFor } from './convert/writers.ts';
export type { CheckpointWriter, WriteOptions, FloatDType } from './io/write.ts';
export * from './hub/index.ts';
export {
  NEOX_TOKENIZER_ENV,
  NEOX_TOKENIZER_URLS,
  TOKENIZER_BY_VOCAB_SIZE,
  type TokenizerOptions,
  WORLD_VOCAB_ENV,
  WORLD_VOCAB_URLS,
  ggufTokenizer,
  loadTokenizer,
  unescapeRwkvToken,
} from './tokenizer/select.ts';
