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
export { selectBackend, BACKEND_NAMES, type BackendName } from './backends/select.ts';
