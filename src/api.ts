// The public API every platform has: what the Node/Deno/Bun entry (index.ts, `rwkv`) and the
// browser entry (browser.ts, `rwkv/browser`) both export. Nothing here reads files by path or
// loads native code at import. These are the names a user needs to load a model, run it, keep
// its state, tokenize, generate, chat and score text; everything else has a subpath of its own
// (src/entries/: `rwkv/formats`, `rwkv/tokenizer`, `rwkv/generate`, `rwkv/hub`, `rwkv/backends`).
// test/architecture/exports.test.ts lists every name: an addition here is a deliberate change.

// errors (docs/errors.md: every code)
export { ERROR_CODES, RwkvError, type RwkvErrorCode, type RwkvErrorDetails } from './errors.ts';
// the model and its state
export { RwkvModel, type ForwardOptions, type ForwardResult } from './model/model.ts';
export type { LoadOptions } from './model/load.ts';
export { RwkvState } from './model/state.ts';
export type { ModelConfig, RwkvVersion } from './model/config.ts';
// backends (a name, or an instance for LoadOptions.backend)
export { createBackend, type BackendName, type CreateBackendOptions } from './backends/select.ts';
export type { Backend } from './backends/backend.ts';
// state files: state.toArray() ⇄ bytes, in every supported format
export {
  decodeStateFile,
  detectStateFileFormat,
  encodeStateFile,
  type EncodeStateOptions,
  type StateFileFormat,
} from './state/state-interop.ts';
// tokenizers
export type { Tokenizer, TokenizerKind } from './tokenizer/tokenizer.ts';
export { WorldTokenizer, type WorldTokenizerOptions } from './tokenizer/world.ts';
export { NeoxTokenizer } from './tokenizer/neox.ts';
export { BytesTokenizer } from './tokenizer/bytes.ts';
// generation, chat, evaluation (docs/generation.md)
export {
  generate,
  generateText,
  type GenerateOptions,
  type GenerateResult,
  type GeneratedPiece,
  type Generation,
  type StopReason,
} from './generate/generate.ts';
export type { PenaltyOptions, SamplingOptions } from './generate/sampler.ts';
export { ChatSession, type ChatOptions, type ReplyOptions } from './generate/chat.ts';
export {
  lambada,
  parseLambadaJsonl,
  perplexity,
  type LambadaDocument,
  type LambadaResult,
  type PerplexityOptions,
  type PerplexityResult,
} from './generate/perplexity.ts';
