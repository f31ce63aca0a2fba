// `rwkv/backends`: where the model runs, below the main API's createBackend and the `strategy`
// load option. The Backend interface (for writing a backend), the TypeScript and WASM backends,
// and strategy strings ("wasm bf16 *8 -> ts fp32"; docs/strategy.md) parsed, allocated and
// opened. test/architecture/exports.test.ts lists every name.

export {
  OPTIONAL_OPS,
  type Backend,
  type BackendCaps,
  type BinaryOp,
  type OptionalOp,
  type Tensor,
  type UnaryOp,
  type WeightStorage,
} from '../backends/backend.ts';
export { BACKEND_NAMES, selectBackend } from '../backends/select.ts';
export { TsBackend } from '../backends/ts/ts-backend.ts';
export { WasmBackend, type WasmBackendOptions, type WasmCaps } from '../backends/wasm/wasm-backend.ts';
export { sharedMemoryAvailable } from '../backends/wasm/module.ts';
export {
  STRATEGY_DEVICES,
  STRATEGY_DTYPES,
  STRATEGY_GRAMMAR,
  allocateLayers,
  closeStrategy,
  openStrategy,
  parseStrategy,
  placeLayers,
  type OpenOptions,
  type OpenedStrategy,
  type Strategy,
  type StrategyDType,
  type StrategyDevice,
  type StrategySegment,
} from '../strategy.ts';
