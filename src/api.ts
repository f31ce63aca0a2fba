// The API every platform has: what the Node/Deno/Bun entry (index.ts) and the browser entry
// (browser.ts) both export. Nothing here reads files by path or loads native code at import.

export { RwkvError, type RwkvErrorCode } from './errors.ts';
export { RwkvModel, type ForwardOptions, type ForwardResult, type LoadOptions } from './model/model.ts';
export { RwkvState, stateLayout, type StateEntry } from './model/state.ts';
export { detectConfig, detectVersion, VERSIONS, type ModelConfig, type RwkvVersion } from './model/config.ts';
export { prepareWeights, type RuntimeWeights } from './model/prepare.ts';
export { parseCheckpoint, FORMATS, type FileFormatName, type LoadedCheckpoint } from './io/load.ts';
export type { Checkpoint, HostTensor } from './tensor/tensor.ts';
export type { Backend, BackendCaps, Tensor, UnaryOp, BinaryOp } from './backends/backend.ts';
export { TsBackend } from './backends/ts/ts-backend.ts';
export { selectBackend, createBackend, BACKEND_NAMES, type BackendName, type CreateBackendOptions } from './backends/select.ts';
export { mergeLora } from './model/lora.ts';
export { encodeState, decodeState, STATE_MAGIC, STATE_FORMAT_VERSION } from './state/state-file.ts';
export {
  exportState,
  importState,
  encodeStateFile,
  decodeStateFile,
  detectStateFileFormat,
  STATE_FILE_FORMATS,
  STATE_LAYOUT_NAMES,
  type StateFileFormat,
  type StateLayoutName,
} from './state/state-interop.ts';
export { MemorySource, type ByteSource } from './io/source.ts';
export { type Tokenizer, type TokenizerKind, Utf8StreamDecoder } from './tokenizer/tokenizer.ts';
export {
  END_OF_TEXT,
  WORLD_VOCAB_FILE,
  WORLD_VOCAB_SIZE,
  WorldTokenizer,
  type WorldTokenizerOptions,
  parsePythonLiteral,
  parseWorldVocab,
} from './tokenizer/world.ts';
export { BYTES_VOCAB_SIZE, BytesTokenizer } from './tokenizer/bytes.ts';
export { NEOX_TOKENIZER_FILE, NEOX_VOCAB_SIZE, NeoxTokenizer } from './tokenizer/neox.ts';
export * from './generate/index.ts';
export {
  parseStrategy,
  allocateLayers,
  placeLayers,
  openStrategy,
  closeStrategy,
  STRATEGY_GRAMMAR,
  STRATEGY_DEVICES,
  STRATEGY_DTYPES,
  type Strategy,
  type StrategySegment,
  type OpenedStrategy,
  type StrategyDevice,
  type StrategyDType,
} from './strategy.ts';
