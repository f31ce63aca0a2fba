// Public API.
export { RwkvError, type RwkvErrorCode } from './errors.ts';
export { RwkvModel, type ForwardOptions, type ForwardResult, type LoadOptions } from './model/model.ts';
export { RwkvState, stateLayout, type StateEntry } from './model/state.ts';
export { detectConfig, detectVersion, VERSIONS, type ModelConfig, type RwkvVersion } from './model/config.ts';
export { prepareWeights, type RuntimeWeights } from './model/prepare.ts';
export { loadCheckpoint, parseCheckpoint, FORMATS, type FileFormatName, type LoadedCheckpoint } from './io/load.ts';
export type { Checkpoint, HostTensor } from './io/tensor.ts';
export type { Backend, BackendCaps, Tensor, UnaryOp, BinaryOp } from './backends/backend.ts';
export { TsBackend } from './backends/ts/ts-backend.ts';
export { selectBackend, createBackend, BACKEND_NAMES, type BackendName, type CreateBackendOptions } from './backends/select.ts';
export { convertModel, type ConvertOptions, type ConvertResult } from './convert.ts';
export { mergeLora } from './model/lora.ts';
export { encodeState, decodeState, STATE_MAGIC, STATE_FORMAT_VERSION } from './io/state-file.ts';
export {
  exportState, importState, encodeStateFile, decodeStateFile, detectStateFileFormat,
  STATE_FILE_FORMATS, STATE_LAYOUT_NAMES, type StateFileFormat, type StateLayoutName,
} from './io/state-interop.ts';
export { WRITERS, writerFor } from './io/writers.ts';
export type { CheckpointWriter, WriteOptions, FloatDType } from './io/write.ts';
export { FileSource, MemorySource, type ByteSource } from './io/source.ts';
export * from './hub/index.ts';
export * from './tokenizer/index.ts';
export * from './generate/index.ts';
export {
  parseStrategy, allocateLayers, placeLayers, openStrategy, closeStrategy, STRATEGY_GRAMMAR, STRATEGY_DEVICES, STRATEGY_DTYPES,
  type Strategy, type StrategySegment, type OpenedStrategy, type StrategyDevice, type StrategyDType,
} from './strategy.ts';
