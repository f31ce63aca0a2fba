// Model files → Checkpoint. Each format is a `CheckpointFormat` in FORMATS; the first whose
// `sniff` accepts the file's first bytes reads it. Add a format by adding an entry here.

import { stat } from '../platform/files.ts';
import { RwkvError } from '../errors.ts';
import { parseGguf } from './gguf.ts';
import { parsePth } from './pth.ts';
import { parseSafetensors } from './safetensors.ts';
import { parseRwkvCppBin, RWKV_CPP_MAGIC } from './rwkvcpp.ts';
import { type ByteSource, FileSource, MemorySource } from './source.ts';
import type { Checkpoint } from '../tensor/tensor.ts';

export type FileFormatName = 'safetensors' | 'rwkv.cpp' | 'pth' | 'gguf';

export interface CheckpointFormat {
  readonly name: FileFormatName;
  /** True when the first bytes (up to 16) look like this format. */
  sniff(head: Uint8Array): boolean;
  /** Parse (tensor data stays in the source until read), or undefined when not readable yet. */
  readonly parse: ((src: ByteSource, file: string) => Checkpoint) | undefined;
}

const u32le = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

export const FORMATS: readonly CheckpointFormat[] = [
  {
    name: 'rwkv.cpp',
    sniff: (h) => h.length >= 4 && u32le(h, 0) === RWKV_CPP_MAGIC,
    parse: (src, file) => parseRwkvCppBin(src, file),
  },
  {
    name: 'gguf',
    sniff: (h) => h.length >= 4 && String.fromCharCode(h[0]!, h[1]!, h[2]!, h[3]!) === 'GGUF',
    parse: parseGguf,
  },
  {
    name: 'pth',
    sniff: (h) => h.length >= 4 && h[0] === 0x50 && h[1] === 0x4b && h[2] === 0x03 && h[3] === 0x04,
    parse: (src, file) => parsePth(src, file),
  },
  {
    // u64 LE header length, then the JSON header, which starts with '{'
    name: 'safetensors',
    sniff: (h) => h.length >= 9 && h[8] === 0x7b && h[6] === 0 && h[7] === 0,
    parse: parseSafetensors,
  },
];

export interface LoadedCheckpoint {
  readonly file: string;
  readonly format: FileFormatName;
  readonly checkpoint: Checkpoint;
}

/** The model files FORMATS reads, for messages. */
const MODEL_FILES = 'a model file: .pth (zip), .safetensors, rwkv.cpp .bin or GGUF';

/** Read a checkpoint from bytes in memory or any ByteSource. */
export function parseCheckpoint(input: Uint8Array | ByteSource, file?: string): LoadedCheckpoint {
  const src = input instanceof Uint8Array ? new MemorySource(input, file) : input;
  file ??= src.name;
  if (src.size === 0) {
    throw new RwkvError('FILE_FORMAT', 'the file is empty (an interrupted download or copy?)', { file, expected: MODEL_FILES });
  }
  const head = src.read(0, Math.min(16, src.size));
  const format = FORMATS.find((f) => f.sniff(head));
  if (format === undefined) {
    throw new RwkvError('FILE_FORMAT', 'not a model file this library knows', {
      file,
      expected: MODEL_FILES,
      actual: `first bytes ${[...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`,
    });
  }
  if (format.parse === undefined) {
    throw new RwkvError('UNSUPPORTED_FORMAT', `${format.name} files are recognised but cannot be read yet`, {
      file,
      hint: 'convert the model to .safetensors, or use an rwkv.cpp .bin file',
    });
  }
  return { file, format: format.name, checkpoint: format.parse(src, file) };
}

/**
 * Open a model file: the header is parsed now, tensor bytes are read from the file when each
 * tensor's `data` is accessed.
 */
export async function loadCheckpoint(file: string): Promise<LoadedCheckpoint> {
  let src: FileSource;
  try {
    const s = await stat(file);
    if (!s.isFile()) throw new RwkvError('FILE_NOT_FOUND', 'not a regular file', { file });
    src = new FileSource(file);
  } catch (e) {
    if (e instanceof RwkvError) throw e;
    throw new RwkvError('FILE_NOT_FOUND', `cannot read the model file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, {
      file,
    });
  }
  return parseCheckpoint(src, file);
}
