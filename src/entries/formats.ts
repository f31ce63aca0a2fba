// `rwkv/formats`: model and state files below the main API. Read any checkpoint into tensors in
// the original layout (.pth, .safetensors, rwkv.cpp .bin, GGUF; from a path or from bytes), tell
// its version and sizes, merge a LoRA, write it back in another format, and convert states between
// layouts. The main entry's RwkvModel.load, convertModel and encodeStateFile / decodeStateFile are
// built on these. test/architecture/exports.test.ts lists every name.

export type { Checkpoint, HostTensor } from '../tensor/tensor.ts';
export { FileSource, MemorySource, type ByteSource } from '../io/source.ts';
export {
  FORMATS,
  loadCheckpoint,
  parseCheckpoint,
  type CheckpointFormat,
  type FileFormatName,
  type LoadedCheckpoint,
} from '../io/load.ts';
export { WRITERS, writerFor } from '../convert/writers.ts';
export type { CheckpointWriter, FloatDType, WriteOptions } from '../io/write.ts';
export { VERSIONS, detectConfig, detectVersion } from '../model/config.ts';
export { mergeLora } from '../model/lora.ts';
// the rwkv-js state file (format 'rwkv-js'), and the state layouts of the official package,
// rwkv.cpp and web-rwkv (the main entry's encodeStateFile / decodeStateFile use them)
export { STATE_FORMAT_VERSION, STATE_MAGIC, decodeState, encodeState } from '../state/state-file.ts';
export { STATE_FILE_FORMATS, STATE_LAYOUT_NAMES, exportState, importState, type StateLayoutName } from '../state/state-interop.ts';
